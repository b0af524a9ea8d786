#!/usr/bin/env python3
"""GitHub API calls and store requests per delivery and per pull request's life.

    cargo test --locked --test api economy -- --ignored --nocapture | python3 bench/economy.py

Reads the `ECONOMY|chain|delivery|calls|counted|kinds|store requests|{dynamodb}`
lines the report test (`tests/api/economy.rs`) prints (GitHub calls seen
at the fake GitHub, and of them those GitHub counts against the rate limit:
all but the `304 Not Modified` answers to conditional requests; store
requests from gatebot's counters), and replaces
the section between `<!-- bench:economy -->` and `<!-- /bench:economy -->`
in BENCHMARKS.md with one table per chain and how many whole lifecycles one
installation sustains under GitHub's 5,000 counted requests per hour. Also writes
target/economy.json, which bench/cost.py reads. Needs the DynamoDB-compatible
server (run under scripts/with-moto.sh).
"""

import datetime
import json
import pathlib
import sys

import sections

RATE_LIMIT = 5000


def main():
    chains = {}
    for line in sys.stdin:
        if not line.startswith("ECONOMY|"):
            continue
        _, chain, what, count, counted, kinds, store, dynamodb = line.rstrip("\n").split("|", 7)
        chains.setdefault(chain, []).append(
            (what, int(count), int(counted), kinds, float(store), json.loads(dynamodb)))
    if not chains:
        sys.exit("no ECONOMY lines: run the economy report test with --ignored --nocapture")
    out = [
        f"Measured {datetime.date.today().isoformat()}: `cargo test --test api economy -- --ignored "
        "--nocapture | python3 bench/economy.py` (`make bench`). Calls counted at the fake GitHub, "
        "through the real octocrab client; side effects are performed inline, as in production. "
        "The fake answers conditional requests as GitHub does (`ETag`, `304 Not Modified`); "
        "**counted** are the calls GitHub counts against the rate limit, i.e. all but the `304`s, "
        "which \"which\" lists after `304:`.",
        "",
    ]
    for chain, rows in chains.items():
        dynamo = "DynamoDB" in chain
        out += [f"**{chain}**", "",
                "| delivery | GitHub calls | counted | which | store requests |"
                + (" DynamoDB requests |" if dynamo else ""),
                "|---|---|---|---|---|" + ("---|" if dynamo else "")]
        for what, count, counted, kinds, store, ops in rows:
            ops_text = ", ".join(f"{v['requests']:.0f} {op}" for op, v in sorted(ops.items()))
            extra = f" {ops_text} |" if dynamo else ""
            if what == "whole lifecycle":
                per_hour = RATE_LIMIT // counted if counted else 0
                out.append(
                    f"| **whole lifecycle** | **{count}** | **{counted}** | {per_hour} lifecycles per hour "
                    f"per installation under {RATE_LIMIT:,} counted requests/hour | **{store:.0f}** |{extra}"
                )
            else:
                out.append(f"| {what} | {count} | {counted} | {kinds} | {store:.0f} |{extra}")
        out.append("")
    target = pathlib.Path(__file__).resolve().parent.parent / "target" / "economy.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps({
        chain: [{"delivery": w, "calls": c, "counted": n, "which": k, "store": st, "dynamodb": o}
                for w, c, n, k, st, o in rows]
        for chain, rows in chains.items()
    }, indent=1))
    table = sections.replace("economy", out)
    print(table)


if __name__ == "__main__":
    main()
