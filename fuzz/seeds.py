#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (fuzz/seeds/<target>/) from the
repository's fixtures and sample deliveries. Run from the repository root:
python3 fuzz/seeds.py. The files are committed; rerun after adding fixtures."""
import glob
import hashlib
import hmac
import json
import os
import shutil

EVENTS = ["pull_request", "issue_comment", "check_run", "check_suite",
          "workflow_run", "deployment_protection_rule", "installation", "ping"]
OUT = "fuzz/seeds"


def write(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def event_of(path):
    base = os.path.basename(path)
    for e in sorted(EVENTS, key=len, reverse=True):
        if base.startswith(e) or f"-{e}-" in base:
            return e
    return None


shutil.rmtree(OUT, ignore_errors=True)
bodies = []
for path in sorted(glob.glob("tests/fixtures/*.json") + glob.glob("events/lifecycle/*.json") + glob.glob("events/samples/*.json") + glob.glob("events/shared/*.json")):
    event = event_of(path)
    if event is None:
        continue
    doc = json.load(open(path))
    # Sample deliveries under events/ carry their headers beside the body.
    if set(doc) == {"headers", "body"}:
        doc = doc["body"]
    # Compact, as GitHub sends it.
    body = json.dumps(doc, separators=(",", ":")).encode()
    name = os.path.basename(path).removesuffix(".json")
    bodies.append((name, event, body))
    i = EVENTS.index(event)
    write("events", name, bytes([i]) + body)
    write("delivery", name, bytes([i]) + body)
    if event == "issue_comment":
        comment = json.loads(body)["comment"]["body"].encode()
        write("commands", name, comment)

for name, _, body in bodies[:3]:
    for secret in (b"old-secret", b"fuzz-secret"):
        sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        write("signature", f"{name}-{secret.decode()}", sig.encode() + b"\0" + body)
    write("signature", f"{name}-bad", b"sha256=" + b"0" * 64 + b"\0" + body)

for i, text in enumerate([
    "/lgtm", "/lgtm cancel", "/verify-stage", "/approve\n/approve cancel",
    "> /approve\n", "```\n/approve\n```\n", "    /approve", "<!-- /approve -->",
    "/hold deploy freeze for the incident", "/unhold", "/rollback prod", "/rollback stage",
    "/gates", "/help", "/LGTM please", "/deploy now", "/approve /approve",
    "text\n\n/lgtm\n\n> quoted\n/approve\n", "~~~\n/lgtm\n~~~", "/lgtm\r\n/approve\r\n",
    "/lock staging checking a migration", "/lock", "/unlock stage", "/unlock staging now",
    "/envs", "/envs please", "/retry staging", "/lock production\n/unlock production\n/envs",
]):
    write("commands", f"hand-{i:02}", text.encode())

for path in ["events/gatebot.yml", "infra/gatebot.example.yml"]:
    write("config", os.path.basename(path), open(path, "rb").read())
for i, text in enumerate([
    "", "required_checks: [build]\n", "approvals: {prod: 2}\n",
    "workflows: {stage: a.yml, prod: b.yml, verify: c.yml, ref: main}\n",
    "roles: {qa: ['@acme/qa', bob], release: [rita]}\n",
    'freeze: [{from: "2026-12-20T00:00:00Z", to: "2027-01-02T00:00:00Z", reason: holidays}]\n',
    "protected_environments: [production]\n", "approvals: {prod: 0}\n", "workflows: [1, 2]\n",
    "roles: {qa: ['@acme/qa'], release: [rita]}\npipeline:\n"
    "  - {environment: staging, workflow: cd-stage.yml, entry: {command: lgtm, role: qa},\n"
    "     verify: {command: verify-stage, role: qa, workflow: null}}\n"
    "  - {environment: production, workflow: cd-prod.yml,\n"
    "     entry: {command: approve, role: release, approvals: 2}, protected: true}\n",
    "pipeline:\n  - {environment: dev, workflow: cd-dev.yml, entry: auto}\n"
    "  - {environment: prod-eu, workflow: eu.yml, entry: {command: approve, role: release}, soak: 30m,\n"
    "     freeze: [{from: '2026-12-20T00:00:00Z', to: '2027-01-02T00:00:00Z'}]}\n",
    "pipeline:\n  - {environment: staging, workflow: s.yml, entry: {command: lgtm, role: qa},\n"
    "     lock: true, lock_timeout: 45s}\n"
    "  - {environment: production, workflow: p.yml, entry: {command: approve, role: release},\n"
    "     up_to_date: false, lock: true}\n",
    "pipeline:\n  - {environment: staging, workflow: s.yml, entry: auto, lock_timeout: 2h}\n",
    "pipeline:\n  - {environment: staging, workflow: s.yml, entry: {command: lock, role: qa}}\n",
]):
    write("config", f"hand-{i:02}", text.encode())
