"""The task-level truth check: the report per completed task against the demo's task world, over real HTTP.

Runs the demo's world of tasks (demo/world.py: agent tool loops, text-protocol and Responses loops, single
calls, conversations, driven through the openai SDK) in-process, once per seed, and checks the report's
task-level figures against what the world was drawn from (issue 28, "how we will know"):

1. **Coverage.** Feedback on 60% of the tasks and the rest unknown (no task abandoned, so every task
   without feedback is an unknown, none a detected failure): the share of measured cells whose judged-rate
   95% interval contains the world's true task success rate (about 95% promised), and the share whose bounds
   (unknowns as failures, as successes) contain it (all of them). A cell's true rate is its arm's stated rate
   for the class, mixed with the fallback tiers' where the world's detectable degrades make the first step be
   redone (the task stays in its arm's cell, its answer comes from the next tier of the arm's chain).
2. **The cheapest.** The same runs: the world is one where nano-only is cheapest per completed task (from the
   world's true rates and the cost per task pooled over every run, printed with every policy's), and the
   verdict must never name another policy: how often `verdict.cheapest` says nano-only, undecided, other.
   The runs set `report.outcomes_are_a_sample: true` (the world's feedback *is* a random sample of its
   tasks); the decision the stricter default (the bounds too) would take is recomputed from the same
   policies' intervals and bounds and counted beside it.
3. **All agentic.** 100% agentic, exploration off: dual − mini-only per completed task against
   (infrastructure + classifier) per completed task, which must be equal (to float rounding).
4. **Redo on full.** `report.failure_remedy: {redo_on: full}`, full among the explored tiers: every policy's
   cost per completed task, interval and bounds, and the break-even share, against the same arithmetic done
   here from the report's own cells.

Prints a PASS/MISS line per check and writes bench/results/task_truth.json. Usage:

    .venv/bin/python bench/task_truth.py [--seeds 10] [--tasks 200] [--agentic-share 0.3] [--explore 0.5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.tasks import TaskMix  # noqa: E402
from demo.world import DEMO_ROUTER_HOUR_USD, World, run_world  # noqa: E402
from metering.break_even import crossing  # noqa: E402
from router.config import Config  # noqa: E402

CLASSES = ("single_turn", "agentic")
CLASSIFIER_USD = 0.00001  # a classifier that costs something, so that its line is not 0 in check 3
MIX = TaskMix(feedback_share=0.6, abandoned_share=0.0)  # 60% of tasks judged by the application, the rest unknown
WORLD = World(mix=MIX)
POLICY_TIERS = {"nano_only": "nano", "mini_only": "mini", "qwen_only": "qwen"}
RESULTS = Path(__file__).resolve().parent / "results" / "task_truth.json"
REL = 1e-12  # "equal": the same figure up to float rounding


def config(explore: float, seed: int, tiers: list[str] | None = None, **report: Any) -> Config:
    explore_cfg: dict[str, Any] = {"share": explore, "seed": seed}
    if tiers:
        explore_cfg["tiers"] = tiers
    return Config.model_validate(
        {
            "report": {"router_hour_usd": DEMO_ROUTER_HOUR_USD, "classifier_usd_per_request": CLASSIFIER_USD, **report},
            "policy": {"explore": explore_cfg},
        }
    )


def true_rate(world: World, cfg: Config, tier: str, label: str) -> float:
    """A cell's true task success rate: the arm's stated rate, mixed along its chain where the first step degrades.

    A task's success is drawn by the tier that *answered* its first step (demo/application.py); a degraded answer
    is redone on the next tier of the arm's chain (the last tier's answer is kept), while the task stays in the
    cell of its arm, the tier its first step was sent to.
    """
    chain = cfg.chain(tier)
    reach, rate = 1.0, 0.0
    for i, name in enumerate(chain):
        last = i == len(chain) - 1
        degrade = 0.0 if last else world.degrade.get(cfg.tiers[name].model, {}).get(label, 0.0)
        rate += reach * (1 - degrade) * world.task_success[(name, label)]
        reach *= degrade
    return rate


def run(tasks: int, share: float, seed: int, cfg: Config, world: World = WORLD) -> dict[str, Any]:
    with contextlib.redirect_stderr(io.StringIO()):
        return run_world(tasks, share, seed, cfg, world=world)


def contains(interval: list[float | None], value: float) -> bool:
    lo, hi = interval
    return lo is not None and hi is not None and lo <= value <= hi


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-300)


def misread_classes(report: Mapping[str, Any]) -> int:
    """Tasks whose class as the router read it (agentic if any step was), or whose first step's label, is not the
    class the world gave them: the true rates above assume both are."""
    wrong = 0
    for task in report["demo"]["tasks"]:
        read = "agentic" if "agentic" in task["classes"] else "single_turn"
        wrong += read != task["class"] or (task["classes"][:1] or [None])[0] != task["class"]
    return wrong


# -- check 1 and 2 --------------------------------------------------------------------------------------------


def binomial_range(n: int, p: float, mass: float = 0.99) -> tuple[int, int]:
    """The central `mass` range of Binomial(n, p): counts outside it are unlikely if the promise holds."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    tail = (1 - mass) / 2
    lo, acc = 0, 0.0
    while acc + pmf[lo] <= tail:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf[hi] <= tail:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


