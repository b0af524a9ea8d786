//! One comment can hold thousands of command lines. gatebot acts on the
//! first few, answers the rest with one note, resolves the commenter's
//! roles once, posts one reply, and keeps the PR's record small whatever
//! happens: its audit log lives elsewhere and its outbox is bounded.

use gatebot::testing::store::MAX_PENDING;

use crate::harness::{SHA1, TestApp};

fn flood(lines: usize) -> String {
    (0..lines)
        .map(|i| if i % 2 == 0 { "/gates\n" } else { "/help\n" })
        .collect()
}

#[tokio::test]
async fn a_2500_line_comment_gets_one_reply_and_one_permission_read() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let before = app.github.world().requests.len();
    let started = std::time::Instant::now();
    let (id, status) = app.comment("randy", &flood(2500)).await;
    let took = started.elapsed();
    assert_eq!(status, "processed");
    let w = app.github.world();
    let calls = &w.requests[before..];
    let permission_reads = calls
        .iter()
        .filter(|c| c.ends_with("/collaborators/randy/permission"))
        .count();
    assert_eq!(
        permission_reads, 1,
        "one role lookup per delivery: {calls:?}"
    );
    assert_eq!(w.comments.len(), 1, "one reply for the whole comment");
    let reply = &w.comments[0].body;
    assert_eq!(
        reply.matches("| gate | state |").count(),
        3,
        "the first 5 lines: 3 × /gates"
    );
    assert_eq!(
        reply.matches("| Command | Who may use it |").count(),
        2,
        "and 2 × /help"
    );
    assert!(
        reply.contains("at most 5 command lines") && reply.contains("the 2495 after them"),
        "{reply}"
    );
    assert_eq!(w.reactions_on(id), vec!["+1"], "one reaction, not 2,500");
    assert!(
        calls.len() < 12,
        "a handful of GitHub calls, not thousands: {calls:?}"
    );
    eprintln!(
        "2,500-line comment answered in {took:?} ({} GitHub calls)",
        calls.len()
    );
}

/// Commands acted on are the first ones; one after the limit is not read.
#[tokio::test]
async fn commands_past_the_limit_are_not_acted_on() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    let body = format!("{}/lgtm\n", "/help\n".repeat(5));
    app.comment("quinn", &body).await;
    let w = app.github.world();
    assert!(
        w.dispatches.is_empty(),
        "the sixth line, /lgtm, was not read"
    );
    assert!(w.comments[0].body.contains("the 1 after them"));
}

/// GitHub refuses gatebot's comments and reactions for a long while and
/// people keep commenting: the record stays small and later transitions
/// keep working.
#[tokio::test]
async fn the_record_stays_small_while_replies_cannot_be_posted() {
    let app = TestApp::spawn().await;
    app.open_pr().await;
    app.ci_green(SHA1).await;
    app.github.world().broken.push(("/comments".into(), 403));
    for _ in 0..60 {
        app.comment("randy", &flood(10)).await;
    }
    let key = gatebot::testing::domain::PrKey {
        repo: gatebot::testing::domain::RepoName::parse("acme/widgets").unwrap(),
        number: 42,
    };
    let record = app.store.load_gate(&key).await.unwrap().unwrap().value;
    assert!(
        record.pending.len() <= MAX_PENDING,
        "{}",
        record.pending.len()
    );
    let bytes = serde_json::to_vec(&record).unwrap().len();
    assert!(bytes < 100_000, "{bytes} bytes");
    // The gates still move.
    app.github.world().broken.clear();
    let (id, _) = app.comment("quinn", "/lgtm").await;
    let w = app.github.world();
    assert_eq!(w.reactions_on(id), vec!["+1"]);
    assert_eq!(w.dispatches.len(), 1);
}
