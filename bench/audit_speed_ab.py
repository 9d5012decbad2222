"""An A/B of `routetax audit`'s reading speed: two or more checkouts read the same logs, taking turns.

    .venv/bin/python bench/audit_speed_ab.py before=/path/to/checkout after=. --lines 20000 --runs 3
    .venv/bin/python bench/audit_speed_ab.py before=/path/to/checkout after=. --instructions --lines 1000

Writes the logs of bench/audit_speed.py's cases (without the gzip one), then reads each with every checkout's own
`bench/audit_speed.py --child` in turn — one child at a time, pinned to one core, the checkouts alternating within
each round so that the machine's load falls on all of them alike — and prints the best of the runs by CPU time in
µs a line, with each checkout's change against the first. CPU time, not wall time: on a shared machine the
neighbours' work moves wall time far more (docs/audit.md, Speed and memory).

`--instructions`: instructions a request instead (valgrind's cachegrind), which the neighbours do not move at all:
each checkout reads a log of `--lines` requests and one of three times as many, and the difference is divided by
the requests between them, so start-up (imports, the classifier's tables) is left out. Python's string hashes are
seeded afresh in every process, which moves dict and set probing; the children run with PYTHONHASHSEED=0 so that two
runs of the same code count (nearly) the same. One run per checkout, ≈ 1 minute each at 1,000 and 3,000 requests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_logs import write  # noqa: E402
from audit_speed import CASES  # noqa: E402


def read_with(checkout: Path, paths: list[Path]) -> float:
    """CPU µs a line for one checkout reading `paths` in a child pinned to one core."""
    out = subprocess.run(
        [sys.executable, str(checkout / "bench" / "audit_speed.py"), "--child", "auto", *map(str, paths)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["cpu_s"] / result["lines"] * 1e6


def instructions_with(checkout: Path, paths: list[Path]) -> int:
    """Instructions (cachegrind's Ir) one checkout's child takes to read `paths`, with the hash seed fixed."""
    with tempfile.NamedTemporaryFile(prefix="audit-ab-", suffix=".cachegrind") as out:
        subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out.name}",
                sys.executable,
                str(checkout / "bench" / "audit_speed.py"),
                "--child",
                "auto",
                *map(str, paths),
            ],
            cwd=checkout,
            env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"},
            check=True,
            capture_output=True,
        )
        for line in Path(out.name).read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("cachegrind wrote no summary")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkouts", nargs="+", help="name=path of a checkout (the first is the baseline)")
    p.add_argument("--lines", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--instructions", action="store_true", help="instructions a request by cachegrind, not CPU time")
    a = p.parse_args()
    checkouts = {name: Path(path).resolve() for name, path in (c.split("=", 1) for c in a.checkouts)}
    if a.instructions:
        print(f"instructions a request (cachegrind, {a.lines:,} → {3 * a.lines:,} requests a log, PYTHONHASHSEED=0)")
    else:
        print(f"µs a line by CPU time, best of {a.runs}; {a.lines:,} requests a log; checkouts taking turns")
    print(f"{'log':<31}" + "".join(f"{name:>18}" for name in checkouts))
    with tempfile.TemporaryDirectory(prefix="audit-ab-") as tmp:
        for name, fmt, filename, options in CASES:
            if filename.endswith(".gz"):
                continue
            kwargs = {"days": 14, "share_start": 0.3, "share_end": 0.45, "pad_to": 0, "seed": 21, **options}
            paths = write(fmt, Path(tmp) / f"{fmt}-{filename}", lines=a.lines, **kwargs)
            if a.instructions:
                more = write(fmt, Path(tmp) / f"more-{fmt}-{filename}", lines=3 * a.lines, **kwargs)
                each = [
                    (instructions_with(path, more) - instructions_with(path, paths)) / (2 * a.lines)
                    for path in checkouts.values()
                ]
                cells = [f"{n:,.0f}" + (f" ({100 * (n / each[0] - 1):+.1f}%)" if i else "") for i, n in enumerate(each)]
                paths += more
            else:
                best: dict[str, float] = {}
                for _ in range(a.runs):
                    for checkout, path in checkouts.items():
                        best[checkout] = min(best.get(checkout, float("inf")), read_with(path, paths))
                base = next(iter(best.values()))
                cells = [
                    f"{us:.1f}" + (f" ({100 * (us / base - 1):+.0f}%)" if i else "")
                    for i, us in enumerate(best.values())
                ]
            print(f"{name:<31}" + "".join(f"{cell:>18}" for cell in cells), flush=True)
            for path in paths:
                path.unlink()
    print(f"load average after measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
