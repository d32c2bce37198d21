# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/benchmarks.md: one `## NAME …` section per benchmark, each rewritten
when its benchmark runs again, the others left as they are."""

from pathlib import Path

HEADER = ("# Benchmarks\n\nResults of `bench/`; each benchmark keeps one section, rewritten "
          "when it is run again. See bench/README.md.\n")


def write_section(path, name, section):
    """Replaces the `## NAME …` section of path (or appends one)."""
    p = Path(path)
    text = p.read_text() if p.exists() else HEADER
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        if start is None and (line.startswith(f"## {name} ") or line.strip() == f"## {name}"):
            start = i
        elif start is not None and line.startswith("## "):
            end = i
            break
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = len(lines) if end is None else end
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    p.write_text(new)
