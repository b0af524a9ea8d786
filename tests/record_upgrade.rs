//! Gate records as earlier versions of gatebot stored them keep working:
//! the JSON in `tests/fixtures/records/` was written by the version that
//! introduced each layout (`gate-v1-*`: before the record carried a
//! `schema`), mid-pipeline. Each is put into a real store as raw stored
//! text, loaded, and carried on through the gate machine; a record of a
//! newer layout than this version knows is refused, never read in part.

use std::sync::Arc;

use gatebot::commands::Command;
use gatebot::config;
use gatebot::domain::{PrKey, RepoName};
use gatebot::gate::machine::{Actor, Fact, Policy, apply};
use gatebot::gate::{Action, Stage};
use gatebot::store::sqlite::SqliteStore;
use gatebot::store::{GATE_RECORD_SCHEMA, GateRecord, Store, StoreError};

/// The config the fixtures were written under.
const CONFIG: &str = "workflows: {verify: smoke.yml}\napprovals: {prod: 2}\n";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/records/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn key() -> PrKey {
    PrKey {
        repo: RepoName::parse("acme/widgets").expect("repo"),
        number: 42,
    }
}

/// Where the raw stored text is written.
enum Raw {
    Sqlite(std::path::PathBuf),
    Dynamo {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

impl Raw {
    /// Replaces the stored text of PR 42's record, as an older gatebot
    /// left it.
    async fn put(&self, text: &str) {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let n = conn
                    .execute(
                        "UPDATE gates SET data = ?1 WHERE repo = 'acme/widgets' AND pr = 42",
                        [text],
                    )
                    .expect("update");
                assert_eq!(n, 1, "one record replaced");
            }
            Raw::Dynamo { client, table } => {
                use aws_sdk_dynamodb::types::AttributeValue;
                client
                    .update_item()
                    .table_name(table)
                    .key("pk", AttributeValue::S("GATE#acme/widgets#42".into()))
                    .key("sk", AttributeValue::S("GATE".into()))
                    .update_expression("SET #d = :d")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#d", "data")
                    .expression_attribute_values(":d", AttributeValue::S(text.into()))
                    .send()
                    .await
                    .expect("update the item");
            }
        }
    }
}

async fn sqlite() -> (Arc<dyn Store>, Raw, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gatebot.db");
    let store = SqliteStore::open(&path).expect("sqlite");
    (Arc::new(store), Raw::Sqlite(path), dir)
}

async fn dynamodb(name: &str) -> (Arc<dyn Store>, Raw) {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
        "DYNAMODB_TEST_ENDPOINT is not set: these tests need a DynamoDB-compatible server; `make test` starts one (moto)",
    );
    let table = format!("gatebot-upgrade-{}-{name}", std::process::id());
    let store = gatebot::store::dynamo::DynamoStore::local(&endpoint, table.clone());
    store.ensure_table().await.expect("create the table");
    let client = gatebot::store::dynamo::local_client(&endpoint);
    (Arc::new(store), Raw::Dynamo { client, table })
}

/// Puts fixture `name` into `store` as stored text, loads it, checks it
/// reads as `stage`, and carries it on with `next` (which must be
/// accepted and change it), saving under the loaded version.
async fn carries_on(store: Arc<dyn Store>, raw: &Raw, name: &str, stage: Stage, next: Command) {
    let text = fixture(name);
    assert!(
        !text.contains("\"schema\""),
        "{name} predates the schema field"
    );
    let expected = GateRecord::decode(&text).expect("the fixture decodes");
    // The row or item, with its indexes, as that version created it.
    store.save_gate(&expected, None).await.expect("create");
    raw.put(&text).await;

    let loaded = store.load_gate(&key()).await.expect("load").expect("found");
    assert_eq!(loaded.value, expected, "{name} loads unchanged");
    assert_eq!(loaded.value.schema, GATE_RECORD_SCHEMA);
    let cfg = config::parse(CONFIG).expect("config");
    assert_eq!(loaded.value.state.stage(&cfg.pipeline), stage, "{name}");
    let policy = Policy::new(&cfg, chrono::Utc::now());
    let fact = Fact::Command {
        comment_id: 77,
        actor: Actor {
            login: "rob".into(),
            authorized: true,
        },
        command: next,
        written_at: Some(chrono::Utc::now()),
        rollback_target: None,
    };
    let t = apply(&loaded.value.state, &fact, &policy);
    assert!(t.changed, "{name}: {}", t.note);
    let mut record = loaded.value.clone();
    record.state = t.state;
    record.enqueue(t.actions, Some("upgrade-test"));
    let v = store
        .save_gate(&record, Some(loaded.version))
        .await
        .expect("saved under the loaded version");
    let again = store.load_gate(&key()).await.expect("load").expect("found");
    assert_eq!(again.version, v);
    assert_eq!(again.value, record);
    // Written back in this version's layout.
    assert_eq!(again.value.schema, GATE_RECORD_SCHEMA);
}

