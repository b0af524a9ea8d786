#!/usr/bin/env python3
"""The import graph of gatebot's own modules, from their `crate::` and
`super::` paths: which file uses which, its circles, and the imports that
run back up the layers.

    python3 scripts/import-graph.py            # a summary; exit 1 on a circle or an upward import
    python3 scripts/import-graph.py --edges    # every edge too

Layers, bottom to top (a file may use its own layer and the ones below):

    core      pure: domain, signature, events, commands, config, gate, run_identity, markdown
    adapters  I/O behind narrow traits: github, store, aws, secrets, telemetry
    app       the service: turns deliveries into facts, stores, performs effects, reconciles
    entry     the ways in: the HTTP router, the Lambda handler, the CLI, settings

A file's layer is the first folder under `src/` (`src/core/gate/machine.rs`
is `core`); files of the old flat layout are placed by the table below.
Test-only modules (declared under `#[cfg(test)]`) are left out.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
LAYERS = ["core", "adapters", "app", "entry"]
# Top-level modules of the flat layout (before the layers became folders).
FLAT = {
    "domain": "core", "signature": "core", "events": "core", "commands": "core",
    "config": "core", "gate": "core", "run_identity": "core", "markdown": "core",
    "panics": "core", "fuzzing": "entry",
    "github": "adapters", "store": "adapters", "aws": "adapters",
    "secrets": "adapters", "telemetry": "adapters",
    "app": "app", "reconcile": "app",
    "http": "entry", "lambda": "entry", "cli": "entry", "settings": "entry",
    "main": "entry", "lib": "entry",
}


def module_of(path: Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def layer_of(module: tuple) -> str:
    if not module:
        return "entry"
    first = module[0]
    return first if first in LAYERS else FLAT.get(first, "core")


def test_only(files: dict) -> set:
    """Modules declared under `#[cfg(test)]`, and everything below them."""
    out = set()
    for module, text in files.items():
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text):
            out.add(module + (m.group(1),))
    return {m for m in files if any(m[: len(t)] == t for t in out)}


def resolve(path: list, files: dict) -> tuple:
    """The longest module prefix of `path` that is a file."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in files:
            return tuple(path[:n])
    return None


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # An inline test module (`#[cfg(test)] mod tests { … }`), by
    # convention the file's last item, is test code.
    m = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def uses(module: tuple, text: str, files: dict) -> set:
    found = set()
    body = strip_comments(text)
    # `use` trees: expand `{a, b::c}` one level, enough for this code base.
    for m in re.finditer(r"\buse\s+([^;]+);", body):
        tree = re.sub(r"\s+", "", m.group(1))
        base, _, rest = tree.partition("{")
        items = [base] if not rest else [base + part for part in re.split(r",(?![^{]*\})", rest.rstrip("}")) if part]
        for item in items:
            target = path_of(module, item.split("{")[0], files)
            if target:
                found.add(target)
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", body):
        target = path_of(module, m.group(1), files)
        if target:
            found.add(target)
    found.discard(module)
    return found


def path_of(module: tuple, item: str, files: dict) -> tuple:
    parts = [p for p in item.split("::") if p and p not in ("self", "*")]
    if not parts:
        return None
    if parts[0] == "crate":
        return resolve(parts[1:], files)
    if parts[0] == "super":
        base = list(module)
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        return resolve(base + parts, files)
    return None


def circles(graph: dict) -> list:
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(module: tuple) -> str:
    return "::".join(module) or "crate"


def main() -> int:
    files = {module_of(p): p.read_text() for p in SRC.rglob("*.rs")}
    tests = test_only(files)
    files = {m: t for m, t in files.items() if m not in tests}
    graph = {m: uses(m, t, files) for m, t in files.items()}
    # A parent module that declares and re-exports its children is a
    # facade, not a dependency: only the children's own uses count.
    edges = [(a, b) for a, bs in graph.items() for b in sorted(bs) if not (b[: len(a)] == a)]
    graph = {m: {b for (a, b) in edges if a == m} for m in graph}
    up = [(a, b) for a, b in edges if LAYERS.index(layer_of(b)) > LAYERS.index(layer_of(a))]
    loops = circles(graph)
    print(f"{len(files)} files, {len(edges)} imports between them")
    print(f"circles: {len(loops)}")
    for c in loops:
        print("  " + " <-> ".join(name(m) for m in c))
    print(f"imports running back up the layers: {len(up)}")
    for a, b in up:
        print(f"  {name(a)} ({layer_of(a)}) -> {name(b)} ({layer_of(b)})")
    if "--edges" in sys.argv:
        for a, b in edges:
            print(f"{name(a)} -> {name(b)}")
    return 1 if loops or up else 0


if __name__ == "__main__":
    sys.exit(main())
