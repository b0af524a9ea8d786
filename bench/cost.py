#!/usr/bin/env python3
"""What a pull request's life costs on AWS, from measured figures.

    python3 bench/cost.py      (`make bench`, after economy, load and lambda)

Reads what the other bench scripts measured:

* target/economy.json (bench/economy.py): GitHub calls, store requests and
  DynamoDB requests by operation (with their request bytes) per delivery,
  over the two-stage default's whole life on DynamoDB, in steady state;
* target/load.json (bench/load.py): gatebot's CPU time per delivery on the
  DynamoDB store;
* target/lambda.json (bench/lambda.py): the CPU a cold start uses up to its
  first answer.

and rewrites the `<!-- bench:cost -->` section of BENCHMARKS.md: DynamoDB
read and write request units and Lambda GB-seconds per lifecycle, dollars
per 1,000 lifecycles at on-demand list prices, and the smallest Lambda
memory size that keeps p99 under 1 s. How each figure is derived, and what
is assumed rather than measured, is printed with the table.
"""

import datetime
import json
import math
import pathlib
import re
import statistics
import sys

import sections

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"

# On-demand list prices, us-east-1, as published on aws.amazon.com/lambda/pricing
# and aws.amazon.com/dynamodb/pricing/on-demand (in effect since the DynamoDB
# on-demand price cut of 2024-11-01; read 2026-12-02).
PRICES_DATE = "2024-11-01 (read 2026-12-02)"
WRU = 0.625 / 1e6  # $ per write request unit
RRU = 0.125 / 1e6  # $ per read request unit
LAMBDA_REQUEST = 0.20 / 1e6  # $ per invocation
LAMBDA_GB_S_ARM = 0.0000133334  # $ per GB-second, arm64, first tier

# Assumed, not measured here (no AWS from this machine): the time one call
# waits on the network, at the 99th percentile.
GITHUB_P99_MS = 100.0
DYNAMODB_P99_MS = 10.0
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, pro rata below

CHAIN = "two-stage on DynamoDB, PR #43"


def load(name):
    path = TARGET / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `make bench` (it runs the script that writes it first)")
    return json.loads(path.read_text())


def units(ops):
    """(write units, read units) of one delivery's DynamoDB requests.

    Writes: as gatebot counted them (`gatebot_dynamodb_write_units_total`,
    src/adapters/store/write_units.rs): per item written, its size rounded up to a
    KB, at least one unit, twice in a transaction; an update or a delete as
    one. Reads: one unit per strongly consistent read of up to 4 KB
    (gatebot's items are smaller; every read is counted as strongly
    consistent, which is an upper bound)."""
    w = r = 0.0
    for op, v in ops.items():
        if "write_units" not in v:
            sys.exit(f"{op} without write units: re-run bench/economy.py")
        w += v["write_units"]
        if op in ("GetItem", "Query"):
            r += v["requests"]
    return w, r


def github_waits(delivery):
    """GitHub round trips a delivery waits for, one after the other. A gate
    command's reads (the PR, the commenter's permission, CI, the comparison
    with the base, the activity log) go out in one round
    (src/app/handlers.rs, `comment_commands`), and its answers (reaction,
    reply) alongside its other writes (src/app/effects.rs,
    `perform_claimed`), which go in order: one wait for the reads, one per
    ordered write. Any other delivery: every call, one after the other (an
    upper bound)."""
    which = delivery.get("which")
    if which is None:
        sys.exit("target/economy.json has no call kinds: re-run bench/economy.py")
    calls = []
    for n, method, path in re.findall(r"(?:(\d+)× )?`(GET|POST|PATCH|PUT|DELETE) ([^`]+)`", which):
        calls += [(method, path)] * int(n or 1)
    if not any(p.endswith("/reactions") or "/permission" in p for _, p in calls):
        return delivery["calls"]
    answers = [c for c in calls if c[0] == "POST" and (c[1].endswith("/reactions") or c[1].endswith("/comments"))]
    ordered = [c for c in calls if c[0] != "GET" and c not in answers]
    reads = any(m == "GET" for m, _ in calls)
    return int(reads) + max(len(ordered), 1 if answers else 0)


