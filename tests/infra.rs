//! The deployable pieces parse: every YAML and JSON file under `infra/`,
//! the SAM template, the project's own workflow, and the example
//! `.github/gatebot.yml` through gatebot's own config parser. And they fit
//! gatebot: the deploy workflows take exactly the inputs gatebot dispatches
//! (read from a dry run of gatebot itself) and accept its values, keep each
//! environment's credential in that environment, the function's role grants
//! exactly the AWS calls the code makes, and the documented `secret.json`
//! line builds what gatebot's secret parser reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_yaml_ng::Value;

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

/// The inputs of every gatebot dispatch (README.md, "What gatebot does on
/// GitHub"); `gatebot_dispatches_exactly_the_spec_inputs_…` checks that
/// gatebot sends exactly these.
const SPEC_INPUTS: [&str; 6] = [
    "sha",
    "pr",
    "environment",
    "dispatch_id",
    "requested_by",
    "rollback",
];

/// The workflows gatebot dispatches, and the environment each deploys to.
const CALLERS: [(&str, &str); 3] = [
    ("cd-dev.yml", "dev"),
    ("cd-stage.yml", "staging"),
    ("cd-prod.yml", "production"),
];

/// What the callers call.
const REUSABLE: &str = "./.github/workflows/deploy.yml";

fn workflow(file: &str) -> Value {
    let path = root().join("infra/workflows").join(file);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, _)| k.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn spec_inputs() -> BTreeSet<String> {
    SPEC_INPUTS.iter().map(|s| s.to_string()).collect()
}

/// A scalar of a workflow file as the string GitHub passes on.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `${{ inputs.NAME }}` and the other whole-value expressions the steps the
/// tests run use; anything else is a test that does not know the workflow.
fn resolve(v: &str, inputs: &BTreeMap<String, String>, context: &BTreeMap<&str, String>) -> String {
    let Some(expr) = v.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")) else {
        assert!(!v.contains("${{"), "{v}: an expression inside a string");
        return v.to_owned();
    };
    let expr = expr.trim();
    if let Some(name) = expr.strip_prefix("inputs.") {
        return inputs
            .get(name)
            .unwrap_or_else(|| panic!("no input {name}"))
            .clone();
    }
    context
        .get(expr)
        .unwrap_or_else(|| panic!("{expr}: not known to the test"))
        .clone()
}

/// deploy.yml's inputs in a run called by `caller` on gatebot's `sent`
/// inputs: deploy.yml's defaults, then the caller's `with:`.
fn deploy_inputs(
    caller: &Value,
    deploy: &Value,
    sent: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut inputs = BTreeMap::new();
    for (name, declared) in deploy["on"]["workflow_call"]["inputs"]
        .as_mapping()
        .unwrap()
    {
        if let Some(default) = declared.get("default") {
            inputs.insert(name.as_str().unwrap().to_owned(), scalar(default));
        }
    }
    for (name, value) in caller["jobs"]["deploy"]["with"].as_mapping().unwrap() {
        let value = resolve(&scalar(value), sent, &BTreeMap::new());
        inputs.insert(name.as_str().unwrap().to_owned(), value);
    }
    inputs
}

fn step<'a>(wf: &'a Value, job: &str, name: &str) -> &'a Value {
    wf["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no job {job}"))
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("job {job} has no step {name:?}"))
}

/// Runs a `run:` step of `job` in bash as GitHub would (`bash -e`), with the
/// workflow's, the job's and the step's `env:`, and `extra` (the runner's
/// own variables).
fn run_step(
    wf: &Value,
    job: &str,
    name: &str,
    inputs: &BTreeMap<String, String>,
    context: &BTreeMap<&str, String>,
    extra: &[(&str, &str)],
    path_first: Option<&Path>,
) -> Output {
    let step = step(wf, job, name);
    let script = step["run"].as_str().expect("a run: step");
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-e", "-c", script])
        .env_clear()
        .stdin(Stdio::null());
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env(
        "PATH",
        match path_first {
            Some(dir) => format!("{}:{path}", dir.display()),
            None => path,
        },
    );
    for env in [&wf["env"], &wf["jobs"][job]["env"], &step["env"]] {
        for (k, v) in env.as_mapping().into_iter().flatten() {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("env {k:?} is not a string"));
            cmd.env(k.as_str().unwrap(), resolve(v, inputs, context));
        }
    }
    cmd.envs(extra.iter().copied());
    cmd.output().expect("bash")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The callers declare exactly gatebot's inputs, name their runs as gatebot
