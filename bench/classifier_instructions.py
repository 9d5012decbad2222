"""Instructions per classification, by case and size, counted by valgrind's callgrind: a figure a noisy machine repeats.

Run: .venv/bin/python bench/classifier_instructions.py [--sizes 1024,8192,65536] [--calls 100] [--cases "NAME;..."]

Wall and CPU time on a shared machine move with the neighbours (`bench/bench_classifier.py` shows how much);
instructions executed do not. One Python process runs under callgrind with collection off; each case and size
is warmed up outside the count, then classified `--calls` times inside one `functools.reduce` call, the only
function callgrind collects in, and it writes a profile as each such call returns. A reduce over a no-op first
measures what the reduce itself costs per call, which is taken off. The cyclic garbage collector is off (a
classification makes no cycles; its passes would land in whichever cell crossed its threshold). Needs
`valgrind` on PATH (Python runs ≈ 50x slower under it: a few minutes for the default table). Hash
randomisation is pinned (PYTHONHASHSEED=0), so two runs of one tree count the same.
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
TOTALS = re.compile(rb"^totals: (\d+)", re.MULTILINE)
WARMUP = 20
# What the process runs: a no-op reduce (the overhead), then per cell a warm-up and a counted reduce.
CHILD = """
import functools, gc, sys
sys.path.insert(0, {bench!r})
from bench_classifier import cases
from classifier import classify
gc.disable()
functools.reduce(lambda acc, _: None, range({calls}), None)
for size in {sizes!r}:
    built = cases(size)
    for name in {names!r}:
        body, api = built[name]
        for _ in range({warmup}):
            classify(body, api=api)
        functools.reduce(lambda acc, _: classify(body, api=api), range({calls}), None)
"""


def count(names: list[str], sizes: list[int], calls: int) -> dict[tuple[str, int], float]:
    """Instructions per classification for each (case, size)."""
    code = CHILD.format(bench=str(HERE), sizes=sizes, names=names, warmup=WARMUP, calls=calls)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            "--dump-after=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            code,
        ]
        subprocess.run(command, env=env, capture_output=True, check=True)
        dumps = sorted(Path(tmp).glob("out.*"), key=lambda path: int(path.suffix[1:]))
        totals = []
        for path in dumps:
            match = TOTALS.search(path.read_bytes())
            totals.append(int(match.group(1)) if match else 0)
    if len(totals) != 1 + len(names) * len(sizes):
        raise RuntimeError(f"expected {1 + len(names) * len(sizes)} profiles from callgrind, got {len(totals)}")
    overhead, cells = totals[0], iter(totals[1:])
    return {(name, size): (next(cells) - overhead) / calls for size in sizes for name in names}


def main() -> int:
    sys.path.insert(0, str(HERE))
    from bench_classifier import cases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,8192,65536", help="text sizes in bytes")
    parser.add_argument("--calls", type=int, default=100, help="classifications counted per case and size")
    parser.add_argument("--cases", default="", help="case names separated by ';' (default: all)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    names = [n for n in args.cases.split(";") if n] or list(cases(1024))
    per_call = count(names, sizes, args.calls)
    print(f"{'case':<28} " + " ".join(f"{size:>10} B" for size in sizes) + "   (thousand instructions per call)")
    for name in names:
        print(f"{name:<28} " + " ".join(f"{per_call[name, size] / 1000:>12.1f}" for size in sizes))
    worst = [max(per_call[name, size] for name in names) / 1000 for size in sizes]
    print(f"{'worst':<28} " + " ".join(f"{value:>12.1f}" for value in worst))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
