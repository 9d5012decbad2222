"""The task-level truth check: the report per completed task against the demo's task world, over real HTTP.

Runs the demo's world of tasks (demo/world.py: agent tool loops, text-protocol and Responses loops, single
calls, conversations, driven through the openai SDK) in-process, once per seed, and checks the report's
task-level figures against what the world was drawn from (issue 28, "how we will know"). Two worlds, each
`--seeds` runs of `--tasks` tasks, `--agentic-share` agentic, `--explore` of them explored, feedback on 60%
of the tasks and the rest unknown (no task abandoned, so no task is a detected failure): the demo's own
(nano, mini, the self-hosted qwen, full) and a hosted-only one (nano, mini, full).

1. **Coverage.** The share of measured cells whose judged-rate 95% interval contains the world's true task
   success rate (about 95% promised), and the share whose bounds (unknowns as failures, as successes) contain
   (a) the share of the cell's own tasks that succeeded, as the application drew them (all, always: the tasks
   are joined with the proxy's task records through a bench-only route on the in-process store), and (b) the
   world's true rate (not always: a cell's tasks are a sample, and a small cell's realized share strays from
   the rate by more than the unknowns' width). A cell's true rate is its arm's stated rate for the class,
   mixed with its chain's next tiers' where the world's detectable degrades make the first step be redone
   (the task stays in its arm's cell; its answer, hence its success draw, comes from the next tier).
2. **The cheapest.** Each world's true cost per completed task per policy, from its true rates and each cell's
   cost per task pooled over its runs. In the demo's world the self-hosted tier is cheapest (its GPU hours
   are charged for a run of seconds); the hosted-only world is one where nano-only truly is. How often
   `verdict.cheapest` names the true cheapest, says undecided, or names another policy (never allowed). The
   runs set `report.outcomes_are_a_sample: true` (the world's feedback *is* a random sample of its tasks);
   the decision the stricter default (the bounds too) would take is recomputed from the same policies.
3. **All agentic.** 100% agentic, exploration off: dual − mini-only per completed task against
   (infrastructure + classifier) per completed task, which must be equal (to float rounding).
4. **Redo on full.** `report.failure_remedy: {redo_on: full}`, full among the explored tiers: every policy's
   cost per completed task, interval and bounds, and the break-even share, against the same arithmetic done
   here from the report's own cells.

Prints a PASS/MISS line per check and writes bench/results/task_truth.json. ≈ 6 minutes on 2 cores. Usage:

    .venv/bin/python bench/task_truth.py [--seeds 25] [--tasks 200] [--agentic-share 0.3] [--explore 0.5]
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

import httpx  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import demo.world  # noqa: E402
from demo.tasks import TaskMix  # noqa: E402
from demo.world import DEMO_ROUTER_HOUR_USD, World, run_world  # noqa: E402
from metering.tasks import TaskBook  # noqa: E402
from metering.tax.break_even import crossing  # noqa: E402
from router.config import Config  # noqa: E402
from router.report import _task_settings  # noqa: E402

CLASSES = ("single_turn", "agentic")
CLASSIFIER_USD = 0.00001  # a classifier that costs something, so that its line is not 0 in check 3
MIX = TaskMix(feedback_share=0.6, abandoned_share=0.0)  # 60% of tasks judged by the application, the rest unknown
WORLD = World(mix=MIX)
POLICY_TIERS = {"nano_only": "nano", "mini_only": "mini", "qwen_only": "qwen"}
RESULTS = Path(__file__).resolve().parent / "results" / "task_truth.json"
REL = 1e-12  # "equal": the same figure up to float rounding


HOSTED_ONLY = {  # the nano-cheapest world: no self-hosted tier (see `true_policies`)
    "nano": {"model": "gpt-5.4-nano"},
    "mini": {"model": "gpt-5.4-mini"},
    "full": {"model": "gpt-5.4"},
}


def config(
    explore: float, seed: int, tiers: list[str] | None = None, upstreams: dict | None = None, **report: Any
) -> Config:
    explore_cfg: dict[str, Any] = {"share": explore, "seed": seed}
    if tiers:
        explore_cfg["tiers"] = tiers
    data: dict[str, Any] = {
        "report": {"router_hour_usd": DEMO_ROUTER_HOUR_USD, "classifier_usd_per_request": CLASSIFIER_USD, **report},
        "policy": {"explore": explore_cfg},
    }
    if upstreams:
        data["tiers"] = upstreams
    return Config.model_validate(data)


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


TASKS_ROUTE = "/_bench/tasks"


def _with_task_records(create: Any) -> Any:
    """`create_app` plus a bench-only route listing the proxy's task records (arm, class, outcome), read from its
    in-process store as the report reads them, so that each report cell's tasks can be joined with what the
    application knows they did."""

    def build(cfg: Config) -> Any:
        app = create(cfg)

        async def records(request: Request) -> JSONResponse:
            book = TaskBook(request.app.state.store, _task_settings(cfg))
            found = [t async for t in book.read()] + await book.read_open()
            fields = ("task_id", "arm", "task_class", "outcome", "outcome_source", "detected_reason")
            return JSONResponse([{f: getattr(t, f) for f in fields} for t in found])

        app.router.routes.insert(0, Route(TASKS_ROUTE, records))
        return app

    return build


def _with_task_export(report_when: Any) -> Any:
    def read(proxy_url: str, *args: Any) -> dict[str, Any]:
        report = report_when(proxy_url, *args)
        report["bench_task_records"] = httpx.get(f"{proxy_url}{TASKS_ROUTE}", timeout=30).json()
        return report

    return read


def run(tasks: int, share: float, seed: int, cfg: Config, world: World = WORLD) -> dict[str, Any]:
    """One run of the world, its report carrying the proxy's task records (`bench_task_records`)."""
    if not getattr(demo.world.create_app, "exports_task_records", False):  # once, and only when the bench runs
        demo.world.create_app = _with_task_records(demo.world.create_app)
        demo.world.create_app.exports_task_records = True  # type: ignore[attr-defined]
        demo.world._report_when = _with_task_export(demo.world._report_when)
    with contextlib.redirect_stderr(io.StringIO()):
        return run_world(tasks, share, seed, cfg, world=world)


