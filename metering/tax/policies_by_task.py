"""Policies measured on their own tasks, and the verdict that names the cheapest (docs/routing-tax.md).

Every policy is costed per completed task over the window's task mix (N_c tasks of class c):

    Σ_c N_c × (cost per task_c + (1 − rate_c) × failure cost) ÷ Σ_c N_c × rate_c

(with `report.failure_remedy: {redo_on: T}` a failure also costs T's cost per task and completes at T's
rate: metering/tax/failure_remedy.py)

- a **single-tier policy** takes cost per task and success rate from its tier's own cells of tasks: its
  own tokens, retries and redos, never another tier's tokens repriced. A cell with no tasks is *not
  measured*; the policy is then not measured either, and an estimate (the other tasks' requests repriced
  at this tier with their own modifiers, at the published success rate where there is one) is shown
  beside it, labelled so. Single-tier policies need no router: no infrastructure or classifier lines.
- **dual as run** takes the routed tasks (neither explored nor pinned): their actual cost and outcomes,
  plus the window's infrastructure and classifier spread over its tasks.

Each figure carries two ranges: the 95% interval from the cells' Wilson intervals (costs taken as
measured), and the bounds with every unknown outcome a failure, then a success. The verdict names the
cheapest policy only when its range lies wholly below every other measured policy's — the interval and,
unless `report.outcomes_are_a_sample` says judged tasks are a random sample, the bounds too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from metering.ledger import task_member
from metering.record import Record
from metering.tasks import OutcomeSource, TaskOutcome, TaskRecord
from metering.tax import break_even as bootstrap
from metering.tax.assumptions import Assumptions
from metering.tax.break_even import Stratum
from metering.tax.cells import TaskCell, TaskRow, build_cells, cells_json
from metering.tax.failure_remedy import Failure, remedied, remedy_json
from metering.tax.figures import UNDECIDED, Level, PolicyFigures, TaskVerdict
from metering.tax.measurement_spend import exploration_line
from metering.tax.model import published_success_rate
from metering.tax.policy_table import mid_policy, policies_for
from metering.tax.report import amortised_rates
from metering.tax.roles import CLASSES, Role
from metering.verdict import Decision

NAMES = {"dual": "dual-tier (as run)"}


def policy_label(name: str) -> str:
    return NAMES.get(name, name.replace("_", "-"))


@dataclass(frozen=True, slots=True)
class _Arm:
    """What a policy reads for one class: a cost per task and the success figures of the tasks behind it."""

    cell: TaskCell
    cost: float  # per task, fixed costs included (dual) and GPU time amortised
    marginal: float  # per task, GPU time not counted


def task_rows(
    records: Iterable[Record],
    closed: Iterable[TaskRecord],
    open_: Iterable[TaskRecord],
    hours: float,
    gpu_hour_usd: Mapping[str, float],
) -> list[TaskRow]:
    """The window's tasks, each with its self-hosted GPU time charged at the rate the request report uses."""
    steps = [r for r in records if r.is_task]
    rates = amortised_rates(steps, gpu_hour_usd, hours)
    amortised: dict[str, float] = defaultdict(float)
    for record in steps:
        if not record.task_id:
            continue
        for attempt in record.attempts:
            if attempt.billed and attempt.tier in rates and attempt.usage is not None:
                amortised[task_member(record.key_id, record.task_id)] += (
                    attempt.usage.total_tokens * rates[attempt.tier]
                )
    rows = []
    for is_open, tasks in ((False, closed), (True, open_)):
        for task in tasks:
            gpu = amortised.get(task_member(task.key_id, task.task_id), 0.0)
            rows.append(TaskRow(task, task.cost_usd + gpu, gpu, is_open))
    return rows


