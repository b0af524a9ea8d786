#!/usr/bin/env python3
"""A reconcile pass beside 50 and 2,000 idle open pull requests.

    cargo test --locked --test api reconcile_scale -- --ignored --nocapture | python3 bench/reconcile.py

Reads the `RECONCILE|store|open PRs|watched|with pending work|pass ms|store
requests|GitHub calls` lines of the report test
(`tests/api/reconcile_scale.rs`) and replaces the section between
`<!-- bench:reconcile -->` and `<!-- /bench:reconcile -->` in BENCHMARKS.md.
Needs the DynamoDB-compatible server (run under scripts/with-moto.sh).
"""

import datetime
import sys

import sections


def main():
    rows = [line.rstrip("\n").split("|")[1:] for line in sys.stdin if line.startswith("RECONCILE|")]
    if not rows:
        sys.exit("no RECONCILE lines: run the reconcile_scale report test with --ignored --nocapture")
    out = [
        f"Measured {datetime.date.today().isoformat()}: `cargo test --test api reconcile_scale -- "
        "--ignored --nocapture | python3 bench/reconcile.py` (`make bench`). One repository with "
        "10 PRs whose staging deploy is in flight, beside idle open PRs (opened, no command); the "
        "second of two passes is timed (the fake GitHub answers at once).",
        "",
        "| store | open PRs | PRs looked at | PRs with pending work | pass | store requests | GitHub calls |",
        "|---|---|---|---|---|---|---|",
    ]
    for store, open_prs, watched, pending, ms, requests, calls in rows:
        out.append(f"| {store} | {int(open_prs):,} | {watched} | {pending} | {ms} ms | {requests} | {calls} |")
    print(sections.replace("reconcile", out))


if __name__ == "__main__":
    main()
