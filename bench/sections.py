"""Rewrites one generated section of BENCHMARKS.md: the text between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. Text outside the markers
(why a figure misses, what would close the gap) is written by hand and
left as it is."""

import pathlib
import sys

REPORT = pathlib.Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def markers(name):
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace(name, lines):
    """Puts `lines` between the section's markers; returns the section."""
    start, end = markers(name)
    section = "\n".join([start, *lines, end])
    text = REPORT.read_text()
    if start not in text or end not in text:
        sys.exit(f"{REPORT} has no {start} … {end} section")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    REPORT.write_text(before + section + after)
    return section