def main():
    economy = load("economy.json")
    if CHAIN not in economy:
        sys.exit(f"target/economy.json has no {CHAIN!r}: run bench/economy.py under scripts/with-moto.sh")
    deliveries = [d for d in economy[CHAIN] if d["delivery"] != "whole lifecycle"]
    cpu = statistics.median(r["cpu_ms_per_delivery"] for r in load("load.json") if r["store"] == "dynamodb")
    lam = load("lambda.json")
    cold_cpu = lam["dynamodb"]["cpu_ms"]

    w_total = r_total = 0.0
    io_ms = []
    for d in deliveries:
        w, r = units(d["dynamodb"])
        w_total += w
        r_total += r
        io_ms.append(github_waits(d) * GITHUB_P99_MS + d["store"] * DYNAMODB_P99_MS)
    invocations = len(deliveries)
    calls = sum(d["calls"] for d in deliveries)
    store = sum(d["store"] for d in deliveries)

    def duration_s(memory_mb):
        """Billed seconds of a whole lifecycle at `memory_mb` (every wait at its p99)."""
        return sum(io_ms) / 1000 + invocations * cpu * FULL_VCPU_MB / memory_mb / 1000

    slowest_io = max(io_ms)
    rows = []
    for memory in (128, 256, 512, 1024):
        gb_s = memory / 1024 * duration_s(memory)
        per_1000 = 1000 * (w_total * WRU + r_total * RRU + invocations * LAMBDA_REQUEST + gb_s * LAMBDA_GB_S_ARM)
        cpu_part = (cold_cpu + cpu) * FULL_VCPU_MB / memory
        rows.append(f"| {memory} MB | {w_total:.0f} WRU, {r_total:.0f} RRU | {invocations} | {gb_s:.3f} GB-s "
                    f"| ${per_1000:.2f} | {slowest_io + cpu_part:.0f} ms ({cpu_part:.0f} ms of it CPU) |")

    # p99 of the slowest delivery, cold: its waits plus the CPU of a cold
    # start and of the delivery, stretched by the memory's share of a vCPU.
    budget = 1000 - slowest_io
    if budget <= 0:
        smallest = ("none at the assumed latencies: the slowest delivery's own waits (GitHub, DynamoDB, one "
                    "after the other) exceed 1 s before any CPU is counted, so memory cannot bring it under")
    else:
        need = FULL_VCPU_MB * (cold_cpu + cpu) / budget
        smallest = f"**{max(128, math.ceil(need / 64) * 64)} MB**"

    print(sections.replace("cost", [
        f"Computed {datetime.date.today().isoformat()} by `python3 bench/cost.py` (`make bench`) from the "
        "figures measured above: the two-stage default's steady-state lifecycle on DynamoDB "
        f"({invocations} deliveries, {calls} GitHub calls, {store:.0f} DynamoDB requests; API economy), "
        f"gatebot's CPU per delivery on DynamoDB ({cpu:.2f} ms, load run) and a cold start's CPU up to its "
        f"first answer ({cold_cpu:.1f} ms, Lambda run). Prices: on-demand list prices, us-east-1, arm64, "
        f"in effect since {PRICES_DATE}: DynamoDB $0.625 per million WRU and $0.125 per million RRU; Lambda "
        "$0.20 per million requests and $0.0000133334 per GB-second. Free tiers not deducted.",
        "",
        "| Lambda memory | DynamoDB units per lifecycle | invocations | Lambda GB-s per lifecycle "
        "| $ per 1,000 lifecycles | slowest delivery, cold, p99 (model) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Smallest Lambda memory that keeps p99 under 1 s: {smallest}. Derived for the slowest delivery "
        f"(a dispatching command: {slowest_io:.0f} ms of waits at the assumed p99 latencies), starting cold: "
        f"its waits plus {cold_cpu + cpu:.1f} ms of CPU, stretched by 1,769 MB / memory (Lambda's CPU share).",
        "",
        f"Assumed, not measured: a GitHub call waits {GITHUB_P99_MS:.0f} ms and a DynamoDB request "
        f"{DYNAMODB_P99_MS:.0f} ms at p99, one after the other, except that a gate command's reads go out "
        "in one round and its reaction beside its other writes (one wait for the reads, one per ordered "
        "write); Lambda bills the whole wall time. CPU was "
        "measured on this x86_64 machine, not on Graviton.",
    ]))


if __name__ == "__main__":
    main()