def _repriced(records: Iterable[Record], rows: list[TaskRow]) -> dict[str, dict[str, float]]:
    """class -> tier -> the class's tasks' requests repriced at that tier (each with its own modifiers)."""
    class_of = {task_member(r.record.key_id, r.record.task_id): r.record.task_class for r in rows}
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in records:
        if not record.is_task or not record.task_id:
            continue
        label = class_of.get(task_member(record.key_id, record.task_id))
        if label is None:
            continue  # a step of a task outside the window
        for tier, usd in record.counterfactual_usd.items():
            out[label][tier] += usd
    return out


def _per_completed(
    arms: Mapping[str, _Arm],
    mix: Mapping[str, int],
    rate: Callable[[TaskCell], float | None],
    failure: Failure,
    cost: Callable[[_Arm], float] = lambda arm: arm.cost,
) -> float | None:
    """Σ N_c × (cost_c + (1 − rate_c) × remedy_c) ÷ Σ N_c × (rate_c + (1 − rate_c) × redo rate_c); None when a rate is
    unknown or nothing completes. Without a redo, the remedy is `usd` and the redo rate 0."""
    spent = completed = 0.0
    for c, arm in arms.items():
        r = rate(arm.cell)
        found = None if r is None else remedied(c, cost(arm), r, failure, rate)
        if found is None:
            return None
        spent += mix[c] * found[0]
        completed += mix[c] * found[1]
    return spent / completed if completed > 0 else None


def _ci_end(end: int) -> Callable[[TaskCell], float | None]:
    return lambda cell: None if cell.rate_ci is None else cell.rate_ci[end]


def _bound_end(end: int) -> Callable[[TaskCell], float | None]:
    return lambda cell: None if cell.bounds is None else cell.bounds[end]


def _policy(
    name: str, arms: Mapping[str, _Arm], missing: list[str], mix: Mapping[str, int], failure: Failure, self_hosted: bool
) -> PolicyFigures:
    if missing:
        return PolicyFigures(name, Level.TASK, False, missing_cells=tuple(missing), self_hosted=self_hosted)
    return PolicyFigures(
        name,
        Level.TASK,
        True,
        cost_per_completed_task_usd=_per_completed(arms, mix, lambda cell: cell.rate, failure),
        # the cost falls as a rate rises: the interval's low end comes from the rates' high ends
        ci=(_per_completed(arms, mix, _ci_end(1), failure), _per_completed(arms, mix, _ci_end(0), failure)),
        bounds=(_per_completed(arms, mix, _bound_end(1), failure), _per_completed(arms, mix, _bound_end(0), failure)),
        unjudged_cells=tuple(f"{arm.cell.tier}/{c}" for c, arm in arms.items() if not arm.cell.judged),
        cost_per_unit_usd={c: arm.cost for c, arm in arms.items()},
        success_rate={c: arm.cell.rate for c, arm in arms.items()},
        cells={c: f"{arm.cell.tier}/{c}" for c, arm in arms.items()},
        self_hosted=self_hosted,
        marginal_cost_per_completed_task_usd=_per_completed(
            arms, mix, lambda cell: cell.rate, failure, cost=lambda arm: arm.marginal
        )
        if self_hosted
        else None,
    )


def _estimate(
    tiers: Mapping[str, str],
    cells: Mapping[tuple[str, str], TaskCell],
    mix: Mapping[str, int],
    repriced: Mapping[str, Mapping[str, float]],
    failure: Failure,
    a: Assumptions,
) -> dict[str, Any]:
    """A labelled estimate for a policy with an unmeasured cell: that cell's tasks are the class's tasks repriced at
    the tier, at its published success rate (measured cells keep their measured figures). Never a measurement."""
    spent = completed = 0.0
    repriced_cells = []
    for label, tier in tiers.items():
        n = mix[label]
        cell = cells.get((tier, label))
        if cell is not None and cell.tasks and cell.rate is not None:
            cost, rate = cell.cost_per_task, cell.rate
        else:
            rate = published_success_rate(a.role_of(tier), label)
            if tier not in repriced.get(label, {}) or rate is None:
                return {
                    "cost_per_completed_task_usd": None,
                    "repriced_cells": [],
                    "why": f"{tier}/{label} has no price or rate to estimate from",
                }
            cost = repriced[label][tier] / n
            repriced_cells.append(f"{tier}/{label}")
        found = remedied(label, cost, rate, failure, lambda cell: cell.rate)  # type: ignore[arg-type]
        if found is None:
            return {
                "cost_per_completed_task_usd": None,
                "repriced_cells": [],
                "why": f"{failure.redo_on}/{label}, where failed tasks are redone, is not measured",
            }
        spent += n * found[0]
        completed += n * found[1]
    return {
        "cost_per_completed_task_usd": spent / completed if completed > 0 else None,
        "repriced_cells": repriced_cells,
        "why": "estimate: tokens repriced at this tier and published success rates for the cells not measured",
    }


