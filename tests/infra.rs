//! The deployable pieces parse: every YAML and JSON file under `infra/`,
//! the SAM template, the project's own workflow, and the example
//! `.github/gatebot.yml` through gatebot's own config parser.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn all_infra_yaml_and_json_parses() {
    let mut all = Vec::new();
    files(&root().join("infra"), &mut all);
    files(&root().join(".github"), &mut all);
    all.push(root().join("template.yaml"));
    let mut checked = 0;
    for path in &all {
        let text = std::fs::read_to_string(path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                // CloudFormation short-form tags (!Ref, !Sub …) are plain YAML tags.
                for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                    let value: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    assert!(!value.is_null(), "{} is empty", path.display());
                }
                checked += 1;
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 10, "only {checked} files checked");
}

#[test]
fn the_example_config_is_valid_gatebot_config() {
    for path in ["infra/gatebot.example.yml", "events/gatebot.yml"] {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let config =
            gatebot::testing::config::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(config.is_protected_environment("production"), "{path}");
    }
}

#[test]
fn the_example_config_is_the_platform_chain_and_names_existing_workflows() {
    let text = std::fs::read_to_string(root().join("infra/gatebot.example.yml")).unwrap();
    let config = gatebot::testing::config::parse(&text).unwrap();
    let stages: Vec<(&str, &str)> = config
        .pipeline
        .stages
        .iter()
        .map(|s| (s.environment.as_str(), s.workflow.as_str()))
        .collect();
    assert_eq!(
        stages,
        [
            ("dev", "cd-dev.yml"),
            ("staging", "cd-stage.yml"),
            ("production", "cd-prod.yml")
        ]
    );
    assert_eq!(
        config.pipeline.stages[0].entry,
        gatebot::testing::config::Entry::Auto
    );
    for (_, workflow) in stages {
        assert!(
            root().join("infra/workflows").join(workflow).exists(),
            "{workflow}"
        );
    }
}

#[test]
fn dispatched_workflows_accept_the_spec_inputs_and_name_their_runs() {
    for (file, env) in [
        ("cd-dev.yml", "dev"),
        ("cd-stage.yml", "staging"),
        ("cd-prod.yml", "production"),
    ] {
        let text = std::fs::read_to_string(root().join("infra/workflows").join(file)).unwrap();
        let wf: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let inputs = &wf["on"]["workflow_dispatch"]["inputs"];
        for input in [
            "sha",
            "pr",
            "environment",
            "dispatch_id",
            "requested_by",
            "rollback",
        ] {
            assert_eq!(
                inputs[input]["type"].as_str(),
                Some("string"),
                "{file}: input {input}"
            );
        }
        assert_eq!(
            wf["run-name"].as_str(),
            Some(format!("{env} ${{{{ inputs.sha }}}} [${{{{ inputs.dispatch_id }}}}]").as_str()),
            "{file}"
        );
    }
}

