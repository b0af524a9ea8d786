//! Gate records as earlier versions of gatebot stored them keep working:
//! the JSON in `tests/fixtures/records/` was written by the version that
//! introduced each layout (`gate-v1-*`: before the record carried a
//! `schema`; `gate-v2-*`: before people were user ids), mid-pipeline. Each
//! is put into a real store as raw stored text, loaded, and carried on
//! through the gate machine; a record of a newer layout than this version
//! knows is refused, never read in part.
//!
//! Layouts 1 and 2 name people by login alone. The upgrade never guesses
//! an id for a login: what an undispatched gate rested on must be given
//! again, and nothing counts until GitHub's view of the PR gave the
//! author's id (fail closed).

use std::sync::Arc;

use gatebot::testing::commands::Command;
use gatebot::testing::config;
use gatebot::testing::domain::{PrKey, RepoName, Sha, UserId};
use gatebot::testing::gate::{Action, Stage};
use gatebot::testing::gate::{Actor, Context, Fact, Grant, apply};
use gatebot::testing::store::sqlite::SqliteStore;
use gatebot::testing::store::{GATE_RECORD_SCHEMA, GateRecord, Store, StoreError};

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
    let store = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table.clone());
    store.ensure_table().await.expect("create the table");
    let client = gatebot::testing::store::dynamo::local_client(&endpoint);
    (Arc::new(store), Raw::Dynamo { client, table })
}

/// The fixtures' head.
const HEAD: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
/// The author's user id, as GitHub's view of the PR gives it.
const ALICE: UserId = UserId(1001);

/// What every delivery about the PR starts with: GitHub's view of it,
/// which gives the author's id an upgraded record lacks.
fn observed() -> Fact {
    Fact::Observed {
        open: true,
        head: Sha::parse(HEAD).expect("sha"),
        base_ref: "main".into(),
        author_id: ALICE,
        default_branch: "main".into(),
    }
}

fn command(id: u64, user: u64, login: &str, command: Command) -> Fact {
    Fact::Command {
        comment_id: id,
        actor: Actor {
            id: UserId(user),
            login: login.into(),
            grant: Grant::Holds,
        },
        command,
        written_at: Some(chrono::Utc::now()),
        rollback_target: None,
    }
}

/// Puts fixture `name` into `store` as stored text, loads it, checks it
/// reads as `stage`, and carries it on with `next` (which must be
/// accepted and change it), saving under the loaded version.
async fn carries_on(store: Arc<dyn Store>, raw: &Raw, name: &str, stage: Stage, next: Command) {
    let text = fixture(name);
    if name.starts_with("gate-v1") {
        assert!(
            !text.contains("\"schema\""),
            "{name} predates the schema field"
        );
    } else {
        assert!(text.contains("\"schema\": 2"), "{name} is layout 2");
    }
    let expected = GateRecord::decode(&text).expect("the fixture decodes");
    // The row or item, with its indexes, as that version created it.
    store.save_gate(&expected, None).await.expect("create");
    raw.put(&text).await;

    let loaded = store.load_gate(&key()).await.expect("load").expect("found");
    assert_eq!(loaded.value, expected, "{name} loads unchanged");
    assert_eq!(loaded.value.schema, GATE_RECORD_SCHEMA);
    let cfg = config::parse(CONFIG).expect("config");
    assert_eq!(loaded.value.state.stage(&cfg.pipeline), stage, "{name}");
    let mut policy = Context::new(&cfg, chrono::Utc::now());
    policy.clock_skew = chrono::Duration::zero();
    let seen = apply(&loaded.value.state, &observed(), &policy);
    assert_eq!(seen.state.author_id, Some(ALICE), "{name}");
    let t = apply(&seen.state, &command(77, 2002, "rob", next), &policy);
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
    // The verification rested on a login; production is not dispatched,
    // so it is given again (and the first /approve too).
    one_approval_then_verified_again: "gate-v1-waiting-for-second-approval",
        Stage::WaitingForVerification(0), verify_stage();
    production_in_flight_then_held: "gate-v1-production-dispatched", Stage::Deploying(1),
        Command::Hold { reason: None };
    v2_staging_in_flight_then_held: "gate-v2-staging-dispatched", Stage::Deploying(0),
        Command::Hold { reason: Some("upgrade".into()) };
    v2_one_approval_then_verified_again: "gate-v2-waiting-for-second-approval",
        Stage::WaitingForVerification(0), verify_stage();
    v2_production_in_flight_then_held: "gate-v2-production-dispatched", Stage::Deploying(1),
        Command::Hold { reason: None };
}

