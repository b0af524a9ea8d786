#!/usr/bin/env python3
"""gatebot against what teams run instead, in one run, on the same payloads.

    python3 bench/peers.py [starts]      (`make bench` runs it)

Installs the peers from npm (bench/peers/package-lock.json: @octokit/webhooks,
the stack under Probot, and probot), then measures both sides:

* verify + parse, per delivery: gatebot's criterion group `verify + parse`
  (`cargo bench --bench core -- "verify \\+ parse"`) against
  `Webhooks.verifyAndReceive` in Node (bench/peers/verify.mjs), on the same
  fixtures and the same 5 MiB comment;
* process start to the first answered webhook: the release `gatebot serve`
  (GitHub App client, SQLite) against a minimal Probot app with one
  `issue_comment` handler (bench/peers/probot-app.mjs); each is started
  `starts` times and sent the same signed `issue_comment` until it answers;
* peak RSS and throughput of each under the same load: 3,000 distinct signed
  `issue_comment` deliveries (a comment without a command, which both
  verify, parse and hand to a handler that does nothing) from 8 threads.

Rewrites the `<!-- bench:peers -->` section of BENCHMARKS.md.
"""

import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import sections
from local import free_port, peak_rss_mib
from report import fmt

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
BIN = ROOT / "target" / "release" / "gatebot"
KEY = ROOT / "tests" / "fixtures" / "test-app-key.pem"
SECRET = b"peer-secret"
CASES = ["pull_request.opened", "issue_comment.created", "issue_comment.created with a 5 MiB body"]


def comment(i):
    body = json.loads((ROOT / "tests" / "fixtures" / "issue_comment.created.json").read_text())
    body["comment"]["id"] = 700000 + i
    body["comment"]["body"] = "Looks good to me, thanks!"
    return json.dumps(body).encode()


def post(port, delivery, body, timeout=10):
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/webhook", body, {
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig,
            "Content-Type": "application/json",
        })
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


class Side:
    """How to start one side: `gatebot serve` or the Probot app."""

    def __init__(self, name, cmd, env):
        self.name, self.cmd, self.env = name, cmd, env

    def start(self, port, tmp):
        cmd = [c.format(port=port, tmp=tmp) for c in self.cmd]
        env = {k: v.format(port=port, tmp=tmp) for k, v in self.env.items()}
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_to_first_answer(side):
    """Seconds from starting the process to a 200 for a signed delivery."""
    body = comment(0)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = side.start(port, tmp)
        try:
            while True:
                try:
                    if post(port, "first", body) == 200:
                        return time.perf_counter() - started
                except OSError:
                    pass
                if proc.poll() is not None:
                    sys.exit(f"{side.name} exited with {proc.returncode}")
                if time.perf_counter() - started > 30:
                    sys.exit(f"{side.name} did not answer within 30 s")
                time.sleep(0.0005)
        finally:
            proc.kill()
            proc.wait()


def under_load(side, n=3000, threads=8):
    """(deliveries per second, failures, peak RSS MiB) for n deliveries."""
    bodies = [comment(i) for i in range(n)]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = side.start(port, tmp)
        try:
            deadline = time.perf_counter() + 30
            while True:
                try:
                    if post(port, "warm", bodies[0]) == 200:
                        break
                except OSError:
                    pass
                if time.perf_counter() > deadline:
                    sys.exit(f"{side.name} did not start")
                time.sleep(0.01)
            t = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                statuses = list(pool.map(lambda i: post(port, f"peer-{i}", bodies[i]), range(n)))
            elapsed = time.perf_counter() - t
            return n / elapsed, sum(s != 200 for s in statuses), peak_rss_mib(proc.pid)
        finally:
            proc.kill()
            proc.wait()


def gatebot_verify_parse():
    subprocess.run(["cargo", "bench", "--locked", "--bench", "core", "--", r"verify \+ parse"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    out = {}
    for bench in (ROOT / "target" / "criterion").glob("**/new/benchmark.json"):
        group, _, name = json.loads(bench.read_text())["full_id"].partition("/")
        if group == "verify + parse" and name in CASES:
            estimates = json.loads((bench.parent / "estimates.json").read_text())
            out[name] = estimates["median"]["point_estimate"]
    missing = [c for c in CASES if c not in out]
    if missing:
        sys.exit(f"criterion has no result for {missing}")
    return out


def main():
    starts = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    if not shutil.which("node"):
        sys.exit("node is missing (Debian: apt install nodejs npm)")
    if not (PEERS / "node_modules" / "probot").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEERS, check=True)
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: run `cargo build --release --locked` first")
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()

    ours = gatebot_verify_parse()
    theirs = json.loads(subprocess.run(["node", str(PEERS / "verify.mjs")], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)

    gatebot = Side("gatebot", [str(BIN), "serve", "--addr", "127.0.0.1:{port}", "--store", "sqlite:{tmp}/g.db",
                               "--reconcile-every", "0"], {
        "PATH": os.environ.get("PATH", ""),
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "GITHUB_APP_ID": "777",
        "GITHUB_APP_PRIVATE_KEY_PATH": str(KEY),
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "error",
    })
    probot = Side("probot", ["node", str(PEERS / "probot-app.mjs")], {
        "PATH": os.environ.get("PATH", ""),
        "PORT": "{port}",
        "PRIVATE_KEY_PATH": str(KEY),
        "WEBHOOK_SECRET": SECRET.decode(),
    })
    start = {s.name: [time_to_first_answer(s) * 1000 for _ in range(starts)] for s in (gatebot, probot)}
    load = {s.name: under_load(s) for s in (gatebot, probot)}

    def ratio(a, b, goal):
        r = b / a
        return f"{r:.1f}×", ("met" if r >= goal else "**missed**")

    rows = []
    for name in CASES:
        goal = 4 if "5 MiB" not in name else None
        r, met = ratio(ours[name], theirs[name], goal or 0)
        rows.append(f"| verify + parse `{name}` | {'≥ 4× faster' if goal else ''} | {fmt(ours[name])} "
                    f"| {fmt(theirs[name])} | {r} | {met if goal else ''} |")
    g, p = statistics.median(start["gatebot"]), statistics.median(start["probot"])
    r, met = ratio(g, p, 10)
    rows.append(f"| process start → first answered webhook (median of {starts}) | ≥ 10× faster "
                f"| {g:.1f} ms | {p:.0f} ms | {r} | {met} |")
    (gt, gf, gm), (pt, pf, pm) = load["gatebot"], load["probot"]
    rows.append(f"| peak RSS under the same load (3,000 deliveries) | | {gm:.1f} MiB | {pm:.1f} MiB "
                f"| {pm / gm:.1f}× less | |")
    rows.append(f"| throughput under that load (8 client threads) | | {gt:.0f}/s ({gf} failed) "
                f"| {pt:.0f}/s ({pf} failed) | {gt / pt:.1f}× | |")
    print(sections.replace("peers", [
        f"Measured {datetime.date.today().isoformat()}, `python3 bench/peers.py {starts}` (`make bench`): "
        f"gatebot (release build) against @octokit/webhooks 14.2.0 and probot 14.3.2 on Node {node_version}, "
        "in one run, on the same machine and payloads.",
        "",
        "| what | goal | gatebot | peer | ratio | goal met |",
        "|---|---|---|---|---|---|",
        *rows,
    ]))


if __name__ == "__main__":
    main()
