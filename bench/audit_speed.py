"""How fast `routetax audit` reads logs, on one core, and whether its memory stays flat.

    .venv/bin/python bench/audit_speed.py            # ≈ 3 minutes; --lines N, --runs N

Writes logs of each format with lines of about 2 KB (bench/audit_logs.py, from the shipped
corpus, system prompts padded), then reads each in a child process pinned to one CPU and
prints lines per second (by the child's CPU time and by wall time) and its peak RSS. The
same format at a quarter of the lines shows whether memory grows with the input. Target
(issue 21): ≥ 50,000 lines/s on one core for typical 2 KB lines, constant memory.

The figures are the machine's of the moment: on a shared 2-core VM other work steals
cycles and caches, so run it twice and quote both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit_logs import write  # noqa: E402

TARGET = 50_000


def child(paths: list[str], fmt: str) -> None:
    """Read the logs the way `routetax audit` does, and report the cost."""
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    from metering.audit.formats import Format
    from metering.audit.scan import ScanOptions, scan
    from metering.audit.sources import Source
    from metering.tax import Assumptions, project

    wall, cpu = time.perf_counter(), time.process_time()
    tally = scan([Source(p) for p in paths], ScanOptions(Format(fmt)))
    project(tally, Assumptions())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"lines": tally.lines, "cpu_s": cpu, "wall_s": wall, "peak_mb": peak_mb}))


def part_only(paths: list[str], part: str) -> None:
    """CPU time of one part alone on a pairs log: `classify` (the classifier), or `loads` (reading and JSON
    parsing every line, the floor any Python reader of these logs pays on this machine)."""
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    import orjson

    from classifier import classify

    lines = 0
    cpu = time.process_time()
    if part == "loads":
        for path in paths:
            with open(path, "rb") as f:
                for line in f:
                    orjson.loads(line)
                    lines += 1
        cpu = time.process_time() - cpu
    else:
        bodies = []
        for path in paths:
            with open(path, "rb") as f:
                bodies.extend(orjson.loads(line)["request"] for line in f)
        lines = len(bodies)
        cpu = time.process_time()
        for body in bodies:
            classify(body, "chat" if "messages" in body else "responses")
        cpu = time.process_time() - cpu
    print(json.dumps({"lines": lines, "cpu_s": cpu, "wall_s": cpu, "peak_mb": 0}))


def measure(paths: list[Path], mode: str = "auto") -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, *map(str, paths)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def runs(paths: list[Path], n: int, mode: str = "auto") -> tuple[float, float, float, dict[str, float]]:
    """(best, median) lines/s by CPU time, median by wall time, over n runs; and the last run."""
    results = [measure(paths, mode) for _ in range(n)]
    cpu = sorted(r["lines"] / r["cpu_s"] for r in results)
    wall = sorted(r["lines"] / r["wall_s"] for r in results)
    return cpu[-1], statistics.median(cpu), statistics.median(wall), results[-1]


CASES = [  # name, generator format, file name, generator options
    ("pairs, 2 KB (long answers)", "pairs", "log.jsonl", {"answer_bytes": 1500}),
    ("pairs, 2 KB (long sys prompts)", "pairs", "log.jsonl", {"pad_to": 1400}),
    ("pairs, 2 KB, gzip", "pairs", "log.jsonl.gz", {"answer_bytes": 1500}),
    ("LiteLLM SpendLogs rows", "litellm", "log.jsonl", {"answer_bytes": 600}),
    ("OpenAI Batch input + output", "batch", "log.jsonl", {"answer_bytes": 600}),
    ("bodies (tokens estimated)", "bodies", "log.jsonl", {"pad_to": 1400}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        if a.child[0] in ("classify", "loads"):
            part_only(a.child[1:], a.child[0])
        else:
            child(a.child[1:], a.child[0])
        return
    print(
        f"routetax audit speed: {os.cpu_count()} CPUs visible, each read in a child pinned to CPU 0; "
        f"{a.lines:,} requests per log, {a.runs} runs each"
    )
    header = (
        f"{'log':<31} {'lines':>8} {'B/line':>6} {'lines/s CPU best':>16} {'median':>8} {'wall median':>11} "
        f"{'peak MB':>8} {'at 1/4':>7}"
    )
    print(header)
    judged = None
    classify_rates = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        for name, fmt, filename, options in CASES:
            kwargs = {"days": 14, "share_start": 0.3, "share_end": 0.45, "pad_to": 0, "seed": 21, **options}
            paths = write(fmt, Path(tmp) / f"{fmt}-{filename}", lines=a.lines, **kwargs)
            small = write(fmt, Path(tmp) / f"small-{fmt}-{filename}", lines=a.lines // 4, **kwargs)
            best, median, wall, last = runs(paths, a.runs)
            quarter = measure(small)
            total_bytes = sum(p.stat().st_size for p in paths)
            size = "gzip" if filename.endswith(".gz") else f"{total_bytes / last['lines']:,.0f}"
            print(
                f"{name:<31} {last['lines']:>8,} {size:>6} {best:>16,.0f} {median:>8,.0f} {wall:>11,.0f} "
                f"{last['peak_mb']:>8.1f} {quarter['peak_mb']:>7.1f}",
                flush=True,
            )
            if fmt == "pairs" and not filename.endswith(".gz"):
                classify_rates.append((name, runs(paths, a.runs, "classify")[0], runs(paths, a.runs, "loads")[0]))
                judged = judged or (best, median, last["peak_mb"] - quarter["peak_mb"])
            for path in (*paths, *small):
                path.unlink()
    for name, classify_rate, loads_rate in classify_rates:
        print(
            f"{name}, parts alone (best): classifier.classify {classify_rate:,.0f}/s ({1e6 / classify_rate:.1f} us "
            f"each); reading + orjson.loads of each line {loads_rate:,.0f}/s ({1e6 / loads_rate:.1f} us)"
        )
    assert judged is not None
    best, median, growth = judged
    print(
        f"target >= {TARGET:,} lines/s on one core, typical 2 KB lines (first row, best of {a.runs} by CPU time): "
        f"{'met' if best >= TARGET else 'MISSED'} ({best:,.0f}; median {median:,.0f}); "
        f"peak memory from 1/4 to all lines: {growth:+.1f} MB"
    )
    print(
        f"load average after measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(a shared 2-core machine: other work competes for both cores and their caches)"
    )


if __name__ == "__main__":
    main()