async fn newer_layouts_are_refused(store: Arc<dyn Store>, raw: &Raw) {
    let text = fixture("gate-v1-staging-dispatched");
    let record = GateRecord::decode(&text).expect("decodes");
    store.save_gate(&record, None).await.expect("create");
    let newer = text.replacen(
        '{',
        &format!("{{\"schema\": {},", GATE_RECORD_SCHEMA + 1),
        1,
    );
    raw.put(&newer).await;
    match store.load_gate(&key()).await {
        Err(StoreError::NewerSchema { found, known }) => {
            assert_eq!(found, u64::from(GATE_RECORD_SCHEMA) + 1);
            assert_eq!(known, GATE_RECORD_SCHEMA);
        }
        other => panic!("a newer layout must be refused, got {other:?}"),
    }
}

macro_rules! on_both_stores {
    ($($name:ident: $fixture:expr, $stage:expr, $next:expr;)*) => {
        mod sqlite_file {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, raw, _dir) = sqlite().await;
                    carries_on(store, &raw, $fixture, $stage, $next).await;
                }
            )*
            #[tokio::test]
            async fn a_newer_layout_is_refused() {
                let (store, raw, _dir) = sqlite().await;
                newer_layouts_are_refused(store, &raw).await;
            }
        }
        mod dynamodb_moto {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, raw) = dynamodb(stringify!($name)).await;
                    carries_on(store, &raw, $fixture, $stage, $next).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_newer_layout_is_refused() {
                let (store, raw) = dynamodb("newer").await;
                newer_layouts_are_refused(store, &raw).await;
            }
        }
    };
}

on_both_stores! {
    staging_in_flight_then_held: "gate-v1-staging-dispatched", Stage::Deploying(0),
        Command::Hold { reason: Some("upgrade".into()) };
    one_approval_then_the_second: "gate-v1-waiting-for-second-approval", Stage::WaitingForEntry(1),
        approve();
    production_in_flight_then_held: "gate-v1-production-dispatched", Stage::Deploying(1),
        Command::Hold { reason: None };
}

fn approve() -> Command {
    Command::Entry {
        word: "approve".into(),
        env: gatebot::domain::Environment::production(),
        cancel: false,
    }
}

/// Layout 1's fixed fields land on the chain's stages: staging's `/lgtm`,
/// deploy and verification, production's approvals and deploy.
#[test]
fn layout_one_fields_land_on_the_two_stages() {
    let record = GateRecord::decode(&fixture("gate-v1-production-dispatched")).expect("decodes");
    let s = &record.state;
    let staging = s
        .gates(&gatebot::domain::Environment::staging())
        .expect("staging's gates");
    assert_eq!(staging.approvals.len(), 1, "the /lgtm");
    assert!(staging.deploy.is_some() && staging.verification.is_some());
    let production = s
        .gates(&gatebot::domain::Environment::production())
        .expect("production's gates");
    assert!(!production.approvals.is_empty());
    assert_eq!(
        production.deploy.as_ref().map(|d| d.dispatch_id.as_str()),
        Some("42-production-0d1a26e-3")
    );
    // Written back, it is layout 2, and reads back the same.
    let text = serde_json::to_string(&record).expect("encodes");
    assert!(text.contains("\"schema\":2"), "{text}");
    assert_eq!(GateRecord::decode(&text).expect("decodes"), record);
}

/// The second approval on a record written by the earlier version
/// dispatches production under the same dispatch-id scheme it used.
#[test]
fn the_second_approval_dispatches_with_the_old_id_scheme() {
    let record =
        GateRecord::decode(&fixture("gate-v1-waiting-for-second-approval")).expect("decodes");
    let cfg = config::parse(CONFIG).expect("config");
    let fact = Fact::Command {
        comment_id: 78,
        actor: Actor {
            login: "rob".into(),
            authorized: true,
        },
        command: approve(),
        written_at: Some(chrono::Utc::now()),
        rollback_target: None,
    };
    let t = apply(&record.state, &fact, &Policy::new(&cfg, chrono::Utc::now()));
    let ids: Vec<&str> = t
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Dispatch { deploy, .. } => Some(deploy.dispatch_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["42-production-0d1a26e-3"]);
}
