"""How often the break-even share's bootstrap interval contains the truth, and what it costs over 100,000 tasks.

Draws task data from cells with known costs and success rates (tests/test_break_even.py: dual's
routed nano single-turn and mini agentic cells, mini-only's mini cells, 60% of outcomes judged),
once per seed, and counts the intervals (metering/tax/break_even.py, the report's budget) that contain
the true break-even share. Then times one report's interval over 100,000 tasks. Usage:

    .venv/bin/python bench/break_even_coverage.py [--seeds 500] [--tasks 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metering.tax.break_even import MAX_DRAWS, RESAMPLES, break_even  # noqa: E402
from tests.test_break_even import CELLS, OFFSETS, TRUE_SHARE, synthetic_strata  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    hits = 0
    widths = []
    for seed in range(args.seeds):
        lo, hi = break_even(synthetic_strata(seed), OFFSETS).ci
        hits += lo <= TRUE_SHARE <= hi
        widths.append(hi - lo)
    print(
        f"true break-even {TRUE_SHARE:.4f}: {hits} of {args.seeds} intervals contain it ({hits / args.seeds:.1%}), "
        f"mean width {sum(widths) / len(widths):.3f} ({RESAMPLES} resamples, at most {MAX_DRAWS} draws a cell)"
    )
    per_draw = sum(tasks for *_, tasks, _d, _m in CELLS.values())
    scale = max(1, args.tasks // per_draw)
    strata = synthetic_strata(0, scale=scale)
    started = time.perf_counter()
    found = break_even(strata, OFFSETS)
    elapsed = time.perf_counter() - started
    print(f"{per_draw * scale} tasks: {found.point:.4f} {list(found.ci)} in {elapsed * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