def realized(report: Mapping[str, Any]) -> tuple[dict[str, list[int]], list[dict[str, Any]]]:
    """Per report cell (the proxy's arm and class): [tasks, tasks the application knows succeeded], joined on the
    task id; and what could not be joined: an application task with no record, a record with no application task
    (a task the proxy split in two, or named otherwise than its answers said), an application task given two
    names."""
    records = {r["task_id"]: r for r in report["bench_task_records"]}
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    odd: list[dict[str, Any]] = []
    for task in report["demo"]["tasks"]:
        names = {name for name in task["task_ids"] if name}
        if len(names) > 1:
            odd.append({"what": "application task with two names", "task": task})
        record = records.get(task["task_id"])
        if record is None:
            odd.append({"what": "application task with no record", "task": task})
            continue
        label = record["task_class"] if record["task_class"] in CLASSES else "single_turn"
        cell = cells[f"{record['arm']}/{label}"]
        cell[0] += 1
        cell[1] += task["success"] is True
    known = {task["task_id"] for task in report["demo"]["tasks"]}
    odd += [
        {"what": "record with no application task", "record": r} for r in records.values() if r["task_id"] not in known
    ]
    return cells, odd


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


def coverage_and_cheapest(args: argparse.Namespace, upstreams: dict | None, seeds_asked: int) -> dict[str, Any]:
    """Runs of one world: every measured cell against its true rate, and the verdict against the true cheapest."""
    cfg0 = config(args.explore, 0, upstreams=upstreams, outcomes_are_a_sample=True)
    per_cell: dict[str, dict[str, Any]] = defaultdict(lambda: {"cells": 0, "ci_hits": 0, "bound_hits": 0})
    misses: list[dict[str, Any]] = []
    reports, seeds = [], []
    unjudged = misread = unjoined = 0
    unjoined_detail: list[dict[str, Any]] = []
    realized_cells = realized_hits = 0
    realized_misses: list[dict[str, Any]] = []
    for seed in range(args.first_seed, args.first_seed + seeds_asked):
        started = time.perf_counter()
        cfg = config(args.explore, seed, upstreams=upstreams, outcomes_are_a_sample=True)
        report = run(args.tasks, args.agentic_share, seed, cfg)
        reports.append(report)
        tasks = report["measured"]["tasks"]
        did, odd = realized(report)
        unjoined += len(odd)
        unjoined_detail += [{"seed": seed, **o} for o in odd]
        missed = []
        for cell in tasks["cells"]:
            if not cell["tasks"]:
                continue
            name = f"{cell['tier']}/{cell['class']}"
            truth = true_rate(WORLD, cfg0, cell["tier"], cell["class"])
            n, done = did.get(name, [0, 0])
            realized_cells += 1
            share = done / n if n else math.nan
            if n == cell["tasks"] and contains(cell["success_bounds"], share):
                realized_hits += 1
            else:
                realized_misses.append(
                    {
                        "seed": seed,
                        "cell": name,
                        "joined": n,
                        "tasks": cell["tasks"],
                        "succeeded": done,
                        "bounds": cell["success_bounds"],
                    }
                )
                missed.append(f"{name} bounds vs realized {done}/{n}")
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
        strict_word = strict_cheapest(tasks["policies"])
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
    best = min(truth, key=truth.__getitem__) if truth else None

    def count(words: list[str]) -> dict[str, int]:
        out = {"true_cheapest": 0, "undecided": 0, "other": 0}
        for word in words:
            out["true_cheapest" if word == best else word if word == "undecided" else "other"] += 1
        return out

    return {
        "realized_cells": realized_cells,
        "realized_hits": realized_hits,
        "realized_misses": realized_misses,
        "unjoined_tasks": unjoined,
        "unjoined": unjoined_detail,
        "world": {
            "tiers": sorted(cfg0.tiers),
            "tasks": args.tasks,
            "agentic_share": args.agentic_share,
            "explore": args.explore,
            "feedback_share": MIX.feedback_share,
            "abandoned_share": MIX.abandoned_share,
            "true_rates": {f"{t}/{c}": true_rate(WORLD, cfg0, t, c) for t in cfg0.tiers for c in CLASSES},
        },
        "cells": cells,
        "ci_hits": ci_hits,
        "bound_hits": bound_hits,
        "ci_expected_99": list(binomial_range(cells, 0.95)) if cells else None,
        "unjudged_cells": unjudged,
        "misread_task_classes": misread,
        "per_cell": dict(per_cell),
        "misses": misses,
        "true_cost_per_completed_task": truth,
        "true_cheapest": best,
        "verdicts": count([s["cheapest"] for s in seeds]),
        "verdicts_bounds_too": count([s["cheapest_strict"] for s in seeds]),
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


def print_world(label: str, world: Mapping[str, Any]) -> None:
    tiers = ", ".join(world["world"]["tiers"])
    print(f"\n{label} (tiers {tiers}), per cell: judged-rate interval / bounds contain the true rate")
    for name, stats in sorted(world["per_cell"].items()):
        n = stats["cells"]
        truth = world["world"]["true_rates"][name]
        print(f"  {name:20s} true {truth:.4f}: {stats['ci_hits']}/{n} / {stats['bound_hits']}/{n}")
    for miss in world["misses"]:
        print(
            f"  missed ({'+'.join(miss['missed'])}): seed {miss['seed']} {miss['cell']} {miss['successes']}/"
            f"{miss['judged']} judged of {miss['tasks']} tasks, ci {[round(x, 4) for x in miss['ci']]}, bounds "
            f"{[round(x, 4) for x in miss['bounds']]}, truth {miss['truth']:.4f}"
        )
    for miss in world["realized_misses"]:
        print(f"  bounds miss what the cell's tasks did: {miss}")
    for odd in world["unjoined"]:
        print(f"  not joined (seed {odd['seed']}): {odd['what']}: {odd.get('record') or odd.get('task')}")
    truth = sorted(world["true_cost_per_completed_task"].items(), key=lambda x: x[1])
    print("  true cost per completed task (true rates, pooled costs): " + ", ".join(f"{n} {v:.6f}" for n, v in truth))
    v, s = world["verdicts"], world["verdicts_bounds_too"]
    print(
        f"  verdict.cheapest: {world['true_cheapest']} (the truth) {v['true_cheapest']}, undecided {v['undecided']}, "
        f"other {v['other']}; with the bounds too: {s['true_cheapest']}, {s['undecided']}, {s['other']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=25, help="runs of each world of checks 1 and 2")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--agentic-share", type=float, default=0.3)
    parser.add_argument("--explore", type=float, default=0.5)
    parser.add_argument("--agentic-seeds", type=int, default=3, help="runs of check 3")
    parser.add_argument("--agentic-tasks", type=int, default=80)
    parser.add_argument("--redo-seeds", type=int, default=3, help="runs of check 4")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()

    print("the demo's world (nano, mini, self-hosted qwen, full):")
    demo_world = coverage_and_cheapest(args, None, args.seeds)
    print("the hosted-only world (nano, mini, full):")
    hosted = coverage_and_cheapest(args, HOSTED_ONLY, args.seeds)
    print_world("the demo's world", demo_world)
    print_world("the hosted-only world", hosted)
    print()
    three = all_agentic(args)
    four = redo_on_full(args)
    elapsed = time.perf_counter() - started

    worlds = (demo_world, hosted)
    cells = sum(w["cells"] for w in worlds)
    ci_hits = sum(w["ci_hits"] for w in worlds)
    bound_hits = sum(w["bound_hits"] for w in worlds)
    realized_cells = sum(w["realized_cells"] for w in worlds)
    realized_hits = sum(w["realized_hits"] for w in worlds)
    lo, hi = binomial_range(cells, 0.95) if cells else (0, 0)
    v, s = hosted["verdicts"], hosted["verdicts_bounds_too"]
    checks = {
        "1a_judged_interval_coverage": lo <= ci_hits <= hi,
        "1b_bounds_contain_what_the_tasks_did": realized_cells > 0 and realized_hits == realized_cells,
        "1b_bounds_contain_the_true_rate": cells > 0 and bound_hits == cells,
        "2_hosted_world_is_nano_cheapest": hosted["true_cheapest"] == "nano_only",
        "2_verdict_never_other": not v["other"] and not s["other"],
        "3_dual_minus_mini_is_fixed": three["equal"],
        "4_redo_on_full_by_hand": four["agree"],
    }
    word = {True: "PASS", False: "MISS"}
    print()
    print(
        f"{word[checks['1a_judged_interval_coverage']]} 1a: {ci_hits} of {cells} judged-rate 95% intervals contain the "
        f"true rate ({ci_hits / cells:.1%}; a true 95% lands in [{lo}, {hi}] 99% of the time); "
        f"{sum(w['unjudged_cells'] for w in worlds)} measured cells had no judged task; "
        f"{sum(w['misread_task_classes'] for w in worlds)} tasks' class misread"
    )
    print(
        f"{word[checks['1b_bounds_contain_what_the_tasks_did']]} 1b: {realized_hits} of {realized_cells} cells' bounds "
        f"contain the share of their tasks that succeeded ({sum(w['unjoined_tasks'] for w in worlds)} tasks or records "
        "not joined one to one)"
    )
    print(
        f"{word[checks['1b_bounds_contain_the_true_rate']]} 1b': {bound_hits} of {cells} cells' bounds contain the "
        f"world's true rate ({bound_hits / cells:.1%}; a cell's tasks are a sample: a small one can miss it)"
    )
    print(
        f"{word[checks['2_hosted_world_is_nano_cheapest'] and checks['2_verdict_never_other']]} 2: truly cheapest "
        f"{hosted['true_cheapest']}; verdict.cheapest over {args.seeds} runs: nano-only {v['true_cheapest']}, "
        f"undecided {v['undecided']}, other {v['other']} (outcomes a sample); with the bounds too: nano-only "
        f"{s['true_cheapest']}, undecided {s['undecided']}, other {s['other']}"
    )
    worst = max((abs(r["difference"]) for r in three["runs"]), default=math.nan)
    print(
        f"{word[checks['3_dual_minus_mini_is_fixed']]} 3: 100% agentic, no exploration: dual − mini-only = "
        f"(infrastructure + classifier) per completed task in {sum(r['equal'] for r in three['runs'])} of "
        f"{len(three['runs'])} runs (largest difference {worst:.3e} USD)"
    )
    figures = sum(r["figures_compared"] for r in four["runs"])
    disagree = sum(len(r["disagree"]) for r in four["runs"])
    print(
        f"{word[checks['4_redo_on_full_by_hand']]} 4: redo on full: {figures - disagree} of {figures} figures "
        "(points, intervals, bounds, break-even) agree with the arithmetic by hand"
    )
    for row in four["runs"]:
        for line in row["disagree"]:
            print(f"  seed {row['seed']}: {line}")
    print(f"{elapsed:.0f} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": " ".join(["bench/task_truth.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "elapsed_s": round(elapsed, 1),
        "checks": checks,
        "demo_world": demo_world,
        "hosted_world": hosted,
        "all_agentic": three,
        "redo_on_full": four,
    }
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
