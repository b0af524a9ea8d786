//! The gate state machine: pure functions from recorded facts to the next
//! state and the side effects to perform. No I/O happens here.
//!
//! * `state.rs` — what the store keeps about a PR (`GateState`);
//! * `facts.rs`, `actions.rs`, `refusals.rs`, `context.rs` — what goes in
//!   (a fact, judged under a context) and what comes out (side effects,
//!   and why something was refused);
//! * `status.rs` — where each stage stands, in one walk over the chain;
//! * `occupancy.rs` — what runs in each environment, shared by every PR;
//! * `merge.rs` — merging the PR once its last stage passed (`merge:`);
//! * `blocker.rs` — the one rule for every dispatch; `locks.rs` — locked
//!   environments, their holder and their queue;
//! * `machine.rs` — `apply`, routing a fact to `observe.rs`, `runs.rs` or
//!   `commands/`, each of which works on the `transition.rs` in the making
//!   and may let the chain `advance.rs`;
//! * `commands/` — each command's spec, parser and handler;
//! * `summary.rs` — the check run and `/gates`; `envs_table.rs` — `/envs`;
//!   `ci.rs` — CI's verdict.

mod actions;
mod advance;
mod blocker;
pub(crate) mod ci;
pub(crate) mod commands;
mod context;
mod envs_table;
mod facts;
mod locks;
mod machine;
mod merge;
mod observe;
pub(crate) mod occupancy;
mod refusals;
mod runs;
pub(crate) mod state;
mod status;
pub mod summary;
mod transition;

#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod properties;

pub use actions::Action;
#[cfg(test)]
pub(crate) use actions::Reaction;
pub(crate) use actions::gather;
pub use blocker::dispatch_blocker;
pub use commands::{Actor, Grant};
pub use context::{CLOCK_SKEW, Context};
pub(crate) use envs_table::envs_table;
pub use facts::Fact;
pub use machine::apply;
pub use occupancy::{EnvChange, EnvRecord, Environments, Occupant};
pub(crate) use refusals::Refusal;
pub use state::{Approval, Deploy, DeployKind, DeployStatus, GateState, Hold, Stage};
#[cfg(test)]
pub(crate) use transition::Transition;
