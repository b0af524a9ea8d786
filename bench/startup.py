#!/usr/bin/env python3
"""Process start to ready, and to the first answered webhook, of `gatebot serve`.

    cargo build --release --locked && python3 bench/startup.py [RUNS]

Starts the release binary RUNS times (default 20) in each setup, polls it
with a 0.5 ms period, and reports the median and worst of:

* start → the first `GET /healthz` answered 200 (listening, everything built);
* start → the first signed `ping` delivery answered 200;
* the peak RSS (VmHWM) after that delivery.

Setups: the dry run on SQLite (no GitHub client), and the real GitHub App
client (octocrab with the App's key, which signs nothing until a call) on
SQLite: building it is part of starting; under scripts/with-moto.sh also
the DynamoDB store, as on AWS (the AWS SDK's configuration and client
built, nothing sent) and as against a local server (the table checked
first). No other network is used. The table
goes between `<!-- bench:startup -->` and `<!-- /bench:startup -->` in
BENCHMARKS.md (`make bench` runs it).
"""

import datetime
import hashlib
import hmac
import http.client
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import sections
from local import free_port, peak_rss_mib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "gatebot"
SECRET = b"startup-bench"
PING = b'{"zen":"Keep it logically awesome.","hook_id":1}'


def request(port, method, path, body=None, headers=None):
    """The status of one request, or None when nothing listens yet."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request(method, path, body=body, headers=headers or {})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def once(env, args):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        store = [] if "--store" in args else ["--store", f"sqlite:{tmp}/g.db"]
        cmd = [str(BIN), "serve", "--addr", f"127.0.0.1:{port}", *store, *args]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while request(port, "GET", "/healthz") != 200:
                if proc.poll() is not None:
                    sys.exit(f"gatebot exited with {proc.returncode}: {' '.join(cmd)}")
                if time.perf_counter() - started > 10:
                    sys.exit("gatebot did not answer /healthz within 10 s")
                time.sleep(0.0005)
            healthy = time.perf_counter() - started
            signature = "sha256=" + hmac.new(SECRET, PING, hashlib.sha256).hexdigest()
            status = request(
                port,
                "POST",
                "/webhook",
                body=PING,
                headers={
                    "X-GitHub-Event": "ping",
                    "X-GitHub-Delivery": "5e7c1b8a-0000-4000-8000-000000000001",
                    "X-Hub-Signature-256": signature,
                    "Content-Type": "application/json",
                },
            )
            answered = time.perf_counter() - started
            if status != 200:
                sys.exit(f"ping answered {status}")
            return healthy, answered, peak_rss_mib(proc.pid)
        finally:
            proc.kill()
            proc.wait()


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: run `cargo build --release --locked` first")
    base = {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "LOG_LEVEL": "warn",
    }
    setups = [
        ("dry run, SQLite", base, ["--dry-run", "--config", str(ROOT / "events" / "gatebot.yml")]),
        (
            "GitHub App client (octocrab), SQLite",
            {
                **base,
                "GITHUB_APP_ID": "777",
                "GITHUB_APP_PRIVATE_KEY_PATH": str(ROOT / "tests" / "fixtures" / "test-app-key.pem"),
                "GITHUB_API_URL": "http://127.0.0.1:9",
            },
            ["--reconcile-every", "0"],
        ),
    ]
    endpoint = os.environ.get("DYNAMODB_TEST_ENDPOINT")
    if endpoint:
        aws = {
            **setups[1][1],
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
        }
        store = ["--reconcile-every", "0", "--store", f"dynamodb:gatebot-startup-{os.getpid()}"]
        # As on AWS: the SDK's configuration and DynamoDB client built, no
        # request made before the first delivery that needs the store (the
        # SDK is pointed at the local server by the generic endpoint
        # variable, which gatebot does not read as "create the table").
        setups.append((
            "GitHub App client and AWS SDK client, DynamoDB, as on AWS",
            {**aws, "AWS_ENDPOINT_URL": endpoint},
            store,
        ))
        # A local DynamoDB-compatible server named by
        # AWS_ENDPOINT_URL_DYNAMODB: gatebot also checks (and creates) the
        # table before it listens, one DescribeTable round trip.
        setups.append((
            "the same, with the local server's table check",
            {**aws, "AWS_ENDPOINT_URL_DYNAMODB": endpoint},
            store,
        ))
    rows = []
    for name, env, args in setups:
        samples = [once(env, args) for _ in range(runs)]
        healthy = [s[0] * 1000 for s in samples]
        answered = [s[1] * 1000 for s in samples]
        rss = [s[2] for s in samples]
        rows.append(
            f"| {name} | {statistics.median(healthy):.1f} ms (worst {max(healthy):.1f}) "
            f"| {statistics.median(answered):.1f} ms (worst {max(answered):.1f}) "
            f"| {max(rss):.1f} MiB |"
        )
    table = sections.replace(
        "startup",
        [
            f"Measured {datetime.date.today().isoformat()}, `python3 bench/startup.py {runs}` "
            f"(release build, {runs} starts per setup, polled every 0.5 ms). Goal: ready in under 20 ms, "
            "with the AWS and GitHub clients built (the \"as on AWS\" row).",
            "",
            "| setup | start → `/healthz` 200 | start → first signed `ping` 200 | peak RSS |",
            "|---|---|---|---|",
            *rows,
        ],
    )
    print(table)


if __name__ == "__main__":
    main()