#[test]
fn the_app_manifest_asks_for_exactly_the_permissions_and_events() {
    let text = std::fs::read_to_string(root().join("infra/github-app-manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let perms = m["default_permissions"].as_object().unwrap();
    let want = [
        ("actions", "write"),
        ("checks", "write"),
        ("contents", "read"),
        ("pull_requests", "write"),
        ("issues", "write"),
        ("metadata", "read"),
        ("members", "read"),
        ("deployments", "write"),
    ];
    assert_eq!(perms.len(), want.len(), "{perms:?}");
    for (k, v) in want {
        assert_eq!(perms[k], v, "{k}");
    }
    let mut events: Vec<&str> = m["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    events.sort_unstable();
    assert_eq!(
        events,
        [
            "check_run",
            "check_suite",
            "deployment_protection_rule",
            "issue_comment",
            "pull_request",
            "workflow_run"
        ]
    );
}

/// Every gatebot metric the template's alarms and dashboard read is one the
/// code records (a renamed metric would leave an alarm watching nothing),
/// and the dashboard body is valid JSON once its `${…}` are substituted.
#[test]
fn alarms_and_dashboard_read_metrics_gatebot_records() {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let mut sources = String::new();
    let mut all = Vec::new();
    files(&root().join("src"), &mut all);
    for path in all {
        sources.push_str(&std::fs::read_to_string(path).unwrap());
    }
    let mut names: Vec<&str> = template
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("gatebot_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    for must in [
        "gatebot_webhook_requests_total",
        "gatebot_dispatches_total",
        "gatebot_reconcile_passes_total",
        "gatebot_outbox_oldest_pending_seconds",
    ] {
        assert!(names.contains(&must), "the template does not use {must}");
    }
    for name in &names {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "the template reads {name}, which gatebot never records"
        );
    }

    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template).unwrap();
    let body = &value["Resources"]["GatebotDashboard"]["Properties"]["DashboardBody"];
    let serde_yaml_ng::Value::Tagged(sub) = body else {
        panic!("DashboardBody is not a !Sub: {body:?}")
    };
    let text = sub.value[0].as_str().expect("the !Sub's template string");
    let json = text
        .replace("${Ns}", "gatebot/stack")
        .replace("${Fn}", "stack-gatebot")
        .replace("${AWS::Region}", "eu-west-1");
    let dashboard: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("dashboard JSON: {e}\n{json}"));
    assert!(dashboard["widgets"].as_array().unwrap().len() >= 6);
}

/// The repository stands on its own: every relative link in its markdown
/// resolves inside a clone, and none points outside it.
#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut docs = vec![
        root().join("README.md"),
        root().join("CHANGELOG.md"),
        root().join("SECURITY.md"),
        root().join("BENCHMARKS.md"),
    ];
    for dir in ["docs", "infra", "events", "bench"] {
        let mut all = Vec::new();
        files(&root().join(dir), &mut all);
        // Not the peers' npm packages `make bench` installs (not ours).
        docs.extend(all.into_iter().filter(|p| {
            p.extension().is_some_and(|e| e == "md")
                && !p.components().any(|c| c.as_os_str() == "node_modules")
        }));
    }
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("").trim();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = doc.parent().unwrap().join(target);
            assert!(
                path.exists(),
                "{}: link to {target} does not resolve",
                doc.display()
            );
            let resolved = path.canonicalize().unwrap();
            assert!(
                resolved.starts_with(root().canonicalize().unwrap()),
                "{}: link to {target} leaves the repository",
                doc.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} links checked");
}