/// finds them, and forward every input unchanged to deploy.yml, which
/// declares each of them; everything else a caller passes is a literal of
/// its file, never something typed into "Run workflow".
#[test]
fn dispatched_workflows_accept_the_spec_inputs_and_name_their_runs() {
    let deploy = workflow("deploy.yml");
    assert_eq!(
        keys(&deploy["on"]),
        BTreeSet::from(["workflow_call".to_owned()]),
        "deploy.yml is only called, never dispatched or triggered"
    );
    let declared = &deploy["on"]["workflow_call"]["inputs"];
    for input in SPEC_INPUTS {
        assert_eq!(
            declared[input]["type"].as_str(),
            Some("string"),
            "deploy.yml: input {input}"
        );
        assert_eq!(
            declared[input]["required"].as_bool(),
            Some(true),
            "deploy.yml: input {input}"
        );
    }
    for (file, env) in CALLERS {
        let wf = workflow(file);
        assert_eq!(
            keys(&wf["on"]),
            BTreeSet::from(["workflow_dispatch".to_owned()]),
            "{file}"
        );
        let inputs = &wf["on"]["workflow_dispatch"]["inputs"];
        assert_eq!(
            keys(inputs),
            spec_inputs(),
            "{file}: exactly the inputs gatebot dispatches"
        );
        for input in SPEC_INPUTS {
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

        assert_eq!(keys(&wf["jobs"]).len(), 1, "{file}: one job, the call");
        let job = &wf["jobs"]["deploy"];
        assert_eq!(job["uses"].as_str(), Some(REUSABLE), "{file}");
        let with = &job["with"];
        for input in SPEC_INPUTS {
            assert_eq!(
                with[input].as_str(),
                Some(format!("${{{{ inputs.{input} }}}}").as_str()),
                "{file} must forward {input} unchanged"
            );
        }
        for (name, value) in with.as_mapping().unwrap() {
            let name = name.as_str().unwrap();
            assert!(
                declared.get(name).is_some(),
                "{file} passes {name}, which deploy.yml does not declare"
            );
            if !SPEC_INPUTS.contains(&name) {
                assert!(
                    !scalar(value).contains("${{"),
                    "{file}: {name} must be a literal of the file, not something a run can choose"
                );
            }
        }
        for (name, input) in declared.as_mapping().unwrap() {
            if input["required"].as_bool() == Some(true) {
                assert!(
                    with.get(name).is_some(),
                    "{file} does not pass deploy.yml's required input {name:?}"
                );
            }
        }
        assert_eq!(with["target_environment"].as_str(), Some(env), "{file}");
    }
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What gatebot itself dispatches: `gatebot serve --dry-run` on the
/// platform's chain, fed `events/pipeline/*.json` (dev, staging and
/// production), logs each dispatch it would send with its inputs as JSON.
/// `(workflow file, inputs)` in order.
fn gatebot_dispatches() -> Vec<(String, BTreeMap<String, String>)> {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let store = format!("sqlite:{}", dir.path().join("gatebot.db").display());
    let gatebot = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gatebot"));
        c.current_dir(root())
            .env("GITHUB_WEBHOOK_SECRET", "infra-test-secret")
            .env("LOG_LEVEL", "warn")
            .env("LOG_FORMAT", "json")
            .env_remove("GATEBOT_SECRET_ARN")
            .env_remove("GATEBOT_STORE")
            .env_remove("AWS_LAMBDA_RUNTIME_API");
        c
    };
    let server = Server(
        gatebot()
            .args([
                "serve",
                "--dry-run",
                "--config",
                "events/pipeline/gatebot.yml",
            ])
            .args(["--store", &store, "--addr", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
            .spawn()
            .unwrap(),
    );
    let ready = (0..200).any(|_| {
        let ok = std::net::TcpStream::connect(addr)
            .ok()
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                s.write_all(
                    b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .ok()?;
                let mut answer = String::new();
                s.read_to_string(&mut answer).ok()?;
                Some(answer.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false);
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    });
    assert!(
        ready,
        "gatebot serve did not become ready: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    let mut deliveries: Vec<String> = std::fs::read_dir(root().join("events/pipeline"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .map(|name| format!("events/pipeline/{name}"))
        .collect();
    deliveries.sort();
    let sent = gatebot()
        .args(["send", "--url", &format!("http://{addr}/webhook")])
        .args(deliveries)
        .output()
        .unwrap();
    assert!(sent.status.success(), "gatebot send: {}", said(&sent));
    drop(server);

    let log = std::fs::read_to_string(log_path).unwrap();
    let mut dispatches = Vec::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let detail = entry["detail"]
            .as_str()
            .or_else(|| entry["fields"]["detail"].as_str());
        // "cd-dev.yml@main inputs {…}"
        let Some((target, inputs)) = detail.and_then(|d| d.split_once(" inputs ")) else {
            continue;
        };
        let file = target.split('@').next().unwrap().to_owned();
        let inputs: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(inputs).unwrap_or_else(|e| panic!("{file}: inputs {inputs}: {e}"));
        let inputs = inputs
            .into_iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: input {k} is not a string: {v}"))
                    .to_owned();
                (k, v)
            })
            .collect();
        dispatches.push((file, inputs));
    }
    assert!(
        !dispatches.is_empty(),
        "no dispatch in gatebot's log:\n{log}"
    );
    dispatches
}

/// The attack: gatebot dispatches an input the workflows do not declare
/// (GitHub answers 422 and nothing deploys), or a value the workflows'
/// check refuses (every deploy fails). Here gatebot's own dispatches, on the
/// platform's chain, are the inputs; each is run through the workflow its
/// caller calls, as the caller forwards it.
#[test]
fn gatebot_dispatches_exactly_the_spec_inputs_and_the_deploy_workflow_accepts_them() {
    let dispatches = gatebot_dispatches();
    let deploy = workflow("deploy.yml");
    let context = BTreeMap::new();
    let check = |caller: &Value, sent: &BTreeMap<String, String>| {
        let inputs = deploy_inputs(caller, &deploy, sent);
        run_step(
            &deploy,
            "check",
            "Refuse invalid inputs",
            &inputs,
            &context,
            &[],
            None,
        )
    };
    let mut seen = BTreeSet::new();
    for (file, sent) in &dispatches {
        assert_eq!(
            sent.keys().cloned().collect::<BTreeSet<_>>(),
            spec_inputs(),
            "{file}: gatebot sent {sent:?}"
        );
        let (_, env) = CALLERS
            .iter()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("gatebot dispatched {file}, which infra/workflows/ lacks"));
        assert_eq!(sent["environment"], *env, "{file}");
        let caller = workflow(file);
        let out = check(&caller, sent);
        assert!(
            out.status.success(),
            "{file} refuses gatebot's own dispatch {sent:?}: {}",
            said(&out)
        );

        let longest = "a".repeat(gatebot::testing::domain::DispatchId::MAX_LEN);
        let too_long = format!("{longest}a");
        let upper = sent["sha"].to_uppercase();
        let short = sent["sha"][..39].to_owned();
        let other = CALLERS.iter().map(|(_, e)| *e).find(|e| e != env).unwrap();
        for (input, value, accepted) in [
            ("rollback", "true", true),
            ("dispatch_id", longest.as_str(), true),
            ("requested_by", "gatebot[bot]", true),
            ("sha", upper.as_str(), false),
            ("sha", short.as_str(), false),
            ("environment", other, false),
            ("environment", "", false),
            ("rollback", "yes", false),
            ("pr", "0", false),
            ("pr", "42; id", false),
            ("dispatch_id", too_long.as_str(), false),
            ("dispatch_id", "42-dev-$(id)", false),
            ("requested_by", "alice\nbob", false),
        ] {
            let mut changed = sent.clone();
            changed.insert(input.to_owned(), value.to_owned());
            let out = check(&caller, &changed);
            assert_eq!(
                out.status.success(),
                accepted,
                "{file}: {input}={value:?}: {}",
                said(&out)
            );
        }
        seen.insert(file.clone());
    }
    let callers: BTreeSet<String> = CALLERS.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(seen, callers, "the platform's chain dispatches each caller");
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
/// Now: one GitOps identity per trust level, each a GitHub App whose token
/// is minted per run (no long-lived token). Production's credential is
/// named only in deploy.yml's step that runs when the caller's literal
/// target is `production`, in a job that runs in that environment, and
/// only cd-prod.yml targets it; every other secret is an environment's;
/// production's Application syncs production's repository alone, in an
/// AppProject of its own.
#[test]
fn production_gitops_credential_and_repository_belong_to_production_alone() {
    use std::collections::HashMap;
    const PROD_CREDENTIAL: [&str; 2] = ["GITOPS_PROD_APP_PRIVATE_KEY", "GITOPS_PROD_APP_CLIENT_ID"];
    const NONPROD_CREDENTIAL: [&str; 2] = ["GITOPS_APP_PRIVATE_KEY", "GITOPS_APP_CLIENT_ID"];
    let dump = |v: &Value| serde_yaml_ng::to_string(v).unwrap();

    let mut workflows = Vec::new();
    files(&root().join("infra/workflows"), &mut workflows);
    files(&root().join(".github/workflows"), &mut workflows);
    // environment -> the GitOps repository its caller writes
    let mut repo_of: HashMap<String, String> = HashMap::new();
    let mut deploy_checked = false;
    for path in &workflows {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let wf: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert!(
            !dump(&wf).contains("GITOPS_TOKEN"),
            "{file}: a long-lived GitOps token; the pushes use GitHub App tokens"
        );
        if file != "deploy.yml" {
            assert!(
                !dump(&wf).contains("GITOPS_PROD"),
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
            match job["uses"].as_str() {
                // A caller passes its secrets on to deploy.yml alone, whose
                // jobs that read one run in an environment (checked when
                // deploy.yml is the file).
                Some(called) => {
                    assert_eq!(called, REUSABLE, "{file}: job {id}");
                    let with = &job["with"];
                    let target = with["target_environment"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{file}: no target_environment"));
                    assert_eq!(
                        target == "production",
                        file == "cd-prod.yml",
                        "{file}: only cd-prod.yml deploys to production"
                    );
                    let repo = with["gitops_repo"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{file}: no gitops_repo"));
                    repo_of.insert(target.to_owned(), repo.to_owned());
                }
                None => assert!(job["secrets"].is_null(), "{file}: job {id}"),
            }
        }
        if file == "deploy.yml" {
            let job = &wf["jobs"]["deploy"];
            assert_eq!(
                job["environment"]["name"].as_str(),
                Some("${{ inputs.target_environment }}"),
                "deploy.yml: the deploy job runs in the caller's environment"
            );
            let mut prod_steps = 0;
            for step in job["steps"].as_sequence().unwrap() {
                let step_text = dump(step);
                let condition = step["if"].as_str();
                if step_text.contains("GITOPS_PROD") {
                    assert_eq!(
                        condition,
                        Some("inputs.target_environment == 'production'"),
                        "deploy.yml: production's credential outside production: {step_text}"
                    );
                    assert!(
                        PROD_CREDENTIAL.iter().all(|name| step_text.contains(name)),
                        "deploy.yml: {step_text}"
                    );
                    assert!(
                        !NONPROD_CREDENTIAL
                            .iter()
                            .any(|name| step_text.contains(name)),
                        "deploy.yml: production uses the dev/staging App: {step_text}"
                    );
                    prod_steps += 1;
                } else if NONPROD_CREDENTIAL
                    .iter()
                    .any(|name| step_text.contains(name))
                {
                    assert_eq!(
                        condition,
                        Some("inputs.target_environment != 'production'"),
                        "deploy.yml: the dev/staging App in production: {step_text}"
                    );
                }
            }
            assert_eq!(prod_steps, 1, "deploy.yml: one step reads production's App");
            deploy_checked = true;
        }
    }
    assert!(deploy_checked, "infra/workflows/deploy.yml is missing");

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
    let text = std::fs::read_to_string(root().join("infra/workflows/deploy.yml")).unwrap();
    assert!(
        text.contains(&format!("^[A-Za-z0-9._-]{{1,{longest}}}$")),
        "deploy.yml must accept dispatch ids of [A-Za-z0-9._-], up to {longest}"
    );
    // The callers check nothing themselves: deploy.yml checks for all three.
    for (file, _) in CALLERS {
        let wf = workflow(file);
        assert!(wf["jobs"]["deploy"]["steps"].is_null(), "{file}");
    }
}

/// A production deploy on the same SHA gatebot would send.
fn a_production_dispatch() -> BTreeMap<String, String> {
    [
        ("sha", "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"),
        ("pr", "42"),
        ("environment", "production"),
        ("dispatch_id", "42-production-0d1a26e-3"),
        ("requested_by", "rita"),
        ("rollback", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Where GitHub's plan has no custom deployment protection rules for the
/// repository, a hand-started run of cd-prod.yml, or someone's re-run of
/// gatebot's, is refused by deploy.yml itself (`require_actor`); a fork's
/// head is never deployed. Both before the job that enters the environment
/// and gets its secrets.
#[test]
fn the_deploy_workflow_refuses_hand_runs_and_forks_before_the_environment() {
    let deploy = workflow("deploy.yml");
    assert!(deploy["jobs"]["check"]["environment"].is_null());
    assert_eq!(deploy["jobs"]["deploy"]["needs"].as_str(), Some("check"));
    assert_eq!(
        deploy["jobs"]["deploy"]["environment"]["url"].as_str(),
        Some("${{ inputs.environment_url }}"),
        "the deployment shows the environment's URL"
    );
    let prod = workflow("cd-prod.yml");
    let bot = prod["jobs"]["deploy"]["with"]["require_actor"]
        .as_str()
        .expect("cd-prod.yml sets require_actor");
    assert!(
        bot.ends_with("[bot]"),
        "require_actor is gatebot's bot: {bot}"
    );
    let inputs = deploy_inputs(&prod, &deploy, &a_production_dispatch());

    let name = "Refuse runs gatebot did not start";
    assert_eq!(
        step(&deploy, "check", name)["if"].as_str(),
        Some("inputs.require_actor != ''")
    );
    for (actor, triggering, accepted) in [
        (bot, bot, true),
        ("mallory", "mallory", false),
        (bot, "mallory", false),
        ("mallory", bot, false),
    ] {
        let context = BTreeMap::from([
            ("github.actor", actor.to_owned()),
            ("github.triggering_actor", triggering.to_owned()),
        ]);
        let out = run_step(&deploy, "check", name, &inputs, &context, &[], None);
        assert_eq!(
            out.status.success(),
            accepted,
            "actor {actor}, triggering actor {triggering}: {}",
            said(&out)
        );
    }

    let name = "Refuse a fork's pull request";
    assert_eq!(
        step(&deploy, "check", name)["if"].as_str(),
        Some("inputs.rollback != 'true'")
    );
    // `gh api …/pulls/42 --jq .head.repo.full_name` answers $FAKE_HEAD_REPO.
    let bin = tempfile::tempdir().unwrap();
    let gh = bin.path().join("gh");
    std::fs::write(&gh, "#!/bin/sh\nprintf '%s\\n' \"$FAKE_HEAD_REPO\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let context = BTreeMap::from([("github.token", "a-token".to_owned())]);
    for (head, accepted) in [("acme/widgets", true), ("eve/widgets", false), ("", false)] {
        let out = run_step(
            &deploy,
            "check",
            name,
            &inputs,
            &context,
            &[
                ("GITHUB_REPOSITORY", "acme/widgets"),
                ("FAKE_HEAD_REPO", head),
            ],
            Some(bin.path()),
        );
        assert_eq!(
            out.status.success(),
            accepted,
            "head repository {head:?}: {}",
            said(&out)
        );
    }
}

/// The GitOps commit names the image by the digest read from the registry
/// (Kustomize or Helm values, chosen by the caller), each push uses a
/// GitHub App token of the environment, and the Argo CD CLI is the runner's
/// architecture, checked against the release's checksums.
#[test]
fn the_deploy_workflow_pins_the_digest_in_kustomize_or_helm_and_checks_the_argocd_cli() {
    let deploy = workflow("deploy.yml");
    let run = |job: &str, name: &str| step(&deploy, job, name)["run"].as_str().unwrap().to_owned();

    let pin = run("check", "Pin the image by digest");
    assert!(pin.contains("docker buildx imagetools inspect \"$image:$DEPLOY_SHA\""));
    assert!(pin.contains("^sha256:[0-9a-f]{64}$"));
    assert_eq!(
        deploy["jobs"]["deploy"]["env"]["DIGEST"].as_str(),
        Some("${{ needs.check.outputs.digest }}")
    );
    let commit = run("deploy", "Commit the image digest to the GitOps repository");
    assert!(commit.contains("kustomize edit set image \"$IMAGE@$DIGEST\""));
    assert!(commit.contains("TAG=\"$DEPLOY_SHA@$DIGEST\" yq -i"));
    assert_eq!(
        deploy["on"]["workflow_call"]["inputs"]["manifest"]["default"].as_str(),
        Some("kustomize")
    );

    // The caller's choice of Helm is checked like its other settings.
    let stage = workflow("cd-stage.yml");
    let mut inputs = deploy_inputs(&stage, &deploy, &{
        let mut sent = a_production_dispatch();
        sent.insert("environment".into(), "staging".into());
        sent
    });
    let context = BTreeMap::new();
    for (manifest, path, key, accepted) in [
        ("kustomize", "apps/my-app/overlays/staging", ".image", true),
        ("helm", "apps/my-app/values-staging.yaml", ".image", true),
        (
            "helm",
            "apps/my-app/values-staging.yaml",
            ".app.image",
            true,
        ),
        ("jsonnet", "apps/my-app/staging.jsonnet", ".image", false),
        ("helm", "../elsewhere.yaml", ".image", false),
        ("helm", "/etc/values.yaml", ".image", false),
        (
            "helm",
            "apps/my-app/values-staging.yaml",
            ".image | .x = 1",
            false,
        ),
    ] {
        inputs.insert("manifest".into(), manifest.into());
        inputs.insert("manifest_path".into(), path.into());
        inputs.insert("helm_image_key".into(), key.into());
        let out = run_step(
            &deploy,
            "check",
            "Refuse invalid inputs",
            &inputs,
            &context,
            &[],
            None,
        );
        assert_eq!(
            out.status.success(),
            accepted,
            "{manifest} {path} {key}: {}",
            said(&out)
        );
    }

    let app_token_steps = deploy["jobs"]["deploy"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/create-github-app-token@"))
        })
        .count();
    assert_eq!(app_token_steps, 2, "one App token step per trust level");
    assert_eq!(
        step(&deploy, "deploy", "Check out the GitOps repository")["with"]["token"].as_str(),
        Some("${{ steps.prod-token.outputs.token || steps.token.outputs.token }}")
    );

    let argocd = step(&deploy, "deploy", "Wait for Argo CD to sync");
    assert_eq!(
        argocd["env"]["RUNNER_ARCHITECTURE"].as_str(),
        Some("${{ runner.arch }}")
    );
    let script = argocd["run"].as_str().unwrap();
    for must in [
        "X64) arch=amd64",
        "ARM64) arch=arm64",
        "cli_checksums.txt",
        "sha256sum --check --strict",
    ] {
        assert!(script.contains(must), "the Argo CD step lacks {must:?}");
    }
}

/// The documented way from the manifest flow's `app.json` to the secret:
/// the line in the docs is the one `scripts/secret-json.sh` runs, and on a
/// fixture `app.json` it builds exactly the fields gatebot's secret parser
/// reads (`SecretJson` in src/adapters/secrets.rs), with the App's values.
#[test]
fn the_documented_jq_line_builds_the_secret_gatebot_reads() {
    const FILTER: &str = "{webhook_secret, app_id: (.id | tostring), private_key: .pem}";
    let line = format!("jq '{FILTER}' app.json > secret.json");
    let script = std::fs::read_to_string(root().join("scripts/secret-json.sh")).unwrap();
    assert!(script.contains(&line), "the script documents {line}");
    assert!(
        script.contains(&format!("jq -e '{FILTER}")),
        "the script runs the documented filter"
    );
    for doc in [
        "README.md",
        "infra/README.md",
        "infra/sam-notes.md",
        "template.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        assert!(text.contains(&line), "{doc} does not show {line}");
    }

    let source = std::fs::read_to_string(root().join("src/adapters/secrets.rs")).unwrap();
    let body = source
        .split("struct SecretJson {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("gatebot's secret parser (struct SecretJson)");
    let fields: BTreeSet<String> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().trim_start_matches("pub ").trim().to_owned())
        .collect();
    assert_eq!(fields.len(), 3, "SecretJson's fields: {fields:?}");

    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED the_documented_jq_line_builds_the_secret_gatebot_reads: jq is not installed \
             (Debian: apt-get install jq); scripts/secret-json.sh needs it"
        );
        return;
    }
    let fixture = root().join("tests/fixtures/manifest/app.json");
    let app: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let out = Command::new("sh")
        .arg(root().join("scripts/secret-json.sh"))
        .arg(fixture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let secret: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        secret.keys().cloned().collect::<BTreeSet<_>>(),
        fields,
        "secret.json must hold exactly what gatebot reads"
    );
    assert_eq!(secret["app_id"], serde_json::json!(app["id"].to_string()));
    assert!(secret["app_id"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(secret["webhook_secret"], app["webhook_secret"]);
    let pem = std::fs::read_to_string(root().join("tests/fixtures/test-app-key.pem")).unwrap();
    assert_eq!(secret["private_key"].as_str(), Some(pem.as_str()));

    // An app.json without one of them writes nothing and fails.
    let dir = tempfile::tempdir().unwrap();
    for field in ["id", "pem", "webhook_secret"] {
        let mut incomplete = app.clone();
        incomplete.remove(field);
        let path = dir.path().join(format!("no-{field}.json"));
        std::fs::write(&path, serde_json::to_string(&incomplete).unwrap()).unwrap();
        let out = Command::new("sh")
            .arg(root().join("scripts/secret-json.sh"))
            .arg(path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "without {field}: {}", said(&out));
        assert!(out.stdout.is_empty(), "without {field}: {}", said(&out));
    }
}

/// The function's role allows exactly the DynamoDB and Secrets Manager
/// calls gatebot makes (least privilege, and nothing missing: a call the
/// role lacks fails in production only), and infra/sam-notes.md lists the
/// same.
#[test]
fn the_function_role_grants_exactly_the_aws_calls_gatebot_makes() {
    // The SDK call, and the IAM action that authorises it. A transaction
    // (TransactWriteItems, not an IAM action) is authorised by its items'.
    const CALLS: [(&str, &str); 14] = [
        (".get_item()", "GetItem"),
        (".put_item()", "PutItem"),
        (".update_item()", "UpdateItem"),
        (".delete_item()", "DeleteItem"),
        (".query()", "Query"),
        (".scan()", "Scan"),
        (".batch_write_item()", "BatchWriteItem"),
        (".batch_get_item()", "BatchGetItem"),
        (".transact_get_items()", "GetItem"),
        (".describe_table()", "DescribeTable"),
        ("Put::builder()", "PutItem"),
        ("Update::builder()", "UpdateItem"),
        ("Delete::builder()", "DeleteItem"),
        ("ConditionCheck::builder()", "ConditionCheckItem"),
    ];
    // A type name, not the end of a longer one (`PutRequest::builder()` is a
    // batch's, `AttributeValueUpdate::builder()` no transaction item).
    let calls = |text: &str, call: &str| {
        text.match_indices(call).any(|(at, _)| {
            call.starts_with('.')
                || !text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let mut sources = Vec::new();
    files(&root().join("src"), &mut sources);
    let mut called = BTreeSet::new();
    let mut reads_secret = false;
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        if text.contains("aws_sdk_dynamodb") {
            for (call, action) in CALLS {
                if calls(&text, call) {
                    called.insert(format!("dynamodb:{action}"));
                }
            }
        }
        if text.contains("aws_sdk_secretsmanager") && text.contains(".get_secret_value()") {
            reads_secret = true;
        }
    }
    // `.create_table()` runs only against a local endpoint
    // (AWS_ENDPOINT_URL_DYNAMODB); in AWS the template makes the table.
    assert!(called.contains("dynamodb:GetItem"), "{called:?}");
    assert!(reads_secret);

    let template: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap())
            .unwrap();
    let policies = template["Resources"]["GatebotFunction"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap();
    let mut granted = BTreeSet::new();
    for policy in policies {
        for statement in policy["Statement"].as_sequence().unwrap() {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            for action in statement["Action"].as_sequence().unwrap() {
                granted.insert(action.as_str().unwrap().to_owned());
            }
        }
    }
    let mut needed = called.clone();
    needed.insert("secretsmanager:GetSecretValue".to_owned());
    assert_eq!(
        granted, needed,
        "template.yaml's policy against the code's calls"
    );

    let notes = std::fs::read_to_string(root().join("infra/sam-notes.md")).unwrap();
    let row = notes
        .lines()
        .find(|l| l.starts_with("| `GatebotFunctionRole`"))
        .expect("sam-notes.md's GatebotFunctionRole row");
    let vocabulary: BTreeSet<String> = CALLS
        .iter()
        .map(|(_, action)| format!("dynamodb:{action}"))
        .chain([
            "dynamodb:CreateTable".to_owned(),
            "secretsmanager:GetSecretValue".to_owned(),
        ])
        .collect();
    let listed: BTreeSet<String> = row
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|word| {
            if word.contains(':') {
                word.to_owned()
            } else {
                format!("dynamodb:{word}")
            }
        })
        .filter(|word| vocabulary.contains(word))
        .collect();
    assert_eq!(listed, needed, "sam-notes.md's list of the role's actions");
}

/// ReservedConcurrency 0 leaves ReservedConcurrentExecutions out (Lambda's
/// own 0 would stop the function), for accounts whose quota leaves nothing
/// to reserve.
#[test]
fn reserved_concurrency_zero_reserves_nothing() {
    fn tagged<'a>(v: &'a Value, tag: &str) -> &'a Value {
        match v {
            Value::Tagged(t) if t.tag == tag => &t.value,
            other => panic!("not !{tag}: {other:?}"),
        }
    }
    let template: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        template["Parameters"]["ReservedConcurrency"]["MinValue"].as_i64(),
        Some(0)
    );
    let condition = tagged(&template["Conditions"]["HasReservedConcurrency"], "Not");
    let equals = tagged(&condition[0], "Equals");
    assert_eq!(
        tagged(&equals[0], "Ref").as_str(),
        Some("ReservedConcurrency")
    );
    assert_eq!(scalar(&equals[1]), "0");
    let reserved = tagged(
        &template["Resources"]["GatebotFunction"]["Properties"]["ReservedConcurrentExecutions"],
        "If",
    );
    assert_eq!(reserved[0].as_str(), Some("HasReservedConcurrency"));
    assert_eq!(
        tagged(&reserved[1], "Ref").as_str(),
        Some("ReservedConcurrency")
    );
    assert_eq!(tagged(&reserved[2], "Ref").as_str(), Some("AWS::NoValue"));
}
