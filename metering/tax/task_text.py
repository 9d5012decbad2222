"""The task-level part of the text report: cells of tasks and the policies measured on their own tasks.

Laid out from the report's `measured.tasks` and `verdict` (metering/tax/policies_by_task.py), the same
dictionary `--json` and `GET /v1/routing-tax` give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metering.tax.figures import Level, policies_from_json
from metering.tax.policies_by_task import policy_label


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.6f}"


def _span(pair: Sequence[float | None], fmt: str) -> str:
    lo, hi = pair
    if lo is None and hi is None:
        return ""
    return f"[{'?' if lo is None else format(lo, fmt)}, {'?' if hi is None else format(hi, fmt)}]"


def print_task_section(report: dict[str, Any]) -> None:
    """CELLS OF TASKS and POLICIES PER COMPLETED TASK, or a line saying there are no task records."""
    tasks = report["measured"].get("tasks")
    if tasks is None:
        return
    if not tasks["tasks"]:
        print("\nTASKS — no task records in this window (tasks.enabled off, or no traffic)")
        return
    share = tasks["agentic_share"]
    print(
        f"\nTASKS — {tasks['tasks']} tasks ({tasks['open_tasks']} still open, {tasks['explored_tasks']} explored, "
        f"{tasks['pinned_tasks']} pinned), agentic share {share:.0%}, outcomes judged on {tasks['coverage']:.0%} "
        "(unknown outcomes are never successes)"
    )
    print("CELLS OF TASKS — by arm (the tier a task's first step went to) and class; success among judged tasks")
    print(
        f"  {'arm':<6}{'class':<13}{'tasks':>6}{'steps':>6}{'$/task':>11}{'± sd':>10}  {'fb +/−':>7}{'det':>4}"
        f"{'judge +/−':>10}{'unk':>5}{'success':>8}  {'95% interval':<15}{'bounds':<15}{'$/completed':>12}"
    )
    for cell in tasks["cells"]:
        if not cell["measured"]:
            print(f"  {cell['tier']:<6}{cell['class']:<13}{0:>6}  not measured")
            continue
        o = cell["outcomes"]
        rate = cell["success_rate"]
        print(
            f"  {cell['tier']:<6}{cell['class']:<13}{cell['tasks']:>6}{cell['steps_per_task']:>6.1f}"
            f"{cell['cost_per_task_usd']:>11.6f}{cell['cost_per_task_spread_usd']['sd']:>10.6f}  "
            f"{o['feedback']['success']:>3}/{o['feedback']['failure']:<3}{o['detected']['failure']:>4}"
            f"{o['judge']['success']:>5}/{o['judge']['failure']:<4}{o['unknown']:>5}"
            f"{'—' if rate is None else f'{rate:.3f}':>8}  {_span(cell['success_ci'], '.3f'):<15}"
            f"{_span(cell['success_bounds'], '.3f'):<15}{_usd(cell['cost_per_completed_task_usd']):>12}"
        )
    print("POLICIES PER COMPLETED TASK — each on its own tasks (95% interval; bounds: unknowns as successes/failures)")
    policies = policies_from_json(tasks["policies"], Level.TASK)
    for name, policy in policies.items():
        label = policy_label(name)
        if not policy.measured:
            estimate = policy.estimate_usd
            note = f"; estimate (repriced, not measured) {_usd(estimate)}" if estimate is not None else ""
            print(f"  {label:<20}{'not measured':>14}  missing {', '.join(policy.missing_cells)}{note}")
            continue
        cost = policy.cost_per_completed_task_usd
        point = _usd(cost) if cost is not None else f"no judged outcome in {', '.join(policy.unjudged_cells)}"
        extra = ""
        if policy.marginal_cost_per_completed_task_usd is not None:
            extra = f"  marginal (GPU not counted) {_usd(policy.marginal_cost_per_completed_task_usd)}"
        print(f"  {label:<20}{point:>14}  {_span(policy.ci, '.6f'):<28}bounds {_span(policy.bounds, '.6f')}{extra}")
    dual = policies.get("dual")
    if dual is not None and dual.fixed_per_task_usd:
        print(f"  (dual-tier carries infrastructure and classifier: {_usd(dual.fixed_per_task_usd)} per task)")
    remedy = tasks.get("failure_remedy")
    if remedy is not None:
        print(f"  failure remedy: {remedy['text']}")
    print_measurement(tasks.get("measurement"))


def print_measurement(measurement: dict[str, Any] | None) -> None:
    """MEASUREMENT SPEND: exploration against routing the same tasks, in dollars and completions, and the judge."""
    if measurement is None:
        return
    print("MEASUREMENT SPEND — charged to no policy")
    print(f"  {'exploration':<14}{_exploration_text(measurement['exploration'])}")
    print(f"  {'judge':<14}{_usd(measurement['judge_usd'])} grading outcomes")


def _exploration_text(line: dict[str, Any]) -> str:
    if not line["tasks"]:
        return "no explored tasks in this window"
    n = line["tasks"]
    if line["usd"] is None:
        dollars = f"not measured ({', '.join(line['not_measured'])} has no tasks to compare with)"
    else:
        dollars = f"{'−' if line['usd'] < 0 else '+'}${abs(line['usd']):.6f} against routing the same {n} tasks"
        if line["cheaper_than_routing"]:
            dollars += " (exploring cost less: its arms were cheaper per task than the routed tiers)"
    forgone = line["completions_forgone"]
    if forgone is None:
        completions = f"completions forgone not known (no judged outcome in {', '.join(line['unjudged_cells'])})"
    elif forgone < 0:
        completions = f"{-forgone:.2f} expected completions gained (its arms' judged rates beat the routed cells')"
    else:
        completions = f"{forgone:.2f} expected completions forgone"
    return f"{dollars}; {completions}"
