"""How often the report's 95% intervals contain the truth, across seeds, over real HTTP.

Runs the truth test's explored world (tests/test_verdict_truth.py: known success rates per tier x
class, 20% agentic, 30% of auto traffic explored) once per seed through the emulator, the proxy and
the openai SDK, and counts the (tier, class) cells whose Wilson interval contains the world's rate,
and the runs whose verdict is the true one (dual_tier_pays). Usage:

    .venv/bin/python bench/verdict_coverage.py [--seeds 20] [--requests 400]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.world import run_world  # noqa: E402
from tests.test_verdict_truth import WORLD, config, true_rate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    covered = cells = decided = 0
    started = time.perf_counter()
    for seed in range(100, 100 + args.seeds):
        with contextlib.redirect_stderr(io.StringIO()):
            report = run_world(args.requests, 0.2, seed, config(explore={"share": 0.3, "seed": seed}), world=WORLD)
        missed = []
        for cell in report["measured"]["cells"]:
            if not cell["requests"]:
                continue
            lo, hi = cell["success_ci"]
            truth = true_rate(cell["tier"], cell["class"])
            cells += 1
            if lo <= truth <= hi:
                covered += 1
            else:
                missed.append(f"{cell['tier']}/{cell['class']} {cell['success_rate']:.3f} vs {truth:.3f}")
        decided += report["verdict"]["decision"] == "dual_tier_pays"
        print(f"seed {seed}: verdict {report['verdict']['decision']}; missed {', '.join(missed) or 'none'}")
    print(
        f"\n{covered} of {cells} cell intervals contain the true rate ({covered / cells:.1%}, 95% promised); "
        f"verdict dual_tier_pays (the truth) in {decided} of {args.seeds} runs; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
