"""How fast `routetax audit` reads logs, on one core, and whether its memory stays flat.

    .venv/bin/python bench/audit_speed.py            # ≈ 1-2 minutes; --lines N to change the size

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit_logs import write  # noqa: E402

TARGET = 50_000
LINE_BYTES = 2048


def child(paths: list[str], fmt: str) -> None:
    """Read the logs the way `routetax audit` does, and report the cost."""
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    from metering.audit.formats import Format
    from metering.audit.project import Assumptions, project
    from metering.audit.scan import ScanOptions, scan
    from metering.audit.sources import Source

    wall, cpu = time.perf_counter(), time.process_time()
    tally = scan([Source(p) for p in paths], ScanOptions(Format(fmt)))
    project(tally, Assumptions())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bytes_read = sum(os.path.getsize(p) for p in paths)
    print(json.dumps({"lines": tally.lines, "requests": tally.requests, "cpu_s": cpu, "wall_s": wall,
                      "peak_mb": peak_mb, "bytes": bytes_read}))


def measure(paths: list[Path], fmt: str = "auto") -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", fmt, *map(str, paths)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child[1:], a.child[0])
        return
    print(f"routetax audit speed: {os.cpu_count()} CPUs visible, child pinned to CPU 0; {a.lines:,} lines per log")
    cases = [
        ("pairs (logged usage)", "pairs", "log.jsonl"),
        ("pairs, gzip", "pairs", "log.jsonl.gz"),
        ("LiteLLM SpendLogs rows", "litellm", "log.jsonl"),
        ("OpenAI Batch input + output", "batch", "log.jsonl"),
        ("bodies (tokens estimated)", "bodies", "log.jsonl"),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        for name, fmt, filename in cases:
            kwargs = dict(days=14, share_start=0.3, share_end=0.45, pad_to=LINE_BYTES - 600, seed=21)
            paths = write(fmt, Path(tmp) / f"{fmt}-{filename}", lines=a.lines, **kwargs)
            small = write(fmt, Path(tmp) / f"small-{fmt}-{filename}", lines=a.lines // 4, **kwargs)
            full, quarter = measure(paths), measure(small)
            raw = sum(os.path.getsize(p) for p in paths) if not filename.endswith(".gz") else None
            line_bytes = (raw or 0) / full["lines"] if raw else None
            rows.append((name, full, quarter, line_bytes))
            for path in (*paths, *small):
                path.unlink()
    print(f"{'log':<30} {'lines':>8} {'bytes/line':>10} {'lines/s CPU':>12} {'lines/s wall':>13} "
          f"{'peak MB':>8} {'peak MB at 1/4':>15}")
    for name, full, quarter, line_bytes in rows:
        size = f"{line_bytes:,.0f}" if line_bytes else "(gzip)"
        print(f"{name:<30} {full['lines']:>8,} {size:>10} {full['lines'] / full['cpu_s']:>12,.0f} "
              f"{full['lines'] / full['wall_s']:>13,.0f} {full['peak_mb']:>8.1f} {quarter['peak_mb']:>15.1f}")
    typical = rows[0][1]
    rate = typical["lines"] / typical["cpu_s"]
    growth = rows[0][1]["peak_mb"] - rows[0][2]["peak_mb"]
    print(f"target ≥ {TARGET:,} lines/s on one core (typical 2 KB lines, logged usage): "
          f"{'met' if rate >= TARGET else 'MISSED'} ({rate:,.0f}); memory from 1/4 to all lines: {growth:+.1f} MB")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(shared machine: other work competes for both cores)")


if __name__ == "__main__":
    main()
