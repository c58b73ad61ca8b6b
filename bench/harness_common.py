"""What the benchmark harness's parts share (standard library only): where
things are, the client description, and the helpers that run clients
repeatedly and format figures. Imported by harness.py and the section
modules (harness_speed.py)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
TARGET = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
SENDER = "bench@example.test"
DOMAIN = "example.test"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Client:
    """One client program and how to run it."""

    def __init__(self, key, label, cmd, env=None, available=True, why=""):
        self.key, self.label, self.cmd = key, label, cmd
        self.env = env or {}
        self.available, self.why = available, why


def best_of(h, keys, reps, quick_below, run_one):
    """Runs each client once, then (in rounds, so that every client sees
    the same machine load) up to reps - 1 more times for clients whose run
    took less than quick_below seconds; keeps each client's fastest run."""
    rows = {}
    for rep in range(reps):
        for key in keys:
            prev = rows.get(key)
            if rep > 0 and not (prev and prev["ok"] and prev["seconds"] < quick_below):
                continue
            r = run_one(key)
            r["runs"] = (prev or {}).get("runs", 0) + 1
            if prev is None or (r["ok"] and r["seconds"] < prev["seconds"]):
                rows[key] = r
            elif prev is not None:
                prev["runs"] = r["runs"]
            if not r["ok"]:
                rows[key] = r
    return rows


def fmt(x, digits=1, na="–"):
    if x is None:
        return na
    return f"{x:,.{digits}f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}×"


def cell_fail(r):
    return r.get("na") or "FAILED"
