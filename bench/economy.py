#!/usr/bin/env python3
"""GitHub API calls per delivery and per pull request's life.

    cargo test --locked --test api economy -- --ignored --nocapture | python3 bench/economy.py

Reads the `ECONOMY|chain|delivery|calls|kinds` lines the report test
(`tests/api/economy.rs`) prints, counted at the fake GitHub, and replaces
the section between `<!-- bench:economy -->` and `<!-- /bench:economy -->`
in BENCHMARKS.md with one table per chain and how many whole lifecycles one
installation sustains under GitHub's 5,000 requests per hour.
"""

import datetime
import sys

import sections

RATE_LIMIT = 5000


def main():
    chains = {}
    for line in sys.stdin:
        if not line.startswith("ECONOMY|"):
            continue
        _, chain, what, count, kinds = line.rstrip("\n").split("|", 4)
        chains.setdefault(chain, []).append((what, int(count), kinds))
    if not chains:
        sys.exit("no ECONOMY lines: run the economy report test with --ignored --nocapture")
    out = [
        f"Measured {datetime.date.today().isoformat()}: `cargo test --test api economy -- --ignored "
        "--nocapture | python3 bench/economy.py` (`make bench`). Calls counted at the fake GitHub, "
        "through the real octocrab client; side effects are performed inline, as in production.",
        "",
    ]
    for chain, rows in chains.items():
        out += [f"**{chain}**", "", "| delivery | calls | which |", "|---|---|---|"]
        for what, count, kinds in rows:
            if what == "whole lifecycle":
                per_hour = RATE_LIMIT // count if count else 0
                out.append(
                    f"| **whole lifecycle** | **{count}** | {per_hour} lifecycles per hour per "
                    f"installation under {RATE_LIMIT:,} requests/hour |"
                )
            else:
                out.append(f"| {what} | {count} | {kinds} |")
        out.append("")
    table = sections.replace("economy", out)
    print(table)


if __name__ == "__main__":
    main()
