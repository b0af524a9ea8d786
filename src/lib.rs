//! gatebot: a GitHub App that puts human verification gates between a pull
//! request and production.
//!
//! The layers, bottom to top, each a folder; a layer uses only itself and
//! the layers below (`scripts/import-graph.py` checks it):
//!
//! * `core`: pure — signatures, events, commands, config, the gate machine;
//! * `adapters`: GitHub, the store, AWS, secrets, telemetry;
//! * `app`: the service that ties them together, and the reconciler;
//! * `entry`: the HTTP router, the Lambda handler, the CLI.
//!
//! `docs/ARCHITECTURE.md` walks through them. The public surface is the
//! binary's entry point, the application and its router; the tests,
//! benchmarks and fuzz targets reach further through [`testing`].
#![warn(unreachable_pub)]

mod adapters;
mod app;
mod core;
mod entry;

pub use crate::app::App;
pub use crate::entry::http::{HttpState, router};
pub use crate::entry::main;

/// What the tests, benchmarks and fuzz targets use of gatebot's insides,
/// by the paths they use it by. Not an API.
#[doc(hidden)]
pub mod testing {
    pub mod app {
        pub use crate::app::{App, EFFECTS_BUDGET};
        pub mod refusals {
            pub use crate::app::refusals::{REFUSAL_TTL, Refusals};
        }
    }
    pub mod aws {
        pub use crate::adapters::aws::http_client;
    }
    pub mod cli {
        pub use crate::entry::cli::{Cli, run};
    }
    pub mod commands {
        pub use crate::core::gate::commands::{Command, parse_comment};
    }
    pub mod config {
        pub use crate::core::config::{Entry, Pipeline, RepoConfig, parse};
    }
    pub mod domain {
        pub use crate::core::domain::{
            DispatchId, Environment, Person, PrKey, RepoName, Sha, UserId,
        };
    }
    pub mod events {
        /// The delivery parser, its result opaque: the benchmarks only
        /// time it.
        pub fn parse<'a>(
            event: &str,
            body: &'a [u8],
        ) -> Result<impl std::fmt::Debug + 'a, impl std::fmt::Debug> {
            crate::core::events::parse(event, body)
        }
    }
    pub mod fuzzing {
        pub use crate::entry::fuzzing::{commands, config, delivery, events, signature};
    }
    pub mod gate {
        pub use crate::core::gate::{
            Action, Actor, Approval, CLOCK_SKEW, Context, Deploy, DeployKind, DeployStatus,
            EnvChange, EnvRecord, Environments, Fact, GateState, Grant, Hold, Occupant, Stage,
            apply, dispatch_blocker, summary,
        };
        pub mod ci {
            pub use crate::core::gate::ci::CiStatus;
        }
    }
    pub mod github {
        pub use crate::adapters::github::{GitHub, RepoRef};
        pub mod dry_run {
            pub use crate::adapters::github::dry_run::DryRunGitHub;
        }
        pub mod octo {
            pub use crate::adapters::github::octo::OctoGitHub;
        }
        pub mod retry {
            pub use crate::adapters::github::retry::ATTEMPTS;
        }
    }
    pub mod http {
        pub use crate::entry::http::{HttpState, router};
    }
    pub mod lambda {
        pub use crate::entry::lambda::{Invocation, LambdaApp, handle, run};
    }
    pub mod reconcile {
        pub use crate::app::reconcile::{Report, run, run_once};
    }
    pub mod secrets {
        pub use crate::adapters::secrets::{
            AppCredentials, SecretSource, SecretsError, SecretsManagerSource, StaticSecrets,
        };
    }
    pub mod settings {
        pub use crate::entry::settings::{log_format, log_level};
    }
    pub mod signature {
        pub use crate::core::signature::{WebhookSecrets, sign_with};
    }
    pub mod store {
        pub use crate::adapters::store::{
            AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GATE_RECORD_SCHEMA,
            GateRecord, JudgedOn, MAX_PENDING, PendingAction, Store, StoreError, TransitionSaved,
            TransitionWrite, Versioned, rollback_target,
        };
        pub mod dynamo {
            pub use crate::adapters::store::dynamo::{DynamoStore, local_client};
        }
        pub mod sqlite {
            pub use crate::adapters::store::sqlite::SqliteStore;
        }
    }
    pub mod telemetry {
        pub use crate::adapters::telemetry::{init_logging, metrics};
    }
}
