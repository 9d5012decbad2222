"""Instructions per classification, by case and size, counted by valgrind's callgrind: a figure a noisy machine repeats.

Run: .venv/bin/python bench/classifier_instructions.py [--sizes 1024,8192,65536] [--calls 50,250] [--cases "NAME;..."]

Wall and CPU time on a shared machine move with the neighbours (`bench/bench_classifier.py` shows how much);
instructions executed do not. Each case and size runs in two processes under callgrind that differ only in how
many classifications they make after the same warm-up (`--calls`, e.g. 50 and 250); the difference of their
instruction totals divided by the difference of calls is the cost of one classification, startup and warm-up
cancelled out. Needs `valgrind` on PATH; each process takes a few seconds (Python runs ≈ 50x slower under it).
Hash randomisation is pinned (PYTHONHASHSEED=0) so two runs count the same.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOTAL = re.compile(rb"Collected : (\d+)")
WARMUP = 20
# What one process runs: the case's body built, WARMUP classifications, then the counted ones.
CHILD = """
import sys
sys.path.insert(0, {bench!r})
from bench_classifier import cases
from classifier import classify
body, api = cases({size})[{name!r}]
for _ in range({warmup} + {calls}):
    classify(body, api=api)
"""


def instructions(name: str, size: int, calls: int) -> int:
    """Instructions executed by a whole process that classifies the case `calls` times after the warm-up."""
    code = CHILD.format(bench=str(HERE), size=size, name=name, warmup=WARMUP, calls=calls)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, "-c", code]
        done = subprocess.run(command, env=env, capture_output=True, check=True)
    match = TOTAL.search(done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total for {name} at {size} B: {done.stderr[-500:]!r}")
    return int(match.group(1))


def per_call(name: str, size: int, low: int, high: int) -> float:
    return (instructions(name, size, high) - instructions(name, size, low)) / (high - low)


def main() -> int:
    sys.path.insert(0, str(HERE))
    from bench_classifier import cases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,8192,65536", help="text sizes in bytes")
    parser.add_argument("--calls", default="50,250", help="classifications in the two processes compared")
    parser.add_argument("--cases", default="", help="case names separated by ';' (default: all)")
    args = parser.parse_args()
    low, high = (int(x) for x in args.calls.split(","))
    sizes = [int(x) for x in args.sizes.split(",")]
    names = [n for n in args.cases.split(";") if n] or list(cases(1024))
    print(f"{'case':<28} " + " ".join(f"{size:>10} B" for size in sizes) + "   (thousand instructions per call)")
    worst = dict.fromkeys(sizes, 0.0)
    for name in names:
        row = []
        for size in sizes:
            value = per_call(name, size, low, high) / 1000
            worst[size] = max(worst[size], value)
            row.append(value)
        print(f"{name:<28} " + " ".join(f"{value:>12.1f}" for value in row), flush=True)
    print(f"{'worst':<28} " + " ".join(f"{worst[size]:>12.1f}" for size in sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
