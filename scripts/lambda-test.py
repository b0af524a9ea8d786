#!/usr/bin/env python3
"""The Lambda path through a real Lambda runtime API (`make lambda-test`).

Runs gatebot under `cargo lambda watch` (its runtime-API emulator and
Function URL) on the DynamoDB-compatible server `scripts/with-moto.sh` starts
(DYNAMODB_TEST_ENDPOINT), then:

  * posts a signed `ping` delivery to the Function URL: 200 `pong`;
  * posts a delivery with a bad signature: 401;
  * invokes the scheduled reconcile event with `cargo lambda invoke`: the
    pass's report comes back;
  * finds gatebot's metrics as CloudWatch Embedded Metric Format lines in
    the function's output (the webhook's answers, the reconcile pass).

Exits non-zero, printing the function's log, when any of that fails.

    scripts/with-moto.sh .venv python3 scripts/lambda-test.py
"""
import hashlib, hmac, json, os, pathlib, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRET = b"lambda-test-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    endpoint = os.environ.get("DYNAMODB_TEST_ENDPOINT")
    if not endpoint:
        sys.exit("DYNAMODB_TEST_ENDPOINT is not set: run under scripts/with-moto.sh")
    port = free_port()
    env_file = tempfile.NamedTemporaryFile("w", suffix=".env", delete=False)
    env_file.write("\n".join([
        f"GATEBOT_STORE=dynamodb:gatebot-lambda-test-{os.getpid()}",
        f"AWS_ENDPOINT_URL_DYNAMODB={endpoint}",
        "AWS_ACCESS_KEY_ID=local",
        "AWS_SECRET_ACCESS_KEY=local",
        "AWS_REGION=us-east-1",
        f"GITHUB_WEBHOOK_SECRET={SECRET.decode()}",
        "GITHUB_APP_ID=777",
        f"GITHUB_APP_PRIVATE_KEY_PATH={ROOT / 'tests/fixtures/test-app-key.pem'}",
        # No GitHub here: the reconcile pass cannot list deliveries and says so.
        "GITHUB_API_URL=http://127.0.0.1:9",
        "GATEBOT_METRICS_NAMESPACE=gatebot/lambda-test",
        "LOG_FORMAT=json",
        "LOG_LEVEL=info",
    ]) + "\n")
    env_file.close()
    log_path = pathlib.Path(tempfile.gettempdir()) / f"gatebot-lambda-watch-{port}.log"
    log = open(log_path, "w")
    watch = subprocess.Popen(
        ["cargo", "lambda", "watch", "--invoke-port", str(port), "--env-file", env_file.name],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/lambda-url/gatebot"
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failures.append(what)

    try:
        # The first request waits for the build; the emulator may need a moment to listen.
        deadline = time.time() + 900
        status = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=600) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if watch.poll() is not None:
                    break
                time.sleep(1)
        check(status == 200, f"GET /healthz through the Function URL answers 200 (got {status})")

        ping = json.loads((ROOT / "events/samples/ping.json").read_text())
        body = json.dumps(ping["body"]).encode()
        headers = {k: v for k, v in ping["headers"].items()}
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        code, answer = post(f"{base}/webhook", body, headers)
        check(code == 200 and '"pong"' in answer, f"a signed ping answers 200 pong (got {code} {answer})")

        headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
        headers["X-GitHub-Delivery"] = "lambda-test-bad-signature"
        code, answer = post(f"{base}/webhook", body, headers)
        check(code == 401, f"a bad signature answers 401 (got {code} {answer})")

        invoke = subprocess.run(
            ["cargo", "lambda", "invoke", "gatebot", "--invoke-port", str(port),
             "--data-file", str(ROOT / "events/lambda/scheduled-reconcile.json")],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        report = invoke.stdout.strip()
        check(invoke.returncode == 0 and '"prs_with_pending"' in report,
              f"`cargo lambda invoke` of the schedule returns the pass's report (got {invoke.returncode}: {report} {invoke.stderr.strip()[-300:]})")

        # Metrics are flushed after each invocation; give the log a moment.
        time.sleep(1)
        emf = []
        for line in log_path.read_text(errors="replace").splitlines():
            start = line.find('{"_aws"')
            if start >= 0:
                try:
                    emf.append(json.loads(line[start:]))
                except ValueError:
                    pass
        names = {m["Name"] for doc in emf for ns in doc["_aws"]["CloudWatchMetrics"] for m in ns["Metrics"]}
        namespaces = {ns["Namespace"] for doc in emf for ns in doc["_aws"]["CloudWatchMetrics"]}
        check("gatebot_webhook_requests_total" in names, f"EMF lines carry gatebot_webhook_requests_total (saw {sorted(names)})")
        check("gatebot_reconcile_passes_total" in names, "EMF lines carry gatebot_reconcile_passes_total")
        check("gatebot_outbox_oldest_pending_seconds" in names, "EMF lines carry gatebot_outbox_oldest_pending_seconds")
        check(namespaces == {"gatebot/lambda-test"}, f"in the configured namespace (saw {sorted(namespaces)})")
        statuses = {doc.get("status") for doc in emf if "gatebot_webhook_requests_total" in doc}
        check({"200", "401"} <= statuses, f"labelled by status, as /metrics is (saw {sorted(s for s in statuses if s)})")
    finally:
        watch.terminate()
        try:
            watch.wait(timeout=20)
        except subprocess.TimeoutExpired:
            watch.kill()
        log.close()
        os.unlink(env_file.name)
    if failures:
        print(f"\n{len(failures)} check(s) failed; the function's output ({log_path}):\n", file=sys.stderr)
        print(log_path.read_text(errors="replace")[-6000:], file=sys.stderr)
        sys.exit(1)
    print(f"\nthe Lambda path passed under cargo lambda watch (log: {log_path})")


if __name__ == "__main__":
    main()
