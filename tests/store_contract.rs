//! The store contract: one suite every `Store` implementation must pass
//! unchanged. Each backend gets a `#[tokio::test]` per contract function
//! through the `contract_tests!` macro.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use gatebot::testing::domain::{DispatchId, Environment, Person, PrKey, RepoName, Sha, UserId};
use gatebot::testing::gate::{
    Action, Deploy, DeployKind, DeployStatus, EnvChange, EnvRecord, GateState, Occupant,
};
use gatebot::testing::store::sqlite::SqliteStore;
use gatebot::testing::store::{
    AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GateRecord, JudgedOn, Store,
    StoreError, TransitionWrite, rollback_target,
};

fn repo() -> RepoName {
    RepoName::parse("acme/widgets").unwrap()
}

fn sha(c: char) -> Sha {
    Sha::parse(&c.to_string().repeat(40)).unwrap()
}

fn did(id: &str) -> DispatchId {
    DispatchId::parse(id).expect("a dispatch id")
}

fn key(n: u64) -> PrKey {
    PrKey {
        repo: repo(),
        number: n,
    }
}

fn state(n: u64, head: char) -> GateState {
    GateState::new(
        key(n),
        &Person::new(1_843_291, "alice"),
        sha(head),
        "main",
        Some(4242),
        Utc::now(),
    )
}

fn deploy(id: &str, env: Environment, head: char) -> Deploy {
    Deploy {
        dispatch_id: did(id),
        environment: env,
        kind: DeployKind::Promote,
        sha: sha(head),
        requested_by: "quinn".into(),
        at: Utc::now(),
        run_id: None,
        status: DeployStatus::Pending,
        finished_at: None,
        run_url: None,
        displaced_by: None,
    }
}

pub async fn gate_records_round_trip_with_versions(store: Arc<dyn Store>) {
    assert!(store.load_gate(&key(1)).await.unwrap().is_none());
    let mut rec = GateRecord::new(state(1, 'a'));
    rec.enqueue(vec![Action::SyncCheckRun], Some("d-1"));
    let v1 = store.save_gate(&rec, None).await.unwrap();
    let loaded = store.load_gate(&key(1)).await.unwrap().unwrap();
    assert_eq!(loaded.version, v1);
    assert_eq!(loaded.value, rec);
    rec.state.dispatch_seq += 1;
    rec.pending.clear();
    let v2 = store.save_gate(&rec, Some(v1)).await.unwrap();
    assert!(v2 > v1);
    assert_eq!(store.load_gate(&key(1)).await.unwrap().unwrap().value, rec);
}

pub async fn conditional_writes_refuse_stale_versions(store: Arc<dyn Store>) {
    let rec = GateRecord::new(state(2, 'a'));
    let v1 = store.save_gate(&rec, None).await.unwrap();
    assert!(
        matches!(store.save_gate(&rec, None).await, Err(StoreError::Conflict)),
        "create twice"
    );
    let v2 = store.save_gate(&rec, Some(v1)).await.unwrap();
    assert!(
        matches!(
            store.save_gate(&rec, Some(v1)).await,
            Err(StoreError::Conflict)
        ),
        "stale version"
    );
    assert!(
        matches!(
            store
                .save_gate(&GateRecord::new(state(3, 'a')), Some(1))
                .await,
            Err(StoreError::Conflict)
        ),
        "update of a missing record"
    );
    assert_eq!(store.load_gate(&key(2)).await.unwrap().unwrap().version, v2);
}