@dataclass(slots=True)
class TaskPolicies:
    """The cells of tasks, dual's routed tasks by class, every policy's figures, and the window's task mix."""

    cells: dict[tuple[str, str], TaskCell]
    routed: dict[str, TaskCell]
    policies: dict[str, PolicyFigures]
    mix: dict[str, int]
    failure: Failure
    mid: str | None = "mini_only"  # the policy dual is weighed against: everything to the mid tier

    def cell_index(self) -> dict[str, TaskCell]:
        """Every cell a policy reads, by the name policies give it (`nano/agentic`, `dual/agentic`)."""
        index = {f"{c.tier}/{c.task_class}": c for c in self.cells.values()}
        index.update({f"dual/{label}": cell for label, cell in self.routed.items()})
        return index


def policies_by_task(rows: list[TaskRow], records: list[Record], a: Assumptions, fixed_usd: float) -> TaskPolicies:
    """The cells of tasks and every policy's cost per completed task over the window's mix."""
    cells = build_cells(rows, a.tiers)
    mix = {c: sum(1 for r in rows if r.record.task_class == c) for c in CLASSES}
    classes = [c for c in CLASSES if mix[c]]
    mix = {c: mix[c] for c in classes}
    redo_missing: list[str] = []
    redo = None
    if a.failure_redo_on is not None:
        redo = {c: cells.setdefault((a.failure_redo_on, c), TaskCell(a.failure_redo_on, c)) for c in classes}
        redo_missing = [f"{a.failure_redo_on}/{c}" for c in classes if not redo[c].tasks]
    failure = Failure(a.failure_cost_usd, a.failure_redo_on, redo)
    fixed_per_task = fixed_usd / len(rows) if rows else 0.0
    routed = {c: TaskCell("dual", c) for c in CLASSES}
    for row in rows:
        if not row.record.explored and not row.record.pinned and row.record.task_class in routed:
            routed[row.record.task_class].add(row)

    policies: dict[str, PolicyFigures] = {}
    dual_missing = [f"dual/{c}" for c in classes if not routed[c].tasks] + redo_missing
    dual_arms = {
        c: _Arm(routed[c], routed[c].cost_per_task + fixed_per_task, routed[c].marginal_cost_per_task + fixed_per_task)
        for c in classes
        if routed[c].tasks
    }
    policies["dual"] = replace(
        _policy("dual", dual_arms, dual_missing, mix, failure, False), fixed_per_task_usd=fixed_per_task, role="dual"
    )

    repriced = _repriced(records, rows)
    for name, (definition, tiers) in policies_for(a).items():
        if definition.as_run:
            continue  # dual, above: the routed tasks themselves
        if any(tier not in a.tiers for tier in tiers.values()):
            continue  # a tier this deployment does not have: no such policy here
        needed = {c: tiers[c] for c in classes}
        missing = [f"{t}/{c}" for c, t in needed.items() if not cells[(t, c)].tasks]
        missing += [m for m in redo_missing if m not in missing]
        arms = {
            c: _Arm(cells[(t, c)], cells[(t, c)].cost_per_task, cells[(t, c)].marginal_cost_per_task)  # type: ignore[arg-type]
            for c, t in needed.items()
            if cells[(t, c)].tasks
        }
        policy = _policy(name, arms, missing, mix, failure, a.self_hosted_tier in needed.values())
        if missing:
            policy = replace(policy, estimate=_estimate(needed, cells, mix, repriced, failure, a))
        policies[name] = replace(policy, role=definition.key)
    return TaskPolicies(cells, routed, policies, mix, failure, mid_policy(a))


