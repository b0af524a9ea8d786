//! Install day: when gatebot is installed on a repository (`installation`
//! created, `installation_repositories` added), it learns the head of every
//! open PR there, so that the first gate command written after that counts
//! — people do not have to comment twice. A command written before still
//! does not (the binding rule is unchanged).

use serde_json::json;

use crate::fake_github::INSTALLATION;
use crate::harness::{SHA1, TestApp};

fn installed(event: &str) -> serde_json::Value {
    let repos =
        json!([{"id": 1296269, "name": "widgets", "full_name": "acme/widgets", "private": false}]);
    let mut p = json!({
        "action": if event == "installation" { "created" } else { "added" },
        "installation": {"id": INSTALLATION, "account": {"login": "acme", "id": 9919}},
        "sender": {"login": "admin", "id": 1, "type": "User"},
    });
    if event == "installation" {
        p["repositories"] = repos;
    } else {
        p["repository_selection"] = json!("selected");
        p["repositories_added"] = repos;
        p["repositories_removed"] = json!([]);
    }
    p
}

/// An open PR gatebot never had a delivery of, CI green on GitHub.
async fn unseen_pr_with_green_ci() -> TestApp {
    let app = TestApp::spawn().await;
    app.add_check_run(SHA1, "build", "success");
    app
}

#[tokio::test]
async fn without_install_day_the_first_command_on_an_unseen_pr_is_stale() {
    let app = unseen_pr_with_green_ci().await;
    let (lgtm, _) = app.comment("quinn", "/lgtm").await;
    assert_eq!(app.github.world().reactions_on(lgtm), vec!["-1"]);
    assert!(
        app.last_reply().contains("stale SHA"),
        "{}",
        app.last_reply()
    );
}

#[tokio::test]
async fn installed_gatebot_learns_open_prs_so_the_first_command_counts() {
    for event in ["installation", "installation_repositories"] {
        let app = unseen_pr_with_green_ci().await;
        let (code, answer) = app
            .send_as(event, &app.delivery_id(), &installed(event))
            .await;
        assert_eq!(code, 200, "{answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("learned 1 open pull request(s)"),
            "{answer}"
        );
        // A little later, as people comment.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (lgtm, _) = app.comment("quinn", "/lgtm").await;
        let reply = app.last_reply();
        assert_eq!(
            app.github.world().reactions_on(lgtm),
            vec!["+1"],
            "{event}: {reply}"
        );
        assert_eq!(app.dispatch_count(), 1, "{event}");
    }
}