pub async fn concurrent_writers_one_wins_per_version(store: Arc<dyn Store>) {
    let rec = GateRecord::new(state(4, 'a'));
    let v = store.save_gate(&rec, None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, rec) = (store.clone(), rec.clone());
        tasks.push(tokio::spawn(async move {
            store.save_gate(&rec, Some(v)).await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

pub async fn begun_keys_are_exclusive_until_their_lease_ends(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let lease = Duration::from_secs(60);
    let at = |secs| t0 + chrono::Duration::seconds(secs);
    assert_eq!(
        store.begin("effect:x", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    assert_eq!(
        store.begin("effect:x", lease, t0).await.unwrap(),
        Begin::InProgress
    );
    assert_eq!(
        store.begin("effect:x", lease, at(59)).await.unwrap(),
        Begin::InProgress
    );
    assert_eq!(
        store.begin("effect:x", lease, at(61)).await.unwrap(),
        Begin::Fresh,
        "the lease ended"
    );
    assert_eq!(
        store.begin("effect:y", lease, t0).await.unwrap(),
        Begin::Fresh,
        "keys are independent"
    );
    store.release("effect:y").await.unwrap();
    assert_eq!(
        store.begin("effect:y", lease, t0).await.unwrap(),
        Begin::Fresh,
        "released"
    );
}

pub async fn concurrent_beginners_have_one_winner(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .begin("delivery:race", Duration::from_secs(60), Utc::now())
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += (t.await.unwrap() == Begin::Fresh) as usize;
    }
    assert_eq!(fresh, 1);
}

pub async fn pending_and_head_indexes(store: Arc<dyn Store>) {
    let mut with = GateRecord::new(state(5, 'b'));
    with.enqueue(vec![Action::SyncCheckRun], None);
    store.save_gate(&with, None).await.unwrap();
    let without = GateRecord::new(state(6, 'b'));
    store.save_gate(&without, None).await.unwrap();
    let mut closed = GateRecord::new(state(7, 'b'));
    closed.state.open = false;
    store.save_gate(&closed, None).await.unwrap();
    assert_eq!(store.gates_with_pending().await.unwrap(), vec![key(5)]);
    assert_eq!(
        store.prs_with_head(&repo(), &sha('b')).await.unwrap(),
        vec![5, 6]
    );
    assert!(
        store
            .prs_with_head(&repo(), &sha('c'))
            .await
            .unwrap()
            .is_empty()
    );
    // Clearing the outbox drops it from the pending index.
    let v = store.load_gate(&key(5)).await.unwrap().unwrap();
    let mut rec = v.value;
    rec.pending.clear();
    store.save_gate(&rec, Some(v.version)).await.unwrap();
    assert!(store.gates_with_pending().await.unwrap().is_empty());
}

pub async fn watched_gates_are_those_with_a_dispatch_in_flight(store: Arc<dyn Store>) {
    let mut rec = GateRecord::new(state(8, 'd'));
    store.save_gate(&rec, None).await.unwrap();
    assert!(store.gates_to_watch().await.unwrap().is_empty());
    rec.state.gates_mut(&Environment::staging()).deploy =
        Some(deploy("8-staging-ddddddd-1", Environment::staging(), 'd'));
    store.save_gate(&rec, Some(1)).await.unwrap();
    assert_eq!(store.gates_to_watch().await.unwrap(), vec![key(8)]);
    if let Some(d) = rec.state.gates_mut(&Environment::staging()).deploy.as_mut() {
        d.status = DeployStatus::Succeeded;
    }
    store.save_gate(&rec, Some(2)).await.unwrap();
    assert!(
        store.gates_to_watch().await.unwrap().is_empty(),
        "finished: no longer watched"
    );
}

fn dispatch_record(id: &str) -> DispatchRecord {
    DispatchRecord {
        repo: repo(),
        pr: 42,
        workflow: "cd-prod.yml".into(),
        git_ref: Some("main".into()),
        deploy: deploy(id, Environment::production(), 'a'),
        run_id: None,
        sent: false,
    }
}

pub async fn dispatches_are_found_by_id_and_by_run(store: Arc<dyn Store>) {
    let rec = dispatch_record("42-production-aaaaaaa-2");
    assert_eq!(store.create_dispatch(&rec).await.unwrap(), rec);
    assert_eq!(
        store
            .dispatch_by_id(&repo(), &did("42-production-aaaaaaa-2"))
            .await
            .unwrap(),
        Some(rec.clone())
    );
    assert_eq!(store.dispatch_by_run(&repo(), 9002).await.unwrap(), None);
    store
        .mark_dispatch_sent(&repo(), &did("42-production-aaaaaaa-2"))
        .await
        .unwrap();
    let sent = store
        .dispatch_by_id(&repo(), &did("42-production-aaaaaaa-2"))
        .await
        .unwrap()
        .unwrap();
    assert!(sent.sent && sent.run_id.is_none());
    assert_eq!(
        store
            .link_dispatch_run(&repo(), &did("42-production-aaaaaaa-2"), 9002)
            .await
            .unwrap(),
        Some(9002)
    );
    let linked = store.dispatch_by_run(&repo(), 9002).await.unwrap().unwrap();
    assert_eq!(linked.run_id, Some(9002));
    assert_eq!(linked.deploy, rec.deploy);
    let other = RepoName::parse("acme/other").unwrap();
    assert_eq!(
        store.dispatch_by_run(&other, 9002).await.unwrap(),
        None,
        "scoped by repo"
    );
    assert_eq!(
        store.dispatch_by_id(&repo(), &did("nope")).await.unwrap(),
        None
    );
    // Creating it again changes nothing: the stored record wins.
    assert_eq!(store.create_dispatch(&rec).await.unwrap(), linked);
}

pub async fn a_dispatch_is_linked_to_one_run_for_good(store: Arc<dyn Store>) {
    store
        .create_dispatch(&dispatch_record("42-production-aaaaaaa-3"))
        .await
        .unwrap();
    let id = "42-production-aaaaaaa-3";
    assert_eq!(
        store
            .link_dispatch_run(&repo(), &did(id), 7001)
            .await
            .unwrap(),
        Some(7001)
    );
    assert_eq!(
        store
            .link_dispatch_run(&repo(), &did(id), 7001)
            .await
            .unwrap(),
        Some(7001),
        "linking the same run again is fine"
    );
    assert_eq!(
        store
            .link_dispatch_run(&repo(), &did(id), 7002)
            .await
            .unwrap(),
        Some(7001),
        "a second run does not take the first one's place"
    );
    assert_eq!(store.dispatch_by_run(&repo(), 7002).await.unwrap(), None);
    assert_eq!(
        store
            .dispatch_by_run(&repo(), 7001)
            .await
            .unwrap()
            .map(|d| d.deploy.dispatch_id),
        Some(did(id))
    );
    assert_eq!(
        store
            .link_dispatch_run(&repo(), &did("nope"), 7003)
            .await
            .unwrap(),
        None,
        "no such dispatch"
    );
    // Concurrent links: exactly one run wins, and every caller is told which.
    store
        .create_dispatch(&dispatch_record("42-production-aaaaaaa-4"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for run in 8000..8010u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .link_dispatch_run(&repo(), &did("42-production-aaaaaaa-4"), run)
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.push(t.await.unwrap());
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = winners[0].unwrap();
    for run in 8000..8010u64 {
        assert_eq!(
            store.dispatch_by_run(&repo(), run).await.unwrap().is_some(),
            run == winner,
            "run {run}"
        );
    }
}

pub async fn begun_keys_are_in_progress_until_finished(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let lease = Duration::from_secs(120);
    let keep = Duration::from_secs(3 * 24 * 3600);
    assert_eq!(
        store.begin("delivery:p", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    assert_eq!(
        store.begin("delivery:p", lease, t0).await.unwrap(),
        Begin::InProgress,
        "still being processed"
    );
    store.finish("delivery:p", keep, t0).await.unwrap();
    assert_eq!(
        store.begin("delivery:p", lease, t0).await.unwrap(),
        Begin::Done
    );
    assert_eq!(
        store
            .begin("delivery:p", lease, t0 + chrono::Duration::days(2))
            .await
            .unwrap(),
        Begin::Done,
        "done is remembered for `keep`, not for the lease"
    );
    assert_eq!(
        store
            .begin("delivery:p", lease, t0 + chrono::Duration::days(4))
            .await
            .unwrap(),
        Begin::Fresh,
        "forgotten after `keep`"
    );
    // A holder that died: its lease runs out and the work may start again.
    assert_eq!(
        store.begin("delivery:q", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    assert_eq!(
        store
            .begin("delivery:q", lease, t0 + chrono::Duration::seconds(121))
            .await
            .unwrap(),
        Begin::Fresh
    );
    // A holder that failed gives it back at once.
    store.release("delivery:q").await.unwrap();
    assert_eq!(
        store.begin("delivery:q", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    // Of concurrent beginners exactly one gets it.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.begin("delivery:race2", lease, t0).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += (t.await.unwrap() == Begin::Fresh) as usize;
    }
    assert_eq!(fresh, 1);
}

pub async fn deploy_history_is_newest_first_and_idempotent(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let mut minute = 0;
    let mut rec = |id: &str, head: char, env: Environment| {
        minute += 1;
        DeployRecord {
            repo: repo(),
            environment: env,
            sha: sha(head),
            pr: 42,
            dispatch_id: did(id),
            run_id: Some(1),
            at: t0 + chrono::Duration::minutes(minute),
            rollback: false,
        }
    };
    store
        .record_deploy(&rec("p-1", 'a', Environment::production()))
        .await
        .unwrap();
    store
        .record_deploy(&rec("s-1", 'a', Environment::staging()))
        .await
        .unwrap();
    store
        .record_deploy(&rec("p-2", 'b', Environment::production()))
        .await
        .unwrap();
    store
        .record_deploy(&rec("p-2", 'b', Environment::production()))
        .await
        .unwrap();
    store
        .record_deploy(&rec("p-3", 'b', Environment::production()))
        .await
        .unwrap();
    let prod = store
        .deploy_history(&repo(), &Environment::production(), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = prod.iter().map(|d| d.dispatch_id.as_str()).collect();
    assert_eq!(ids, vec!["p-3", "p-2", "p-1"]);
    assert_eq!(
        rollback_target(&prod),
        Some(sha('a')),
        "the newest SHA that differs from the current"
    );
    assert_eq!(
        store
            .deploy_history(&repo(), &Environment::production(), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let stage = store
        .deploy_history(&repo(), &Environment::staging(), 10)
        .await
        .unwrap();
    assert_eq!(stage.len(), 1);
    assert_eq!(rollback_target(&stage), None);
}

/// History is ordered by when the runs completed (GitHub's clock), not by
/// when gatebot recorded them: a run that finished first but was recorded
/// last (its event was late) is not the current deploy.
pub async fn deploy_history_follows_completion_time(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let rec = |id: &str, head: char, minute: i64| DeployRecord {
        repo: repo(),
        environment: Environment::production(),
        sha: sha(head),
        pr: 42,
        dispatch_id: did(id),
        run_id: Some(1),
        at: t0 + chrono::Duration::minutes(minute),
        rollback: false,
    };
    for r in [
        rec("p-b", 'b', 20),
        rec("p-c", 'c', 30),
        rec("p-a", 'a', 10),
    ] {
        store.record_deploy(&r).await.unwrap();
    }
    let prod = store
        .deploy_history(&repo(), &Environment::production(), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = prod.iter().map(|d| d.dispatch_id.as_str()).collect();
    assert_eq!(ids, vec!["p-c", "p-b", "p-a"]);
    assert_eq!(rollback_target(&prod), Some(sha('b')));
}

pub async fn audit_is_append_only_and_filtered(store: Arc<dyn Store>) {
    for (pr, detail) in [
        (Some(1), "one"),
        (Some(2), "two"),
        (None, "repo-wide"),
        (Some(1), "three"),
    ] {
        store
            .append_audit(&AuditEntry {
                at: Utc::now(),
                repo: repo(),
                pr,
                delivery: Some("d".into()),
                actor: Some("quinn".into()),
                actor_id: (detail == "three").then_some(UserId(2_719_403)),
                kind: "gate".into(),
                detail: detail.into(),
            })
            .await
            .unwrap();
    }
    // Who acted is kept by user id, beside the login shown.
    let lines = store.audit(&repo(), Some(1), 100).await.unwrap();
    let ids: Vec<Option<UserId>> = lines.iter().map(|e| e.actor_id).collect();
    assert_eq!(ids, vec![None, Some(UserId(2_719_403))]);
    let all: Vec<String> = store
        .audit(&repo(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(all, vec!["one", "two", "repo-wide", "three"]);
    let pr1: Vec<String> = store
        .audit(&repo(), Some(1), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(pr1, vec!["one", "three"]);
    let last: Vec<String> = store
        .audit(&repo(), None, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        last,
        vec!["repo-wide", "three"],
        "the newest entries, oldest first"
    );
}

pub async fn audit_lines_and_a_done_marker_written_together(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let line = |i: i64, pr: Option<u64>| AuditEntry {
        at: t0 + chrono::Duration::milliseconds(i),
        repo: repo(),
        pr,
        delivery: Some("d".into()),
        actor: None,
        actor_id: None,
        kind: "gate".into(),
        detail: format!("line {i}"),
    };
    store.append_audits(&[]).await.unwrap();
    // More lines than one DynamoDB batch request takes (25 items, two per
    // line with a PR).
    let many: Vec<AuditEntry> = (0..30).map(|i| line(i, Some(7))).collect();
    store.append_audits(&many).await.unwrap();
    let pr7: Vec<String> = store
        .audit(&repo(), Some(7), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    let want: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    assert_eq!(pr7, want, "every line, in order, in the PR's log");
    assert_eq!(store.audit(&repo(), None, 100).await.unwrap().len(), 30);

    let lease = Duration::from_secs(120);
    let keep = Duration::from_secs(3 * 24 * 3600);
    assert_eq!(
        store.begin("effect:x", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    store
        .finish_with_audit("effect:x", keep, t0, &[line(100, Some(7)), line(101, None)])
        .await
        .unwrap();
    assert_eq!(
        store.begin("effect:x", lease, t0).await.unwrap(),
        Begin::Done
    );
    let log = store.audit(&repo(), None, 2).await.unwrap();
    let details: Vec<&str> = log.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, vec!["line 100", "line 101"]);
    assert_eq!(store.audit(&repo(), Some(7), 100).await.unwrap().len(), 31);
    // Like `finish`: a key never begun is recorded done, with no lines.
    store
        .finish_with_audit("effect:y", keep, t0, &[])
        .await
        .unwrap();
    assert_eq!(
        store.begin("effect:y", lease, t0).await.unwrap(),
        Begin::Done
    );
}

pub async fn many_keys_begun_at_once_answer_as_one_by_one(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let lease = Duration::from_secs(120);
    let keep = Duration::from_secs(3 * 24 * 3600);
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(store.begin_many(&[], lease, t0).await.unwrap(), vec![]);
    assert_eq!(
        store
            .begin_many(&keys(&["m:a", "m:b", "m:c"]), lease, t0)
            .await
            .unwrap(),
        vec![Begin::Fresh, Begin::Fresh, Begin::Fresh]
    );
    assert_eq!(
        store
            .begin_many(&keys(&["m:a", "m:d"]), lease, t0)
            .await
            .unwrap(),
        vec![Begin::InProgress, Begin::Fresh],
        "a held key does not keep the free one from being taken"
    );
    store.finish("m:b", keep, t0).await.unwrap();
    assert_eq!(
        store
            .begin_many(&keys(&["m:b", "m:c", "m:e"]), lease, t0)
            .await
            .unwrap(),
        vec![Begin::Done, Begin::InProgress, Begin::Fresh]
    );
    let later = t0 + chrono::Duration::seconds(121);
    assert_eq!(
        store
            .begin_many(&keys(&["m:a", "m:b"]), lease, later)
            .await
            .unwrap(),
        vec![Begin::Fresh, Begin::Done],
        "a lease run out frees its key; done stays done"
    );
    // Of concurrent callers, exactly one gets each key.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let ks = keys(&["m:x", "m:y"]);
        tasks.push(tokio::spawn(async move {
            store.begin_many(&ks, lease, t0).await.unwrap()
        }));
    }
    let mut fresh = [0, 0];
    for t in tasks {
        for (i, b) in t.await.unwrap().into_iter().enumerate() {
            fresh[i] += (b == Begin::Fresh) as usize;
        }
    }
    assert_eq!(fresh, [1, 1]);
}

pub async fn a_transition_writes_its_record_lines_claims_and_key_together(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let lease = Duration::from_secs(120);
    let keep = Duration::from_secs(3 * 24 * 3600);
    let note = |detail: &str| AuditEntry {
        at: t0,
        repo: repo(),
        pr: Some(8),
        delivery: Some("d-8".into()),
        actor: None,
        actor_id: None,
        kind: "gate".into(),
        detail: detail.into(),
    };
    assert_eq!(
        store.begin("comment:8", lease, t0).await.unwrap(),
        Begin::Fresh
    );
    let mut rec = GateRecord::new(state(8, 'a'));
    let ids = rec.enqueue(vec![Action::SyncCheckRun], Some("d-8"));
    let claims: Vec<String> = ids.iter().map(|id| format!("effect:8:{id}")).collect();
    let lines = [note("opened"), note("ci pending")];
    // Staging's deploy of the head succeeded: its history line goes with
    // the transition.
    let staged = DeployRecord {
        repo: repo(),
        environment: Environment::staging(),
        sha: sha('a'),
        pr: 8,
        dispatch_id: did("8-staging-aaaaaaa-1"),
        run_id: Some(81),
        at: t0,
        rollback: false,
    };
    let deploys = [staged.clone()];
    let write = |record, expected, settles| TransitionWrite {
        record,
        expected,
        environments: &[],
        audits: &lines,
        deploys: &deploys,
        claims: &claims,
        claim_lease: lease,
        settles,
        keep,
        now: t0,
    };
    let saved = store
        .commit_transition(write(&rec, None, Some("comment:8")))
        .await
        .unwrap();
    assert_eq!(
        saved.claims,
        vec![Begin::Fresh],
        "the new action is claimed"
    );
    assert!(saved.settled);
    let stored = store.load_gate(&key(8)).await.unwrap().unwrap();
    assert_eq!(stored.version, saved.version);
    assert_eq!(stored.value, rec);
    assert_eq!(store.gates_with_pending().await.unwrap(), vec![key(8)]);
    let log: Vec<String> = store
        .audit(&repo(), Some(8), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(log, vec!["opened", "ci pending"]);
    let repo_log: Vec<String> = store
        .audit(&repo(), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(repo_log, log, "in the repository's log too");
    assert_eq!(
        store
            .deploy_history(&repo(), &Environment::staging(), 10)
            .await
            .unwrap(),
        vec![staged.clone()],
        "the deploy's history line is written with it"
    );
    // The same line again (a retry, an older version's queued action)
    // is not a second line.
    store.record_deploy(&staged).await.unwrap();
    assert_eq!(
        store
            .deploy_history(&repo(), &Environment::staging(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.begin(&claims[0], lease, t0).await.unwrap(),
        Begin::InProgress,
        "the claim is held"
    );
    assert_eq!(
        store.begin("comment:8", lease, t0).await.unwrap(),
        Begin::Done,
        "the guarding key is done"
    );

    // A stale version writes nothing at all: no record, no line, no
    // claim, no key.
    let mut stale = rec.clone();
    let later_ids = stale.enqueue(vec![Action::SyncCheckRun], Some("d-9"));
    let later_claims: Vec<String> = later_ids
        .iter()
        .map(|id| format!("effect:8:{id}"))
        .collect();
    let refused = store
        .commit_transition(TransitionWrite {
            record: &stale,
            expected: Some(saved.version + 7),
            environments: &[],
            audits: &[note("never")],
            deploys: &[],
            claims: &later_claims,
            claim_lease: lease,
            settles: Some("comment:9"),
            keep,
            now: t0,
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    // A transition that read no record (a PR seen for the first time)
    // creates it only if no other writer did meanwhile.
    let created_meanwhile = store
        .commit_transition(TransitionWrite {
            record: &stale,
            expected: None,
            environments: &[],
            audits: &[note("never")],
            deploys: &[],
            claims: &later_claims,
            claim_lease: lease,
            settles: Some("comment:9"),
            keep,
            now: t0,
        })
        .await;
    assert!(
        matches!(created_meanwhile, Err(StoreError::Conflict)),
        "{created_meanwhile:?}"
    );
    assert_eq!(store.load_gate(&key(8)).await.unwrap().unwrap().value, rec);
    assert_eq!(store.audit(&repo(), Some(8), 10).await.unwrap().len(), 2);
    assert_eq!(
        store.begin(&later_claims[0], lease, t0).await.unwrap(),
        Begin::Fresh,
        "no claim was taken"
    );
    assert_eq!(
        store.begin("comment:9", lease, t0).await.unwrap(),
        Begin::Fresh,
        "no key was settled"
    );
    // A claim someone holds does not keep the record from being written:
    // it is answered in progress, not taken.
    let mut next = rec.clone();
    next.state.open = false;
    let saved2 = store
        .commit_transition(TransitionWrite {
            record: &next,
            expected: Some(saved.version),
            environments: &[],
            audits: &[note("closed")],
            deploys: &[],
            claims: &claims,
            claim_lease: lease,
            settles: None,
            keep,
            now: t0,
        })
        .await
        .unwrap();
    assert_eq!(saved2.claims, vec![Begin::InProgress]);
    assert!(!saved2.settled);
    assert_eq!(saved2.version, saved.version + 1);
    let stored = store.load_gate(&key(8)).await.unwrap().unwrap();
    assert!(!stored.value.state.open);
    assert_eq!(store.audit(&repo(), Some(8), 10).await.unwrap().len(), 3);

    // More than one DynamoDB transaction takes (100 items, two per line):
    // everything is still written.
    let lines: Vec<AuditEntry> = (0..60).map(|i| note(&format!("line {i}"))).collect();
    let mut big = next.clone();
    let ids = big.enqueue(vec![Action::SyncCheckRun], Some("d-10"));
    let claims: Vec<String> = ids.iter().map(|id| format!("effect:8-big:{id}")).collect();
    let saved3 = store
        .commit_transition(TransitionWrite {
            record: &big,
            expected: Some(saved2.version),
            environments: &[],
            audits: &lines,
            deploys: &[],
            claims: &claims,
            claim_lease: lease,
            settles: Some("comment:10"),
            keep,
            now: t0,
        })
        .await
        .unwrap();
    assert_eq!(saved3.claims, vec![Begin::Fresh]);
    assert!(saved3.settled);
    assert_eq!(store.audit(&repo(), Some(8), 100).await.unwrap().len(), 63);
    assert_eq!(
        store.begin("comment:10", lease, t0).await.unwrap(),
        Begin::Done
    );
}

pub async fn a_finished_effect_leaves_the_outbox(store: Arc<dyn Store>) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let lease = Duration::from_secs(120);
    let keep = Duration::from_secs(3 * 24 * 3600);
    let mut rec = GateRecord::new(state(9, 'b'));
    let ids = rec.enqueue(
        vec![
            Action::SyncCheckRun,
            Action::Reply { body: "one".into() },
            Action::Reply { body: "two".into() },
        ],
        Some("d"),
    );
    let v1 = store.save_gate(&rec, None).await.unwrap();
    for id in &ids {
        store.begin(&format!("e:{id}"), lease, t0).await.unwrap();
    }
    let said = AuditEntry {
        at: t0,
        repo: repo(),
        pr: Some(9),
        delivery: None,
        actor: None,
        actor_id: None,
        kind: "comment".into(),
        detail: "replied".into(),
    };
    // Two effects' markers in one write (the second's deferred to it).
    let k0 = format!("e:{}", ids[0]);
    let k = format!("e:{}", ids[1]);
    let dropped = store
        .finish_effect(
            &[k.clone(), k0.clone()],
            keep,
            t0,
            std::slice::from_ref(&said),
            &key(9),
            &ids[..2],
        )
        .await
        .unwrap();
    for k in [&k, &k0] {
        assert_eq!(
            store.begin(k, lease, t0).await.unwrap(),
            Begin::Done,
            "each effect is marked done"
        );
    }
    let log = store.audit(&repo(), Some(9), 10).await.unwrap();
    assert_eq!(log, vec![said]);
    let after = store.load_gate(&key(9)).await.unwrap().unwrap();
    if dropped {
        let left: Vec<u64> = after.value.pending.iter().map(|p| p.id).collect();
        assert_eq!(left, vec![ids[2]], "the done actions left the outbox");
        assert!(
            after.version > v1,
            "a concurrent writer of the old version loses"
        );
        assert!(matches!(
            store.save_gate(&rec, Some(v1)).await,
            Err(StoreError::Conflict)
        ));
    } else {
        assert_eq!(after.value, rec, "the caller drops them");
        assert_eq!(after.version, v1);
    }
    // With nothing left to drop (or no record at all), the key is still
    // finished.
    store
        .finish_effect(&["e:none".to_string()], keep, t0, &[], &key(404), &[1])
        .await
        .unwrap();
    assert_eq!(store.begin("e:none", lease, t0).await.unwrap(), Begin::Done);
}

pub async fn a_dispatch_is_recorded_only_on_the_records_it_was_judged_on(store: Arc<dyn Store>) {
    // PR #42's record, and staging's; production has no record.
    let gate = GateRecord::new(state(42, 'a'));
    let staging = env_record(Environment::staging(), &[(42, 'a', "42-staging-aaaaaaa-1")]);
    let v = store
        .save_gate_and_environments(
            &gate,
            None,
            &[EnvWrite {
                record: &staging,
                expected: None,
            }],
        )
        .await
        .unwrap();
    let staged = store.load_environments(&repo()).await.unwrap()[0].version;
    let judged = [
        (Environment::staging(), Some(staged)),
        (Environment::production(), None),
    ];
    let on = |gate_version| JudgedOn {
        pr: &gate.state.pr,
        gate_version,
        environments: &judged,
    };
    let id = did("42-production-aaaaaaa-2");
    // The PR's record moved since: nothing recorded.
    let rec = dispatch_record("42-production-aaaaaaa-2");
    assert!(!store.create_dispatch_if(&rec, on(v + 1)).await.unwrap());
    assert_eq!(store.dispatch_by_id(&repo(), &id).await.unwrap(), None);
    // Production got a record since (someone deployed there): nothing.
    let production = env_record(
        Environment::production(),
        &[(7, 'c', "7-production-ccccccc-1")],
    );
    let other = GateRecord::new(state(7, 'c'));
    store
        .save_gate_and_environments(
            &other,
            None,
            &[EnvWrite {
                record: &production,
                expected: None,
            }],
        )
        .await
        .unwrap();
    assert!(!store.create_dispatch_if(&rec, on(v)).await.unwrap());
    assert_eq!(store.dispatch_by_id(&repo(), &id).await.unwrap(), None);
    // Judged with production as it is now, and staging as it was: recorded.
    let produced = store
        .load_environments(&repo())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.value.environment == Environment::production())
        .unwrap()
        .version;
    let now = [
        (Environment::staging(), Some(staged)),
        (Environment::production(), Some(produced)),
    ];
    let judged_now = JudgedOn {
        pr: &gate.state.pr,
        gate_version: v,
        environments: &now,
    };
    assert!(store.create_dispatch_if(&rec, judged_now).await.unwrap());
    assert_eq!(
        store.dispatch_by_id(&repo(), &id).await.unwrap(),
        Some(rec.clone())
    );
    // Recorded already: not again.
    assert!(!store.create_dispatch_if(&rec, judged_now).await.unwrap());
    // Staging moved: nothing, for a new dispatch.
    let mut moved = staging.clone();
    moved.apply(&EnvChange::Occupy {
        environment: Environment::staging(),
        occupant: Occupant::of(
            43,
            &deploy("43-staging-bbbbbbb-1", Environment::staging(), 'b'),
        ),
    });
    store
        .save_gate_and_environments(
            &GateRecord::new(state(43, 'b')),
            None,
            &[EnvWrite {
                record: &moved,
                expected: Some(staged),
            }],
        )
        .await
        .unwrap();
    let next = dispatch_record("42-production-aaaaaaa-3");
    assert!(!store.create_dispatch_if(&next, judged_now).await.unwrap());
    assert_eq!(
        store
            .dispatch_by_id(&repo(), &did("42-production-aaaaaaa-3"))
            .await
            .unwrap(),
        None
    );
}

fn env_record(env: Environment, deploys: &[(u64, char, &str)]) -> EnvRecord {
    let mut r = EnvRecord::new(repo(), env);
    for (pr, head, id) in deploys {
        r.apply(&EnvChange::Occupy {
            environment: r.environment.clone(),
            occupant: Occupant::of(*pr, &deploy(id, r.environment.clone(), *head)),
        });
    }
    r
}

/// What runs where: one record per environment, written only with a PR
/// record and only if neither changed since it was read; all or nothing.
pub async fn environment_records_are_written_with_the_pr_record_or_not_at_all(
    store: Arc<dyn Store>,
) {
    assert!(store.load_environments(&repo()).await.unwrap().is_empty());
    let a = GateRecord::new(state(20, 'a'));
    let staging = env_record(Environment::staging(), &[(20, 'a', "20-staging-aaaaaaa-1")]);
    let v = store
        .save_gate_and_environments(
            &a,
            None,
            &[EnvWrite {
                record: &staging,
                expected: None,
            }],
        )
        .await
        .unwrap();
    let read = store.load_environments(&repo()).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value, staging);
    let staged_at = read[0].version;

    // Two PRs race for staging from the same read: one wins, the other
    // writes nothing, not even its own PR record.
    let b = GateRecord::new(state(21, 'b'));
    let c = GateRecord::new(state(22, 'c'));
    let mut by_b = staging.clone();
    by_b.apply(&EnvChange::Occupy {
        environment: Environment::staging(),
        occupant: Occupant::of(
            21,
            &deploy("21-staging-bbbbbbb-1", Environment::staging(), 'b'),
        ),
    });
    let mut by_c = staging.clone();
    by_c.apply(&EnvChange::Occupy {
        environment: Environment::staging(),
        occupant: Occupant::of(
            22,
            &deploy("22-staging-ccccccc-1", Environment::staging(), 'c'),
        ),
    });
    let won = store
        .save_gate_and_environments(
            &b,
            None,
            &[EnvWrite {
                record: &by_b,
                expected: Some(staged_at),
            }],
        )
        .await;
    assert!(won.is_ok(), "{won:?}");
    let lost = store
        .save_gate_and_environments(
            &c,
            None,
            &[EnvWrite {
                record: &by_c,
                expected: Some(staged_at),
            }],
        )
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    assert!(
        store.load_gate(&key(22)).await.unwrap().is_none(),
        "the loser's PR record is not written either"
    );
    let read = store.load_environments(&repo()).await.unwrap();
    assert_eq!(read[0].value.current().map(|o| o.pr), Some(21));

    // A record that did not exist may not be created twice.
    let prod = env_record(
        Environment::production(),
        &[(20, 'a', "20-production-aaaaaaa-1")],
    );
    let mut a2 = a.clone();
    a2.state.dispatch_seq += 1;
    let again = store
        .save_gate_and_environments(
            &a2,
            Some(v),
            &[
                EnvWrite {
                    record: &prod,
                    expected: None,
                },
                EnvWrite {
                    record: &by_c,
                    expected: None,
                },
            ],
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert_eq!(
        store.load_gate(&key(20)).await.unwrap().unwrap().version,
        v,
        "nothing of it was written"
    );
    assert_eq!(store.load_environments(&repo()).await.unwrap().len(), 1);

    // Through `commit_transition`, the same: a stale environment version
    // leaves the record, its lines and its claims unwritten.
    let t0 = Utc::now();
    let keep = Duration::from_secs(3600);
    let stale = store
        .commit_transition(TransitionWrite {
            record: &a2,
            expected: Some(v),
            environments: &[EnvWrite {
                record: &by_c,
                expected: Some(staged_at),
            }],
            audits: &[],
            deploys: &[],
            claims: &["effect:20:99".to_string()],
            claim_lease: keep,
            settles: None,
            keep,
            now: t0,
        })
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert_eq!(
        store.begin("effect:20:99", keep, t0).await.unwrap(),
        Begin::Fresh,
        "no claim was taken"
    );
    let fresh = store.load_environments(&repo()).await.unwrap();
    let saved = store
        .commit_transition(TransitionWrite {
            record: &a2,
            expected: Some(v),
            environments: &[EnvWrite {
                record: &prod,
                expected: None,
            }],
            audits: &[],
            deploys: &[],
            claims: &[],
            claim_lease: keep,
            settles: None,
            keep,
            now: t0,
        })
        .await
        .unwrap();
    assert!(saved.version > v);
    let mut read = store.load_environments(&repo()).await.unwrap();
    read.sort_by(|x, y| {
        x.value
            .environment
            .as_str()
            .cmp(y.value.environment.as_str())
    });
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].value, prod);
    assert_eq!(read[1], fresh[0], "staging untouched");
    // Other repositories' environments are theirs.
    assert!(
        store
            .load_environments(&RepoName::parse("acme/gadgets").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

macro_rules! contract_tests {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            contract_tests!(@each $make;
                gate_records_round_trip_with_versions,
                conditional_writes_refuse_stale_versions,
                concurrent_writers_one_wins_per_version,
                begun_keys_are_exclusive_until_their_lease_ends,
                concurrent_beginners_have_one_winner,
                pending_and_head_indexes,
                watched_gates_are_those_with_a_dispatch_in_flight,
                dispatches_are_found_by_id_and_by_run,
                a_dispatch_is_linked_to_one_run_for_good,
                begun_keys_are_in_progress_until_finished,
                deploy_history_is_newest_first_and_idempotent,
                deploy_history_follows_completion_time,
                audit_is_append_only_and_filtered,
                audit_lines_and_a_done_marker_written_together,
                many_keys_begun_at_once_answer_as_one_by_one,
                a_transition_writes_its_record_lines_claims_and_key_together,
                a_finished_effect_leaves_the_outbox,
                environment_records_are_written_with_the_pr_record_or_not_at_all,
                a_dispatch_is_recorded_only_on_the_records_it_was_judged_on,
                ping_answers);
        }
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: Arc<dyn Store> = $make.await;
                super::$name(store).await;
            }
        )*
    };
}

async fn sqlite_in_memory() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().unwrap())
}

async fn sqlite_file() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatebot.db");
    // Keep the directory for the life of the test process.
    std::mem::forget(dir);
    Arc::new(SqliteStore::open(path).unwrap())
}

/// A fresh table on the DynamoDB-compatible server `make test` starts
/// (moto). Fails loudly when there is none: never skipped.
async fn dynamodb() -> Arc<dyn Store> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT").expect(
        "DYNAMODB_TEST_ENDPOINT is not set: the DynamoDB contract tests need a DynamoDB-compatible server; `make test` starts one (moto)",
    );
    let table = format!(
        "gatebot-contract-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let store = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table);
    store.ensure_table().await.expect("create the test table");
    Arc::new(store)
}

/// DynamoDB's `RUN#` index items are only pointers: one that names a
/// dispatch whose linked run is another (written by hand, or by a bug) is
/// not believed.
#[tokio::test]
async fn dynamodb_run_index_items_are_checked_against_their_dispatch() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT")
        .expect("DYNAMODB_TEST_ENDPOINT is not set: `make test` starts moto");
    let table = format!("gatebot-runindex-{}", std::process::id());
    let store = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table.clone());
    store.ensure_table().await.unwrap();
    store
        .create_dispatch(&dispatch_record("42-production-aaaaaaa-9"))
        .await
        .unwrap();
    store
        .link_dispatch_run(&repo(), &did("42-production-aaaaaaa-9"), 5001)
        .await
        .unwrap();
    // Someone writes an index item claiming run 6666 is that dispatch.
    gatebot::testing::store::dynamo::local_client(&endpoint)
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("RUN#acme/widgets#6666".into()))
        .item("sk", AttributeValue::S("RUN".into()))
        .item(
            "dispatch_id",
            AttributeValue::S("42-production-aaaaaaa-9".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(store.dispatch_by_run(&repo(), 6666).await.unwrap(), None);
    assert!(
        store
            .dispatch_by_run(&repo(), 5001)
            .await
            .unwrap()
            .is_some()
    );
}

/// A DynamoDB store clears an outbox starting from the record as it last
/// saw it; when another process wrote the record since, that guess fails
/// its condition and the record is read: the other process's change stays.
#[tokio::test]
async fn dynamodb_an_outbox_cleared_from_a_stale_guess_keeps_what_others_wrote() {
    let endpoint = std::env::var("DYNAMODB_TEST_ENDPOINT")
        .expect("DYNAMODB_TEST_ENDPOINT is not set: `make test` starts moto");
    let table = format!("gatebot-staleguess-{}", std::process::id());
    let here = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table.clone());
    here.ensure_table().await.unwrap();
    let there = gatebot::testing::store::dynamo::DynamoStore::local(&endpoint, table);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let keep = Duration::from_secs(3600);
    let mut rec = GateRecord::new(state(9, 'b'));
    let ids = rec.enqueue(
        vec![Action::SyncCheckRun, Action::Reply { body: "one".into() }],
        Some("d"),
    );
    let v1 = here.save_gate(&rec, None).await.unwrap();
    // Another process queues a reply: `here` has not seen it.
    let mut theirs = there.load_gate(&key(9)).await.unwrap().unwrap();
    let added = theirs
        .value
        .enqueue(vec![Action::Reply { body: "two".into() }], None);
    there.save_gate(&theirs.value, Some(v1)).await.unwrap();
    let dropped = here
        .finish_effect(
            &[format!("e:{}", ids[0])],
            keep,
            t0,
            &[],
            &key(9),
            &ids[..1],
        )
        .await
        .unwrap();
    assert!(dropped);
    let after = here.load_gate(&key(9)).await.unwrap().unwrap();
    let left: Vec<u64> = after.value.pending.iter().map(|p| p.id).collect();
    assert_eq!(
        left,
        vec![ids[1], added[0]],
        "the other process's reply stays"
    );
    assert_eq!(after.version, v1 + 2);
}

contract_tests!(sqlite_memory, sqlite_in_memory());
contract_tests!(sqlite_on_disk, sqlite_file());
contract_tests!(dynamodb_moto, dynamodb());
