#!/usr/bin/env python3
"""Checks schema/gatebot.schema.json against the files gatebot's parser is
tested with: every example and fixture config must validate, and every file
under tests/fixtures/configs/invalid/ must be rejected. (The parser's side is
tests/api/first_hour.rs: the same files, through `gatebot check-config`.)
Run from the repository root with the venv's Python (jsonschema, PyYAML)."""
import glob
import json
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """YAML as gatebot reads it (1.2 core schema): `yes`/`on` are strings
    and timestamps stay strings."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

VALID = sorted(
    ["events/gatebot.yml", "events/pipeline/gatebot.yml", "events/shared/gatebot.yml",
     "infra/gatebot.example.yml"]
    + glob.glob("tests/fixtures/chains/*.yml")
)
INVALID = sorted(glob.glob("tests/fixtures/configs/invalid/*.yml"))


def main():
    schema = json.load(open("schema/gatebot.schema.json"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    for path in VALID:
        doc = yaml.load(open(path), Loader=Yaml12Loader) or {}
        errors = list(validator.iter_errors(doc))
        if errors:
            failed += 1
            print(f"FAIL {path}: valid for gatebot, rejected by the schema: {errors[0].message}")
        else:
            print(f"ok   {path}: valid")
    for path in INVALID:
        doc = yaml.load(open(path), Loader=Yaml12Loader) or {}
        if validator.is_valid(doc):
            failed += 1
            print(f"FAIL {path}: invalid for gatebot, accepted by the schema")
        else:
            print(f"ok   {path}: rejected")
    if not INVALID or not VALID:
        print("FAIL: no files to check")
        failed += 1
    print(f"schema: {len(VALID)} valid and {len(INVALID)} invalid files, {failed} disagreement(s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