def break_even_by_task(
    rows: Iterable[TaskRow], fixed_per_task: float, failure: Failure, mid: str | None = "mini"
) -> dict[str, Any]:
    """The agentic share where dual as run and mini-only cost the same per completed task, its interval a bootstrap
    over tasks within each cell (metering/tax/break_even.py): dual reads the routed tasks, mini-only its arm cells."""
    strata: dict[tuple[str, str], Stratum] = {}
    for row in rows:
        record = row.record
        routed = not record.explored and not record.pinned and record.task_class in CLASSES
        label = record.task_class if record.task_class in CLASSES else "single_turn"
        on_mini = mid is not None and record.arm == mid
        if not routed and not on_mini:
            continue
        judged = record.outcome_source in (OutcomeSource.FEEDBACK, OutcomeSource.JUDGE)
        strata.setdefault((record.arm or "-", label), Stratum(label)).add(
            {"dual": row.cost_usd if routed else None, "mini": row.cost_usd if on_mini else None},
            judged and record.outcome is TaskOutcome.SUCCESS,
            judged,
        )
    offsets = {("dual", label): fixed_per_task for label in CLASSES}
    redo = None
    if failure.redo is not None:
        known = {c: (cell.cost_per_task, cell.rate) for c, cell in failure.redo.items()}
        if set(known) != set(CLASSES) or any(v is None for pair in known.values() for v in pair):
            return bootstrap.BreakEven(None, (None, None), 0, 0).to_dict("tasks")  # the redo tier is not measured
        redo = known
    found = bootstrap.break_even(list(strata.values()), offsets, failure.usd, redo=redo)  # type: ignore[arg-type]
    return found.to_dict("tasks")


# -- the verdict ---------------------------------------------------------------------------------


def _range(policy: PolicyFigures, sample: bool) -> tuple[float, float]:
    """Where a policy's cost per completed task may lie: its interval, and its bounds unless outcomes are a sample."""
    ends: list[tuple[float | None, float | None]] = [policy.ci] if sample else [policy.ci, policy.bounds]
    lows = [e[0] for e in ends]
    highs = [e[1] for e in ends]
    low = min((v for v in lows if v is not None), default=0.0)
    high = math.inf if any(v is None for v in highs) else max(highs)
    return low, high


def _needs(best: PolicyFigures, other: PolicyFigures, cells: Mapping[str, TaskCell]) -> dict[str, Any]:
    """What would separate two overlapping policies: which cell, how many more tasks and judged outcomes there."""
    involved = [cells[name] for name in (*best.cells.values(), *other.cells.values()) if name in cells]
    gap = other.cost_per_completed_task_usd - best.cost_per_completed_task_usd
    b_lo, b_hi = best.ci
    o_lo, o_hi = other.ci
    apart = b_hi is not None and o_lo is not None and b_hi < o_lo
    if not apart:
        cell = min(involved, key=lambda c: (c.judged, -c.tasks))
        if gap <= 1e-15 or b_hi is None or o_hi is None or b_lo is None or o_lo is None:
            return {
                "cell": f"{cell.tier}/{cell.task_class}",
                "more_tasks": None,
                "more_judged": None,
                "decide_by": f"judged outcomes in {cell.tier}/{cell.task_class}: the two cost the same so far",
            }
        width = (b_hi - b_lo) / 2 + (o_hi - o_lo) / 2
        factor = (width / gap) ** 2  # intervals narrow as 1/sqrt(judged tasks)
        judged = max(cell.judged, 1)
        more_judged = max(1, math.ceil(judged * (factor - 1)))
        coverage = cell.judged / cell.tasks if cell.tasks else 0.0
        more_tasks = math.ceil(more_judged / coverage) if coverage > 0 else None
        tasks_text = f"about {more_tasks} more tasks" if more_tasks is not None else "tasks with outcomes"
        return {
            "cell": f"{cell.tier}/{cell.task_class}",
            "more_tasks": more_tasks,
            "more_judged": more_judged,
            "decide_by": f"{tasks_text} in {cell.tier}/{cell.task_class} at today's coverage "
            f"(about {more_judged} more judged outcomes): the intervals overlap",
        }
    cell = max(involved, key=lambda c: c.unknown)
    return {
        "cell": f"{cell.tier}/{cell.task_class}",
        "more_tasks": 0,
        "more_judged": cell.unknown,
        "decide_by": f"outcomes for the {cell.unknown} unknown tasks of {cell.tier}/{cell.task_class} (the intervals "
        "are apart but the bounds overlap; if judged tasks are a random sample, report.outcomes_are_a_sample: true)",
    }


