#!/usr/bin/env python3
"""Lambda cold start through `cargo lambda watch`, and the package size.

    scripts/with-moto.sh .venv python3 bench/lambda.py [starts]   (`make bench`)

Starts cargo-lambda's runtime-API emulator (`cargo lambda watch
--only-lambda-apis`), then, `starts` times, starts the release `gatebot`
binary as the Lambda function against it (a fresh process each time: a
cold start) and times a signed `ping` posted to the Function URL from the
moment the process is spawned until the answer, then a second (warm) one.
Two setups: the secrets from the environment with SQLite, and the
DynamoDB store as on AWS, the SDK pointed at the server
`scripts/with-moto.sh` starts (the AWS SDK configuration loaded, the
DynamoDB client built, nothing sent before a delivery needs it). Also
reads the CPU time the process used up to its first answer, which is what
a smaller Lambda (less CPU) stretches, and the size of the arm64 zip that
`make lambda` builds.

Rewrites the `<!-- bench:lambda -->` section of BENCHMARKS.md and writes
target/lambda.json (bench/cost.py reads it).
"""

import datetime
import hashlib
import hmac
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import sections
from local import free_port, peak_rss_mib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "gatebot"
ZIP = ROOT / "target" / "lambda" / "gatebot" / "bootstrap.zip"
CARGO_LAMBDA = ROOT / ".venv" / "bin" / "cargo-lambda"
SECRET = b"lambda-bench-secret"
PING = b'{"zen":"Keep it logically awesome.","hook_id":1}'


def ping(port, delivery):
    sig = "sha256=" + hmac.new(SECRET, PING, hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/lambda-url/_/webhook", data=PING, method="POST",
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery,
                 "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        return r.status


def cpu_ms(pid):
    """CPU time of every thread of `pid` so far, from /proc (ns precision)."""
    total = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


def cold_start(port, env):
    """(ms to the first answer, ms of CPU used by then, ms of a warm answer, peak RSS MiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        status = ping(port, "cold")
        first = (time.perf_counter() - started) * 1000
        cpu = cpu_ms(proc.pid)
        if status != 200:
            sys.exit(f"the cold ping answered {status}")
        t = time.perf_counter()
        ping(port, "warm")
        warm = (time.perf_counter() - t) * 1000
        return first, cpu, warm, peak_rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main():
    starts = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    endpoint = os.environ.get("DYNAMODB_TEST_ENDPOINT")
    if not endpoint:
        sys.exit("DYNAMODB_TEST_ENDPOINT is not set: run under scripts/with-moto.sh")
    for need in (BIN, CARGO_LAMBDA):
        if not need.exists():
            sys.exit(f"{need} is missing: `make tools` and `cargo build --release --locked` first")
    port = free_port()
    emulator = subprocess.Popen(
        [str(CARGO_LAMBDA), "lambda", "watch", "--only-lambda-apis", "--invoke-port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("cargo lambda watch did not start")
                time.sleep(0.05)
        base = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "GITHUB_APP_ID": "777",
            "GITHUB_APP_PRIVATE_KEY_PATH": str(ROOT / "tests" / "fixtures" / "test-app-key.pem"),
            "GITHUB_API_URL": "http://127.0.0.1:9",
            "LOG_LEVEL": "warn",
        }
        rows, measured = [], {}
        with tempfile.TemporaryDirectory() as tmp:
            setups = [
                ("sqlite", "SQLite", {**base, "GATEBOT_STORE": f"sqlite:{tmp}/lambda.db"}),
                # As on AWS: nothing is sent to DynamoDB before a delivery
                # needs it (the generic endpoint variable points the SDK at
                # moto; gatebot checks the table only for a local server
                # named by AWS_ENDPOINT_URL_DYNAMODB).
                ("dynamodb", "DynamoDB as on AWS (AWS SDK config and client built; the SDK pointed at moto)",
                 {**base, "GATEBOT_STORE": f"dynamodb:gatebot-lambda-bench-{os.getpid()}",
                  "AWS_ENDPOINT_URL": endpoint}),
            ]
            for key, name, env in setups:
                samples = [cold_start(port, env) for _ in range(starts)]
                first, cpu, warm, rss = (list(x) for x in zip(*samples))
                measured[key] = {"first_ms": statistics.median(first), "cpu_ms": statistics.median(cpu),
                                 "warm_ms": statistics.median(warm), "peak_rss_mib": max(rss)}
                rows.append(
                    f"| {name} | {statistics.median(first):.1f} ms (worst {max(first):.1f}) "
                    f"| {statistics.median(cpu):.1f} ms | {statistics.median(warm):.1f} ms | {max(rss):.1f} MiB |")
    finally:
        emulator.terminate()
        emulator.wait()
    (ROOT / "target" / "lambda.json").write_text(json.dumps(measured, indent=1))
    size = ""
    if ZIP.exists():
        zip_bytes = ZIP.stat().st_size
        when = datetime.datetime.fromtimestamp(ZIP.stat().st_mtime).date().isoformat()
        verdict = "met" if zip_bytes < 6_000_000 else "**missed**"
        size = (f"Lambda package (`make lambda`, arm64, built {when}): "
                f"**{zip_bytes / 1e6:.2f} MB** ({zip_bytes:,} bytes); goal under 6 MB: {verdict}.")
    else:
        size = "Lambda package: not built (`make lambda`)."
    print(sections.replace("lambda", [
        f"Measured {datetime.date.today().isoformat()}, `python3 bench/lambda.py {starts}` under "
        "`scripts/with-moto.sh` (`make bench`): the release binary (x86_64) started as the function by "
        "cargo-lambda's runtime-API emulator, a fresh process per start; times from spawning the process "
        "to the answer of a signed `ping` posted to the Function URL, through the emulator.",
        "",
        "| setup | spawn → first answer (cold) | CPU used by then | next answer (warm) | peak RSS |",
        "|---|---|---|---|---|",
        *rows,
        "",
        size,
    ]))


if __name__ == "__main__":
    main()