fn verify_stage() -> Command {
    Command::Verify {
        word: "verify-stage".into(),
        env: gatebot::testing::domain::Environment::staging(),
        cancel: false,
    }
}

fn approve() -> Command {
    Command::Entry {
        word: "approve".into(),
        env: gatebot::testing::domain::Environment::production(),
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
        .gates(&gatebot::testing::domain::Environment::staging())
        .expect("staging's gates");
    assert_eq!(staging.approvals.len(), 1, "the /lgtm");
    assert!(staging.deploy.is_some() && staging.verification.is_some());
    let production = s
        .gates(&gatebot::testing::domain::Environment::production())
        .expect("production's gates");
    assert!(!production.approvals.is_empty());
    assert_eq!(
        production.deploy.as_ref().map(|d| d.dispatch_id.as_str()),
        Some("42-production-0d1a26e-3")
    );
    // Written back, it is this layout, and reads back the same.
    let text = serde_json::to_string(&record).expect("encodes");
    assert!(
        text.contains(&format!("\"schema\":{GATE_RECORD_SCHEMA}")),
        "{text}"
    );
    assert_eq!(GateRecord::decode(&text).expect("decodes"), record);
}

/// A record written by an earlier version dispatches under the same
/// dispatch-id scheme it used, its sequence carried on.
#[test]
fn the_next_dispatch_carries_on_the_old_id_scheme() {
    for name in [
        "gate-v1-waiting-for-second-approval",
        "gate-v2-waiting-for-second-approval",
    ] {
        let record = GateRecord::decode(&fixture(name)).expect("decodes");
        let cfg = config::parse(CONFIG).expect("config");
        let mut policy = Context::new(&cfg, chrono::Utc::now());
        policy.clock_skew = chrono::Duration::zero();
        let seen = apply(&record.state, &observed(), &policy);
        let t = apply(
            &seen.state,
            &command(78, 3003, "quinn", verify_stage()),
            &policy,
        );
        let ids: Vec<&str> = t
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Dispatch { deploy, .. } => Some(deploy.dispatch_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["42-verify-0d1a26e-3"], "{name}");
    }
}

/// The attack the upgrade must not open: a login is not a person. Facts
/// that named one alone count for no quorum after the upgrade, and until
/// the author's id is read, no one's gate command counts.
#[test]
fn approvals_by_login_alone_count_for_nothing_after_the_upgrade() {
    let record = GateRecord::decode(&fixture("gate-v2-production-dispatched")).expect("decodes");
    let prod = record
        .state
        .gates(&gatebot::testing::domain::Environment::production())
        .expect("production's gates");
    assert_eq!(prod.approvals.len(), 2, "kept, for the record");
    assert!(prod.approvals.iter().all(|a| a.id.is_none()));
    let cfg = config::parse(CONFIG).expect("config");
    let policy = Context::new(&cfg, chrono::Utc::now());
    let id = prod
        .deploy
        .as_ref()
        .expect("dispatched")
        .dispatch_id
        .clone();
    // The queued production dispatch is re-checked before it is sent (and
    // its deployment before it is approved): it no longer has a quorum.
    let why = gatebot::testing::gate::dispatch_blocker(&record.state, &id, &policy)
        .expect("blocked before the author's id is known");
    assert!(why.to_string().contains("0 of 2 /approve"), "{why}");
    let seen = apply(&record.state, &observed(), &policy);
    let why = gatebot::testing::gate::dispatch_blocker(&seen.state, &id, &policy)
        .expect("still blocked: no approval has an id");
    assert!(why.to_string().contains("0 of 2 /approve"), "{why}");
    // And before GitHub's view of the PR is read, no command counts.
    let t = apply(&record.state, &command(79, 2002, "rob", approve()), &policy);
    assert!(
        t.actions.iter().any(
            |a| matches!(a, Action::Reply { body } if body.contains("has not yet heard who pushed"))
        ),
        "{:?}",
        t.actions
    );
}
