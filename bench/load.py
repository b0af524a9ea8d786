#!/usr/bin/env python3
"""End to end under load on loopback, on SQLite and on DynamoDB (moto).

    scripts/with-moto.sh .venv python3 bench/load.py      (`make bench`)

Runs `cargo bench --bench load` (benches/load.rs: a release `gatebot serve`
with its real octocrab client against the fake GitHub of the API tests,
loaded by an open-loop generator at rising rates, 50 PRs and then one PR)
once per store (50 PRs of one repository, then 2,000 PRs over 50
repositories), and rewrites the `<!-- bench:load -->` section of
BENCHMARKS.md: throughput, p50/p90/p99, failures, peak RSS, and gatebot's
CPU, GitHub calls and store requests per delivery from its `/metrics`.
"""

import datetime
import json
import os
import pathlib
import subprocess
import sys

import sections

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECS = os.environ.get("LOAD_SECS", "5")
RUNS = [
    # (store, rates, open PRs, repositories)
    ("sqlite", "100,250,500,750", 50, 1),
    # moto is a single-threaded Python server: its own ceiling is far below
    # DynamoDB's, so the rates stay where it keeps up.
    ("dynamodb", "25,50,100", 50, 1),
    # The largest organisations: 2,000 open PRs over 50 repositories. Not
    # on moto: it copies the whole table for every item of a transaction,
    # so opening 2,000 PRs there slows past GitHub's 10 s per delivery
    # (BENCHMARKS.md, "The reconciler beside many open pull requests").
    ("sqlite", "200", 2000, 50),
]


def run(store, rates, prs, repos):
    cmd = ["cargo", "bench", "--locked", "--bench", "load", "--",
           "--store", store, "--rates", rates, "--secs", SECS, "--prs", str(prs),
           "--repos", str(repos)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line[5:]) for line in out.splitlines() if line.startswith("LOAD ")]


def main():
    if not os.environ.get("DYNAMODB_TEST_ENDPOINT"):
        sys.exit("DYNAMODB_TEST_ENDPOINT is not set: run under scripts/with-moto.sh")
    results = [r for store, rates, prs, repos in RUNS for r in run(store, rates, prs, repos)]
    (ROOT / "target" / "load.json").write_text(json.dumps(results, indent=1))
    rows = []
    for r in results:
        store = "SQLite" if r["store"] == "sqlite" else "DynamoDB (moto)"
        goal = ""
        if r["store"] == "sqlite" and r["prs"] == 50 and r["rate"] == 500:
            met = r["p99_ms"] < 10 and r["peak_rss_mib"] < 40 and r["failures"] == 0
            goal = "p99 < 10 ms, RSS < 40 MB: " + ("met" if met else "**missed**")
        rows.append(
            f"| {store} | {r['prs']} | {r.get('repos', 1)} | {r['rate']}/s | {r['throughput']:.0f}/s | {r['failures']} "
            f"| {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} "
            f"| {r['peak_rss_mib']:.1f} MiB | {r['cpu_ms_per_delivery']:.2f} ms "
            f"| {r['github_per_delivery']:.1f} | {r['store_per_delivery']:.1f} | {goal} |")
    ops = {}
    dynamo = [r for r in results if r["store"] == "dynamodb" and r["prs"] == 50 and r.get("repos", 1) == 1]
    for r in dynamo:
        for op, n in r["dynamodb_ops_per_delivery"].items():
            ops.setdefault(op, []).append(n)
    op_line = ", ".join(f"{op} {sum(v) / len(v):.2f}" for op, v in sorted(ops.items()))
    print(sections.replace("load", [
        f"Measured {datetime.date.today().isoformat()}: `scripts/with-moto.sh .venv python3 bench/load.py` "
        f"(`make bench`; `cargo bench --bench load`), {SECS} s per rate. gatebot (release) with its real "
        "GitHub App client against the fake GitHub (answers at once); open-loop load, each delivery a "
        "distinct signed `issue_comment` (`/hold`, `/gates`, `/unhold`, `/gates` per PR, by the release "
        "manager and QA); latency counted from when each delivery was due.",
        "",
        "| store | PRs | repositories | offered | served | failed | p50 ms | p90 ms | p99 ms | max ms "
        "| peak RSS | gatebot CPU per delivery | GitHub calls per delivery | store requests per delivery "
        "| goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"DynamoDB requests per delivery in this mix (50 PRs): {op_line or 'none recorded'}.",
    ]))


if __name__ == "__main__":
    main()
