#!/usr/bin/env python3
"""The spread of several benchmark runs: reads the Markdown tables that
`bash bench/run.sh --out FILE` wrote, one file per run, and prints every
table again with each figure as "last (min-max)" over the runs, and each
target's "met" column as how many runs met it.

    python3 bench/spread.py run1.md run2.md run3.md > spread.md

The last file is the dated run the README quotes; the others give the
spread. Rows are matched by their first cell (and the recipients column), so
a row missing from a run is shown with the runs that have it.
"""

import re
import sys

NUMBER = re.compile(r"^\**([0-9][0-9,]*(?:\.[0-9]+)?)\s*([%×]?)\**$")


def tables(path):
    """{heading: (header cells, [row cells])} in file order."""
    out = {}
    heading = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1]):
            header = cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            key = heading or "table"
            while key in out:
                key += " (again)"
            out[key] = (header, rows)
            continue
        i += 1
    return out


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def number(text):
    m = NUMBER.match(text)
    if not m:
        return None
    return float(m.group(1).replace(",", "")), m.group(2)


def fmt(value, unit, like):
    if "." in like:
        decimals = len(like.split(".")[1].rstrip("*%× "))
        text = f"{value:,.{decimals}f}"
    else:
        text = f"{value:,.0f}"
    return text + unit


# Columns that name a row besides the first one.
KEY_COLUMNS = ("rcpts",)


def row_key(header, row):
    """The cells that name a row: the first one and any KEY_COLUMNS."""
    return tuple(c for i, c in enumerate(row) if i == 0 or header[i] in KEY_COLUMNS)


def main(paths):
    runs = [tables(p) for p in paths]
    last = runs[-1]
    print(f"Spread over {len(runs)} runs ({', '.join(paths)}); each figure: last run (min–max).\n")
    for heading, (header, rows) in last.items():
        print(f"### {heading}\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            key = row_key(header, row)
            same = []
            for run in runs:
                table = run.get(heading)
                if not table:
                    continue
                for other in table[1]:
                    if len(other) == len(row) and row_key(table[0], other) == key:
                        same.append(other)
                        break
            out = []
            for col, text in enumerate(row):
                if col == 0 or header[col] in KEY_COLUMNS:
                    out.append(text)
                    continue
                if text in ("yes", "no", "**no**"):
                    met = sum(1 for r in same if r[col] == "yes")
                    out.append(f"{text} ({met}/{len(same)} runs)")
                    continue
                parsed = number(text)
                values = [number(r[col]) for r in same]
                values = [v[0] for v in values if v is not None]
                if parsed is None or len(values) < 2:
                    out.append(text)
                    continue
                lo, hi = min(values), max(values)
                out.append(f"{text} ({fmt(lo, parsed[1], text)}–{fmt(hi, parsed[1], text)})")
            print("| " + " | ".join(out) + " |")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