def verdict_by_task(measured: TaskPolicies, tasks: int, sample: bool) -> TaskVerdict:
    """`cheapest` (a policy's name or undecided) with what would decide it, and dual vs mini-only beside it."""
    policies, cells_of = measured.policies, measured.cell_index()
    verdict = TaskVerdict(
        not_measured=tuple(n for n, p in policies.items() if not p.measured),
        mid_policy=measured.mid,
        outcomes_are_a_sample=sample,
    )
    if not tasks:
        none = {"decide_by": "task records: there are none in this window"}
        return replace(
            verdict,
            cheapest_needs=none,
            dual_vs_mini_needs=none,
            bottom_line="Cheapest per completed task: undecided — there are no task records in this window.",
        )
    priced = {n: p for n, p in policies.items() if p.priced}
    unmeasured = sorted({c for p in policies.values() for c in p.missing_cells})
    unjudged = sorted({c for p in policies.values() if p.measured for c in p.unjudged_cells})
    if len(priced) < 2:
        cell = (unmeasured or unjudged or ["?"])[0]
        verdict = replace(
            verdict,
            cheapest_needs={
                "cell": cell,
                "more_tasks": None,
                "more_judged": None,
                "decide_by": f"measuring {', '.join(unmeasured or unjudged)} (tasks there, with judged outcomes)",
            },
        )
    else:
        best = min(priced, key=lambda n: priced[n].cost_per_completed_task_usd)  # type: ignore[arg-type, return-value]
        high = _range(priced[best], sample)[1]
        blockers = [n for n in priced if n != best and _range(priced[n], sample)[0] <= high]
        if not blockers:
            verdict = replace(verdict, cheapest=best, cheapest_point=best)
        else:
            blocker = min(blockers, key=lambda n: priced[n].cost_per_completed_task_usd)  # type: ignore[arg-type, return-value]
            needs = _needs(priced[best], priced[blocker], cells_of)
            needs["against"] = blocker
            verdict = replace(verdict, cheapest_point=best, cheapest_needs=needs)
    dual, mini = policies.get("dual"), policies.get(measured.mid) if measured.mid is not None else None
    if dual is None or mini is None or not dual.priced or not mini.priced:
        missing = [c for p in (dual, mini) if p is not None for c in (*p.missing_cells, *p.unjudged_cells)]
        verdict = replace(
            verdict, dual_vs_mini_needs={"decide_by": "measuring " + (", ".join(missing) or "the mid tier's cells")}
        )
    else:
        d, m = _range(dual, sample), _range(mini, sample)
        if d[1] < m[0]:
            verdict = replace(verdict, dual_vs_mini=Decision.DUAL_TIER_PAYS)
        elif m[1] < d[0]:
            verdict = replace(verdict, dual_vs_mini=Decision.MINI_ONLY_CHEAPER)
        else:
            lower, upper = sorted((dual, mini), key=lambda p: p.cost_per_completed_task_usd)  # type: ignore[arg-type, return-value]
            verdict = replace(verdict, dual_vs_mini_needs=_needs(lower, upper, cells_of))
    return replace(verdict, bottom_line=bottom_line(verdict, policies))