def strict_cheapest(policies: Mapping[str, Mapping[str, Any]]) -> str:
    """The verdict's rule with `outcomes_are_a_sample` off, from the report's policies: the lowest point, named
    only when its interval and bounds lie wholly below every other measured policy's interval and bounds."""
    priced = {n: p for n, p in policies.items() if p["measured"] and p.get("cost_per_completed_task_usd") is not None}
    if len(priced) < 2:
        return "undecided"

    def span(p: Mapping[str, Any]) -> tuple[float, float]:
        ends = [p["ci"], p["bounds"]]
        lows = [e[0] for e in ends if e[0] is not None]
        high = math.inf if any(e[1] is None for e in ends) else max(e[1] for e in ends)
        return (min(lows) if lows else 0.0), high

    best = min(priced, key=lambda n: priced[n]["cost_per_completed_task_usd"])
    top = span(priced[best])[1]
    return best if all(span(priced[n])[0] > top for n in priced if n != best) else "undecided"


def true_policies(reports: list[dict[str, Any]], share: float, cfg: Config) -> dict[str, float]:
    """Every policy's true cost per completed task in the world: the world's true rates, and each cell's cost per
    task pooled over all the runs (cost is measured, not sampled from a few judged outcomes)."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    fixed = [0.0, 0]
    for report in reports:
        tasks = report["measured"]["tasks"]
        for cell in tasks["cells"]:
            if cell["tasks"]:
                acc = spent[f"{cell['tier']}/{cell['class']}"]
                acc[0] += cell["cost_per_task_usd"] * cell["tasks"]
                acc[1] += cell["tasks"]
        for cell in tasks["dual_routed"]:
            acc = spent[f"dual/{cell['class']}"]
            acc[0] += cell["cost_per_task_usd"] * cell["tasks"]
            acc[1] += cell["tasks"]
        fixed[0] += tasks["policies"]["dual"]["fixed_per_task_usd"] * tasks["tasks"]
        fixed[1] += tasks["tasks"]
    cost = {name: total / n for name, (total, n) in spent.items() if n}
    weight = {"single_turn": 1 - share, "agentic": share}
    routed = {"single_turn": cfg.policy.single_turn, "agentic": cfg.policy.agentic}
    arms = {
        **{name: dict.fromkeys(CLASSES, tier) for name, tier in POLICY_TIERS.items()},
        "agentic_to_qwen": {"single_turn": cfg.policy.single_turn, "agentic": "qwen"},
        "dual": routed,
    }
    out = {}
    for name, tiers in arms.items():
        keys = {c: (f"dual/{c}" if name == "dual" else f"{tiers[c]}/{c}") for c in CLASSES}
        if any(key not in cost for key in keys.values()):
            continue
        extra = fixed[0] / fixed[1] if name == "dual" else 0.0
        money = sum(weight[c] * (cost[keys[c]] + extra) for c in CLASSES)
        done = sum(weight[c] * true_rate(WORLD, cfg, tiers[c], c) for c in CLASSES)
        out[name] = money / done
    return out


def coverage_and_cheapest(args: argparse.Namespace) -> dict[str, Any]:
    cfg0 = config(args.explore, 0, outcomes_are_a_sample=True)
    per_cell: dict[str, dict[str, Any]] = defaultdict(lambda: {"cells": 0, "ci_hits": 0, "bound_hits": 0})
    misses: list[dict[str, Any]] = []
    verdicts: dict[str, int] = defaultdict(int)
    strict: dict[str, int] = defaultdict(int)
    reports, seeds = [], []
    unjudged = misread = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.perf_counter()
        report = run(args.tasks, args.agentic_share, seed, config(args.explore, seed, outcomes_are_a_sample=True))
        reports.append(report)
        tasks = report["measured"]["tasks"]
        missed = []
        for cell in tasks["cells"]:
            if not cell["tasks"]:
                continue
            name = f"{cell['tier']}/{cell['class']}"
            truth = true_rate(WORLD, cfg0, cell["tier"], cell["class"])
            if not cell["judged_tasks"]:
                unjudged += 1
                continue
            in_ci, in_bounds = contains(cell["success_ci"], truth), contains(cell["success_bounds"], truth)
            stats = per_cell[name]
            stats["cells"] += 1
            stats["ci_hits"] += in_ci
            stats["bound_hits"] += in_bounds
            if not (in_ci and in_bounds):
                miss = {
                    "seed": seed,
                    "cell": name,
                    "truth": truth,
                    "tasks": cell["tasks"],
                    "judged": cell["judged_tasks"],
                    "successes": cell["outcomes"]["feedback"]["success"] + cell["outcomes"]["judge"]["success"],
                    "rate": cell["success_rate"],
                    "ci": cell["success_ci"],
                    "bounds": cell["success_bounds"],
                    "missed": [w for w, hit in (("ci", in_ci), ("bounds", in_bounds)) if not hit],
                }
                misses.append(miss)
                missed.append(f"{name} {'+'.join(miss['missed'])} {cell['success_rate']:.3f} vs {truth:.3f}")
        cheapest = report["verdict"]["cheapest"]
        verdicts[cheapest if cheapest in ("nano_only", "undecided") else "other"] += 1
        strict_word = strict_cheapest(tasks["policies"])
        strict[strict_word if strict_word in ("nano_only", "undecided") else "other"] += 1
        wrong = misread_classes(report)
        misread += wrong
        seeds.append(
            {
                "seed": seed,
                "tasks": tasks["tasks"],
                "coverage": tasks["coverage"],
                "cheapest": cheapest,
                "cheapest_point": report["verdict"]["cheapest_point"],
                "cheapest_strict": strict_word,
                "misread_classes": wrong,
                "points": {n: p["cost_per_completed_task_usd"] for n, p in tasks["policies"].items()},
            }
        )
        print(
            f"seed {seed}: {tasks['tasks']} tasks, coverage {tasks['coverage']:.2f}, cheapest {cheapest} "
            f"(point {report['verdict']['cheapest_point']}; bounds too: {strict_word}); "
            f"missed {', '.join(missed) or 'none'}; {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    cells = sum(s["cells"] for s in per_cell.values())
    ci_hits = sum(s["ci_hits"] for s in per_cell.values())
    bound_hits = sum(s["bound_hits"] for s in per_cell.values())
    truth = true_policies(reports, args.agentic_share, cfg0)
    return {
        "world": {
            "tasks": args.tasks,
            "agentic_share": args.agentic_share,
            "explore": args.explore,
            "feedback_share": MIX.feedback_share,
            "abandoned_share": MIX.abandoned_share,
            "true_rates": {
                f"{t}/{c}": true_rate(WORLD, cfg0, t, c) for t in ("nano", "mini", "qwen", "full") for c in CLASSES
            },
        },
        "cells": cells,
        "ci_hits": ci_hits,
        "bound_hits": bound_hits,
        "ci_expected_99": binomial_range(cells, 0.95) if cells else None,
        "unjudged_cells": unjudged,
        "misread_task_classes": misread,
        "per_cell": dict(per_cell),
        "misses": misses,
        "true_cost_per_completed_task": truth,
        "true_cheapest": min(truth, key=truth.get) if truth else None,
        "verdicts": dict(verdicts),
        "verdicts_bounds_too": dict(strict),
        "seeds": seeds,
    }


# -- check 3 --------------------------------------------------------------------------------------------------


def all_agentic(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.agentic_seeds):
        report = run(args.agentic_tasks, 1.0, seed, config(0.0, seed))
        tasks = report["measured"]["tasks"]
        dual, mini = tasks["policies"]["dual"], tasks["policies"]["mini_only"]
        parts = report["measured"]["overhead_parts_usd"]
        fixed = parts["infrastructure"] + parts["classifier"]
        completions = sum(tasks["by_class"][c] * dual["success_rate"][c] for c in dual["success_rate"])
        gap = (dual["cost_per_completed_task_usd"] or math.nan) - (mini["cost_per_completed_task_usd"] or math.nan)
        per_completed = fixed / completions if completions else math.nan
        cells = [c for c in tasks["cells"] if c["tasks"]]
        rows.append(
            {
                "seed": seed,
                "tasks": tasks["tasks"],
                "by_class": tasks["by_class"],
                "cells": {f"{c['tier']}/{c['class']}": c["tasks"] for c in cells},
                "dual": dual["cost_per_completed_task_usd"],
                "mini_only": mini["cost_per_completed_task_usd"],
                "dual_minus_mini": gap,
                "fixed_usd": fixed,
                "fixed_per_completed_task": per_completed,
                "difference": gap - per_completed,
                "equal": close(gap, per_completed),
                "misread_classes": misread_classes(report),
            }
        )
        print(
            f"seed {seed} (100% agentic, no exploration): dual − mini-only {gap:.12e}, (infrastructure + "
            f"classifier) per completed task {per_completed:.12e}, difference {gap - per_completed:.3e}; "
            f"cells {rows[-1]['cells']}",
            flush=True,
        )
    return {"runs": rows, "equal": all(r["equal"] for r in rows)}


# -- check 4 --------------------------------------------------------------------------------------------------


def by_hand(tasks: Mapping[str, Any]) -> dict[str, Any]:
    """Every policy's figures with failures redone on full, from the report's cells alone (docs/routing-tax.md)."""
    cells = {f"{c['tier']}/{c['class']}": c for c in tasks["cells"]}
    cells.update({f"dual/{c['class']}": c for c in tasks["dual_routed"]})
    mix = tasks["by_class"]
    fixed = tasks["policies"]["dual"]["fixed_per_task_usd"]
    redo = {c: cells[f"full/{c}"] for c in mix}

    def figure(policy: str, arms: Mapping[str, str], pick: Any, redo_pick: Any) -> float | None:
        spent = completed = 0.0
        for c, n in mix.items():
            cell = cells[arms[c]]
            cost = cell["cost_per_task_usd"] + (fixed if policy == "dual" else 0.0)
            rate, full_rate = pick(cell), redo_pick(redo[c])
            if rate is None or full_rate is None:
                return None
            spent += n * (cost + (1 - rate) * redo[c]["cost_per_task_usd"])
            completed += n * (rate + (1 - rate) * full_rate)
        return spent / completed if completed > 0 else None

    out = {}
    for name, policy in tasks["policies"].items():
        if not policy["measured"]:
            continue
        arms = policy["cells"]
        point = figure(name, arms, lambda c: c["success_rate"], lambda c: c["success_rate"])
        ci = [
            figure(name, arms, lambda c, e=end: c["success_ci"][e], lambda c, e=end: c["success_ci"][e])
            for end in (1, 0)
        ]
        bounds = [
            figure(name, arms, lambda c, e=end: c["success_bounds"][e], lambda c, e=end: c["success_bounds"][e])
            for end in (1, 0)
        ]
        out[name] = {"point": point, "ci": ci, "bounds": bounds}

    def line(names: Mapping[str, str], extra: float) -> dict[str, tuple[float, float]]:
        lines = {}
        for c in CLASSES:
            cell, full = cells[names[c]], redo[c]
            cost, rate = cell["cost_per_task_usd"] + extra, cell["success_rate"]
            lines[c] = (
                cost + (1 - rate) * full["cost_per_task_usd"],
                rate + (1 - rate) * full["success_rate"],
            )
        return lines

    dual = line({c: f"dual/{c}" for c in CLASSES}, fixed)
    mini = line({c: f"mini/{c}" for c in CLASSES}, 0.0)
    out["break_even_share"] = crossing(dual, mini)
    return out


def redo_on_full(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    tiers = ["nano", "mini", "qwen", "full"]
    for seed in range(args.first_seed, args.first_seed + args.redo_seeds):
        cfg = config(args.explore, seed, tiers, failure_remedy={"redo_on": "full"})
        report = run(args.tasks, args.agentic_share, seed, cfg)
        tasks = report["measured"]["tasks"]
        hand = by_hand(tasks)
        compared, wrong = 0, []
        for name, figures in hand.items():
            if name == "break_even_share":
                continue
            policy = tasks["policies"][name]
            pairs = [("point", figures["point"], policy["cost_per_completed_task_usd"])]
            pairs += [(f"ci[{i}]", figures["ci"][i], policy["ci"][i]) for i in (0, 1)]
            pairs += [(f"bounds[{i}]", figures["bounds"][i], policy["bounds"][i]) for i in (0, 1)]
            for what, mine, theirs in pairs:
                compared += 1
                if not close(mine, theirs):
                    wrong.append(f"{name} {what}: by hand {mine} report {theirs}")
        compared += 1
        share = tasks["break_even"]["share"]
        if not close(hand["break_even_share"], share):
            wrong.append(f"break_even share: by hand {hand['break_even_share']} report {share}")
        rows.append(
            {
                "seed": seed,
                "remedy": tasks["failure_remedy"],
                "figures_compared": compared,
                "disagree": wrong,
                "by_hand": hand,
                "report": {
                    n: {"point": p["cost_per_completed_task_usd"], "ci": p["ci"], "bounds": p["bounds"]}
                    for n, p in tasks["policies"].items()
                },
                "break_even": tasks["break_even"],
                "cheapest": report["verdict"]["cheapest"],
                "cheapest_point": report["verdict"]["cheapest_point"],
            }
        )
        points = ", ".join(
            f"{n} {p['cost_per_completed_task_usd']:.6f}"
            for n, p in tasks["policies"].items()
            if p["cost_per_completed_task_usd"] is not None
        )
        print(
            f"seed {seed} (redo on full): {compared} figures by hand, {len(wrong)} disagree; {points}; "
            f"break-even {share}; {tasks['failure_remedy']['text']}",
            flush=True,
        )
    return {"runs": rows, "agree": all(not r["disagree"] for r in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs of checks 1 and 2")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--agentic-share", type=float, default=0.3)
    parser.add_argument("--explore", type=float, default=0.5)
    parser.add_argument("--agentic-seeds", type=int, default=2, help="runs of check 3")
    parser.add_argument("--agentic-tasks", type=int, default=80)
    parser.add_argument("--redo-seeds", type=int, default=2, help="runs of check 4")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()

    one = coverage_and_cheapest(args)
    cells, ci_hits, bound_hits = one["cells"], one["ci_hits"], one["bound_hits"]
    lo, hi = one["ci_expected_99"] or (0, 0)
    print("\nper cell (judged-rate interval / bounds contain the true rate):")
    for name, stats in sorted(one["per_cell"].items()):
        truth = one["world"]["true_rates"].get(name)
        n = stats["cells"]
        print(f"  {name:20s} true {truth:.4f}: {stats['ci_hits']}/{n} / {stats['bound_hits']}/{n}")
    for miss in one["misses"]:
        print(
            f"  missed ({'+'.join(miss['missed'])}): seed {miss['seed']} {miss['cell']} {miss['successes']}/"
            f"{miss['judged']} judged of {miss['tasks']} tasks, ci {miss['ci']}, bounds {miss['bounds']}, "
            f"truth {miss['truth']:.4f}"
        )
    print(
        "true cost per completed task (true rates, pooled costs): "
        + ", ".join(f"{n} {v:.6f}" for n, v in sorted(one["true_cost_per_completed_task"].items(), key=lambda x: x[1]))
    )
    three = all_agentic(args)
    four = redo_on_full(args)
    elapsed = time.perf_counter() - started

    checks = {
        "1a_judged_interval_coverage": lo <= ci_hits <= hi,
        "1b_bounds_contain_truth": cells > 0 and bound_hits == cells,
        "2_world_is_nano_cheapest": one["true_cheapest"] == "nano_only",
        "2_verdict_never_other": one["verdicts"].get("other", 0) == 0
        and one["verdicts_bounds_too"].get("other", 0) == 0,
        "3_dual_minus_mini_is_fixed": three["equal"],
        "4_redo_on_full_by_hand": four["agree"],
    }
    print()
    print(
        f"{'PASS' if checks['1a_judged_interval_coverage'] else 'MISS'} 1a: {ci_hits} of {cells} judged-rate intervals "
        f"contain the true rate ({ci_hits / cells:.1%}; 95% promised, 99% of runs of a true 95% land in [{lo}, {hi}])"
        f"; {one['unjudged_cells']} measured cells had no judged task; {one['misread_task_classes']} tasks' class "
        "misread"
    )
    print(
        f"{'PASS' if checks['1b_bounds_contain_truth'] else 'MISS'} 1b: {bound_hits} of {cells} bounds contain the "
        f"true rate ({bound_hits / cells:.1%}; all promised)"
    )
    v, s = one["verdicts"], one["verdicts_bounds_too"]
    print(
        f"{'PASS' if checks['2_world_is_nano_cheapest'] and checks['2_verdict_never_other'] else 'MISS'} 2: truly "
        f"cheapest {one['true_cheapest']}; verdict.cheapest over {args.seeds} runs: nano-only {v.get('nano_only', 0)}, "
        f"undecided {v.get('undecided', 0)}, other {v.get('other', 0)} (outcomes a sample); with the bounds too: "
        f"nano-only {s.get('nano_only', 0)}, undecided {s.get('undecided', 0)}, other {s.get('other', 0)}"
    )
    worst = max((abs(r["difference"]) for r in three["runs"]), default=math.nan)
    print(
        f"{'PASS' if checks['3_dual_minus_mini_is_fixed'] else 'MISS'} 3: 100% agentic, no exploration: dual − "
        f"mini-only = (infrastructure + classifier) per completed task in {sum(r['equal'] for r in three['runs'])} of "
        f"{len(three['runs'])} runs (largest difference {worst:.3e} USD)"
    )
    figures = sum(r["figures_compared"] for r in four["runs"])
    disagree = sum(len(r["disagree"]) for r in four["runs"])
    print(
        f"{'PASS' if checks['4_redo_on_full_by_hand'] else 'MISS'} 4: redo on full: {figures - disagree} of {figures} "
        "figures (points, intervals, bounds, break-even) agree with the arithmetic by hand"
    )
    for row in four["runs"]:
        for line in row["disagree"]:
            print(f"  seed {row['seed']}: {line}")
    print(f"{elapsed:.0f} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "elapsed_s": round(elapsed, 1),
        "checks": checks,
        "coverage_and_cheapest": one,
        "all_agentic": three,
        "redo_on_full": four,
    }
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