/// The attack: one `GITOPS_TOKEN`, able to write the whole GitOps
/// repository, was a secret of `dev` and `staging` too, whose jobs anyone
/// with write access can run; it could rewrite production's overlay.
/// Now: one GitOps identity per trust level. Production's credential is
/// named by cd-prod.yml alone, only in a `production` job; every other
/// secret is an environment's; production's Application syncs production's
/// repository alone, in an AppProject of its own.
#[test]
fn production_gitops_credential_and_repository_belong_to_production_alone() {
    use serde_yaml_ng::Value;
    use std::collections::HashMap;
    const PROD_CREDENTIAL: [&str; 2] = ["GITOPS_PROD_APP_PRIVATE_KEY", "GITOPS_PROD_APP_CLIENT_ID"];
    let dump = |v: &Value| serde_yaml_ng::to_string(v).unwrap();

    let mut workflows = Vec::new();
    files(&root().join("infra/workflows"), &mut workflows);
    files(&root().join(".github/workflows"), &mut workflows);
    // environment -> the GitOps repository its workflow writes
    let mut repo_of: HashMap<String, String> = HashMap::new();
    for path in &workflows {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let wf: Value = serde_yaml_ng::from_str(&text).unwrap();
        if file != "cd-prod.yml" {
            assert!(
                !text.contains("GITOPS_PROD"),
                "{file} names production's credential"
            );
        }
        assert!(
            !dump(&wf["env"]).contains("secrets."),
            "{file}: a secret in the workflow's env"
        );
        for (id, job) in wf["jobs"].as_mapping().unwrap() {
            let id = id.as_str().unwrap();
            let job_text = dump(job);
            let secrets: Vec<&str> = job_text
                .split("secrets.")
                .skip(1)
                .map(|rest| {
                    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap()
                })
                .filter(|name| *name != "GITHUB_TOKEN")
                .collect();
            let environment = job["environment"]
                .as_str()
                .or_else(|| job["environment"]["name"].as_str());
            assert!(
                secrets.is_empty() || environment.is_some(),
                "{file}: job {id} reads {secrets:?} outside an environment"
            );
            if file == "cd-prod.yml" {
                assert_eq!(environment, Some("production"), "{file}: job {id}");
                assert!(
                    PROD_CREDENTIAL.iter().all(|name| job_text.contains(name)),
                    "{file}: job {id} lacks production's own credential"
                );
                assert!(
                    !secrets.contains(&"GITOPS_TOKEN"),
                    "{file}: job {id} uses the dev/staging token"
                );
            }
            if let Some(environment) = environment {
                let repo = wf["env"]["GITOPS_REPO"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: no GITOPS_REPO"));
                repo_of.insert(environment.to_owned(), repo.to_owned());
            }
        }
    }

    let text = std::fs::read_to_string(root().join("infra/argocd/applicationset.yaml")).unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let appset = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ApplicationSet"))
        .expect("an ApplicationSet");
    let spec = &appset["spec"];
    assert_eq!(
        spec["template"]["spec"]["source"]["repoURL"].as_str(),
        Some("{{.repoURL}}")
    );
    assert_eq!(
        spec["template"]["spec"]["project"].as_str(),
        Some("{{.project}}")
    );
    let element: HashMap<&str, &Value> = spec["generators"][0]["list"]["elements"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["env"].as_str().unwrap(), e))
        .collect();
    for (env, github_env) in [
        ("dev", "dev"),
        ("staging", "staging"),
        ("prod", "production"),
    ] {
        assert_eq!(
            element[env]["repoURL"].as_str(),
            Some(format!("https://github.com/{}.git", repo_of[github_env]).as_str()),
            "{env} must sync the repository its workflow writes"
        );
    }
    let prod = element["prod"];
    for env in ["dev", "staging"] {
        assert_ne!(
            element[env]["repoURL"], prod["repoURL"],
            "{env} shares production's repository"
        );
        assert_ne!(
            element[env]["project"], prod["project"],
            "{env} shares production's AppProject"
        );
    }
    let project = docs
        .iter()
        .find(|d| {
            d["kind"].as_str() == Some("AppProject") && d["metadata"]["name"] == prod["project"]
        })
        .expect("production's AppProject");
    assert_eq!(
        project["spec"]["sourceRepos"].as_sequence().unwrap(),
        &vec![prod["repoURL"].clone()]
    );
    let namespaces: Vec<&Value> = project["spec"]["destinations"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| &d["namespace"])
        .collect();
    assert_eq!(namespaces, [&prod["namespace"]]);
}

/// Every dispatch id gatebot can make passes the workflows' own check of
/// the `dispatch_id` input (one alphabet, one length for both).
#[test]
fn the_workflows_accept_every_dispatch_id_gatebot_makes() {
    let longest = gatebot::testing::domain::DispatchId::MAX_LEN;
    for wf in ["cd-dev.yml", "cd-stage.yml", "cd-prod.yml"] {
        let text = std::fs::read_to_string(root().join("infra/workflows").join(wf)).unwrap();
        assert!(
            text.contains(&format!("^[A-Za-z0-9._-]{{1,{longest}}}$")),
            "{wf} must accept dispatch ids of [A-Za-z0-9._-], up to {longest}"
        );
    }
}