def bottom_line(verdict: TaskVerdict, policies: Mapping[str, PolicyFigures]) -> str:
    """The report's first sentence: the cheapest policy per completed task, or what would decide it."""
    mid = policy_label(verdict.mid_policy or "mid_only")
    dual_word = {
        Decision.DUAL_TIER_PAYS: f"dual-tier pays against {mid}",
        Decision.MINI_ONLY_CHEAPER: f"{mid} is cheaper than dual-tier",
        Decision.UNDECIDED: f"dual-tier against {mid} is undecided",
    }[verdict.dual_vs_mini]
    cheapest = verdict.cheapest
    if cheapest != UNDECIDED:
        cost = policies[cheapest].cost_per_completed_task_usd
        lo, hi = policies[cheapest].ci
        return (
            f"Cheapest per completed task: {policy_label(cheapest)} at ${cost:.6f} [{lo:.6f}, {hi:.6f}], "
            f"below every other measured policy; {dual_word}."
        )
    needs = verdict.cheapest_needs or {}
    point = verdict.cheapest_point
    lead = f"{policy_label(point)} is cheapest so far" if point else "no policy can be named yet"
    against = f" but overlaps {policy_label(needs['against'])}" if needs.get("against") else ""
    decide = needs.get("decide_by", "more tasks")
    return f"Cheapest per completed task: undecided ({lead}{against}; deciding it needs {decide}); {dual_word}."


def add_task_figures(
    report: dict[str, Any],
    records: list[Record],
    closed: Iterable[TaskRecord],
    open_: Iterable[TaskRecord],
    a: Assumptions,
    outcomes_are_a_sample: bool = False,
) -> dict[str, Any]:
    """Add `measured.tasks` and the verdict by task (`verdict.cheapest`, `verdict.dual_vs_mini`) to a built report.

    The request-level figures stay as they were; infrastructure and classifier are the report's own lines,
    spread over the window's tasks for dual as run.
    """
    rows = task_rows(records, closed, open_, a.hours, a.gpu_hour_usd)
    parts = report["measured"]["overhead_parts_usd"]
    measured = policies_by_task(rows, records, a, parts["infrastructure"] + parts["classifier"])
    n = len(rows)
    judged = sum(cell.judged for cell in measured.cells.values())
    report["measured"]["tasks"] = {
        "tasks": n,
        "open_tasks": sum(row.open for row in rows),
        "explored_tasks": sum(row.record.explored for row in rows),
        "pinned_tasks": sum(row.record.pinned for row in rows),
        "by_class": dict(measured.mix),
        "agentic_share": measured.mix.get("agentic", 0) / n if n else None,
        "coverage": judged / n if n else None,
        "cells": cells_json(measured.cells),
        "dual_routed": [cell.to_dict() for cell in measured.routed.values() if cell.tasks],
        "policies": {name: figures.to_json() for name, figures in measured.policies.items()},
        "break_even": break_even_by_task(
            rows, measured.policies["dual"].fixed_per_task_usd or 0.0, measured.failure, a.tier(Role.MID)
        ),
        "failure_remedy": remedy_json(measured.failure),
        "measurement": {
            "exploration": exploration_line(
                rows, measured.cells, {"single_turn": a.single_turn_tier, "agentic": a.agentic_tier}
            ),
            "judge_usd": report["measured"]["spend"].get("judge", 0.0),
        },
    }
    report["verdict"].update(verdict_by_task(measured, n, outcomes_are_a_sample).to_json())
    report["assumptions"]["outcomes_are_a_sample"] = outcomes_are_a_sample
    report["assumptions"]["unknown_task_outcomes_count_as_success"] = False
    return report
