#!/usr/bin/env python3
"""What a person waits for after a gate command, with GitHub 150 ms away.

    cargo test --locked --test api latency -- --ignored --nocapture | python3 bench/latency.py

Reads the `LATENCY|store|what|n|p50|p99|max` lines of the report test
(`tests/api/latency.rs`) and replaces the section between
`<!-- bench:latency -->` and `<!-- /bench:latency -->` in BENCHMARKS.md.
Needs the DynamoDB-compatible server (run under scripts/with-moto.sh).
"""

import datetime
import sys

import sections


def main():
    rows = []
    for line in sys.stdin:
        if line.startswith("LATENCY|"):
            _, store, what, n, p50, p99, top = line.rstrip("\n").split("|")
            rows.append((store, what, n, p50, p99, top))
    if not rows:
        sys.exit("no LATENCY lines: run the latency report test with --ignored --nocapture")
    out = [
        f"Measured {datetime.date.today().isoformat()}: `cargo test --test api latency -- --ignored "
        "--nocapture | python3 bench/latency.py` (`make bench`). The fake GitHub answers every "
        "request 150 ms after it arrives; for each of 60 PRs (opened, CI green), QA's `/lgtm` is "
        "timed from the moment its delivery is sent to the moment each request reaches GitHub.",
        "",
        "| store | from the comment's delivery to | PRs | p50 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for store, what, n, p50, p99, top in rows:
        target = what.split("→", 1)[-1].strip()
        out.append(f"| {store} | {target} | {n} | {p50} ms | {p99} ms | {top} ms |")
    print(sections.replace("latency", out))


if __name__ == "__main__":
    main()
