#!/usr/bin/env python3
"""Rewrites the criterion table of BENCHMARKS.md from the last run.

    cargo bench --bench core && python3 bench/report.py

Reads criterion's results (target/criterion/**/new/{benchmark,estimates}.json,
the median of each), measures the machine's HMAC-SHA256 floor with
`openssl speed` on the same body size, and replaces everything between
`<!-- bench:core -->` and `<!-- /bench:core -->` in BENCHMARKS.md with a
table: each benchmark, its goal, the figure measured, and whether it meets
the goal. Text outside the markers (why a figure misses, what would close
the gap) is left as it is. `make bench` runs both.
"""

import datetime
import json
import pathlib
import platform
import re
import shutil
import subprocess
import sys

import sections

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"


def results():
    """{full_id: (median ns, bytes per iteration or None)}"""
    out = {}
    for bench in CRITERION.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        throughput = meta.get("throughput") or {}
        out[meta["full_id"]] = (
            estimates["median"]["point_estimate"],
            throughput.get("Bytes"),
        )
    return out


def openssl_hmac_ns(size):
    """Nanoseconds for one HMAC-SHA256 of `size` bytes by `openssl speed`."""
    if not shutil.which("openssl"):
        return None
    run = subprocess.run(
        ["openssl", "speed", "-hmac", "sha256", "-bytes", str(size), "-seconds", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"^hmac\(sha256\)\s+([\d.]+)k", run.stdout, re.M)
    if not match:
        return None
    bytes_per_s = float(match.group(1)) * 1000
    return size / bytes_per_s * 1e9


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def rate(ns, size):
    if not size:
        return ""
    mib_s = size / (ns / 1e9) / (1 << 20)
    return f"{mib_s / 1024:.2f} GiB/s" if mib_s >= 1024 else f"{mib_s:.0f} MiB/s"


def main():
    got = results()
    if not got:
        sys.exit("no criterion results: run `cargo bench --bench core` first")

    def ns(full_id):
        if full_id not in got:
            sys.exit(f"missing benchmark {full_id!r}: run `cargo bench --bench core`")
        return got[full_id][0]

    sig = "signature/verify pull_request.opened"
    floor_id = "signature/floor: one HMAC-SHA256 of pull_request.opened"
    size = got[floor_id][1]
    floor = ns(floor_id)
    openssl = openssl_hmac_ns(size)
    rows = []

    def row(name, full_id, goal_ns=None, goal_text="", note=""):
        t = ns(full_id)
        status = ""
        if goal_ns is not None:
            status = "met" if t <= goal_ns else "**missed**"
        rows.append(f"| {name} | {goal_text} | {fmt(t)} | {rate(t, got[full_id][1])} | {status} | {note} |")

    per_secret = 1.5 * floor
    row("signature: verify, 1 secret", f"{sig} (1 secret)", per_secret,
        f"≤ 1.5 × floor ({fmt(per_secret)})", f"{ns(sig + ' (1 secret)') / floor:.2f} × floor")
    row("signature: verify, 2 secrets", f"{sig} (2 secrets)", 2 * per_secret,
        f"≤ 1.5 × 2 × floor ({fmt(2 * per_secret)})", f"{ns(sig + ' (2 secrets)') / (2 * floor):.2f} × floor per secret")
    row("floor: one HMAC-SHA256 (sha2, same run)", floor_id, note=(
        f"`openssl speed -hmac sha256 -bytes {size}`: {fmt(openssl)}" if openssl else "openssl not found"))
    row("floor: one SHA-256 (sha2, same run)", "signature/floor: one SHA-256 of pull_request.opened")
    for name in ["pull_request.opened", "issue_comment.created", "workflow_run.completed", "check_run.completed"]:
        row(f"events::parse `{name}`", f"events::parse/{name}")
    row("events::parse, a comment with a 5 MiB body", "events::parse/issue_comment.created with a 5 MiB body")
    row("commands::parse_comment, typical comment", "commands::parse_comment/typical comment")
    row("commands::parse_comment, 64 KiB of markdown", "commands::parse_comment/64 KiB of markdown")
    row("gate::apply `/lgtm` → stage dispatch", "gate::apply /lgtm → stage dispatch")
    row("summary::render (check run)", "summary::render check run")
    row("GateState JSON round trip", "GateState JSON round trip")
    e2e = "webhook end to end/"
    no_change = 100_000
    row("delivery, no gate change: a duplicate", e2e + "duplicate delivery (dry-run, SQLite file)", no_change, "< 100 µs")
    row("delivery, no gate change: a comment without a command", e2e + "comment without a command (dry-run, SQLite file)", no_change, "< 100 µs")
    row("delivery, no gate change: `/gates`", e2e + "/gates comment (dry-run, SQLite file)", no_change, "< 100 µs")
    row("delivery that moves a gate: a pull request opened", e2e + "pull request opened (dry-run, SQLite file)", 300_000, "< 300 µs")
    row("delivery: one comment of 2,500 command lines", "webhook end to end: 2,500-line /gates + /help comment (dry-run, SQLite file)")
    row("delivery: bad signature → 401", "webhook end to end: bad signature (401)")

    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    table = sections.replace(
        "core",
        [
            f"Measured {datetime.date.today().isoformat()} on {cpu} ({platform.machine()}), "
            "`make bench` (`cargo bench --bench core`, then `python3 bench/report.py`); "
            "medians of criterion's estimates. Deliveries go through the real router, on a SQLite "
            "file, with the dry-run GitHub (no network); each is built and signed outside the "
            "timed part.",
            "",
            "| benchmark | goal | measured | throughput | goal met | note |",
            "|---|---|---|---|---|---|",
            *rows,
        ],
    )
    print(table)


if __name__ == "__main__":
    main()
