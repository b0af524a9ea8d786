//! Comments are read as GitHub renders them: a line a reader sees inside a
//! quote, an HTML comment or code is not a command.

use crate::harness::{SHA1, TestApp};

async fn green(app: &TestApp) {
    app.open_pr().await;
    app.ci_green(SHA1).await;
}

#[tokio::test]
async fn a_lazy_continuation_line_of_a_quote_is_not_a_command() {
    let app = TestApp::spawn().await;
    green(&app).await;
    // GitHub shows `/lgtm` inside the quote.
    let (id, status) = app.comment("quinn", "> Dora asked:\n/lgtm").await;
    assert_eq!(status, "ignored");
    assert!(app.github.world().reactions_on(id).is_empty());
    assert_eq!(app.dispatch_count(), 0);
    let (id, _) = app.comment("quinn", "> Dora asked:\n\n/lgtm").await;
    assert_eq!(app.github.world().reactions_on(id), vec!["+1"]);
    assert_eq!(app.dispatch_count(), 1);
}

#[tokio::test]
async fn a_command_hidden_in_a_comment_after_an_escaped_backtick_is_not_a_command() {
    let app = TestApp::spawn().await;
    green(&app).await;
    let (id, status) = app
        .comment("quinn", "Checklist done \\` <!-- `\n/lgtm\n-->")
        .await;
    assert_eq!(status, "ignored");
    assert!(app.github.world().reactions_on(id).is_empty());
    assert_eq!(app.dispatch_count(), 0);
}
