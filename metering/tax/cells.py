"""Cells of tasks: what each (arm tier, task class) cell measured, task by task (docs/routing-tax.md, cells of tasks).

A task belongs to the cell of its arm — the tier its first step was sent to, by routing or exploration —
with all its costs, wherever later steps went (a fallback or an escalation stays in the arm's cell). A
cell's success rate is read among its *judged* tasks only (feedback or the judge): those are a sample of
its tasks, so their rate carries a 95% Wilson interval, and the coverage (judged ÷ tasks) says how big a
sample. A detected failure is certain but is found only among tasks nobody judged, so it counts in the
bounds, not in the judged rate (counting it there would bias the rate down). The bounds take every
unknown as a failure, then as a success: the truth lies between them whatever the unknowns were.
Unknown is never success.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metering.tasks import OutcomeSource, TaskOutcome, TaskRecord
from metering.tax.intervals import wilson
from metering.tax.roles import CLASSES


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task as the report counts it: its record, what it cost in all (billed + GPU amortised), open or not."""

    record: TaskRecord
    cost_usd: float  # billed cost of every attempt plus the self-hosted GPU time charged to it
    amortised_usd: float = 0.0  # the self-hosted GPU time among it (0 on hosted tiers)
    open: bool = False  # still open when the report was read: its outcome is what is known so far


@dataclass(slots=True)
class TaskCell:
    """The tasks of one (arm, class) cell and what is known of their outcomes."""

    tier: str
    task_class: str
    costs: list[float] = field(default_factory=list)
    amortised: float = 0.0
    steps: int = 0
    open: int = 0
    explored: int = 0
    feedback_success: int = 0
    feedback_failure: int = 0
    judge_success: int = 0
    judge_failure: int = 0
    detected: int = 0
    unknown: int = 0

    def add(self, row: TaskRow) -> None:
        record = row.record
        self.costs.append(row.cost_usd)
        self.amortised += row.amortised_usd
        self.steps += record.steps
        self.open += row.open
        self.explored += record.explored
        source, success = record.outcome_source, record.outcome is TaskOutcome.SUCCESS
        if source is OutcomeSource.FEEDBACK:
            self.feedback_success += success
            self.feedback_failure += not success
        elif source is OutcomeSource.JUDGE:
            self.judge_success += success
            self.judge_failure += not success
        elif source is OutcomeSource.DETECTED:
            self.detected += 1
        else:
            self.unknown += 1

    @property
    def tasks(self) -> int:
        return len(self.costs)

    @property
    def successes(self) -> int:
        """Tasks known to have succeeded: only feedback or the judge ever says so."""
        return self.feedback_success + self.judge_success

    @property
    def judged(self) -> int:
        return self.feedback_success + self.feedback_failure + self.judge_success + self.judge_failure

    @property
    def cost_per_task(self) -> float | None:
        return statistics.fmean(self.costs) if self.costs else None

    @property
    def marginal_cost_per_task(self) -> float | None:
        """Cost per task without the GPU's hours (self-hosted tokens at their marginal cost, 0)."""
        return (sum(self.costs) - self.amortised) / self.tasks if self.costs else None

    @property
    def rate(self) -> float | None:
        """Success rate among judged tasks (None: none judged)."""
        return self.successes / self.judged if self.judged else None

    @property
    def rate_ci(self) -> tuple[float, float] | None:
        return wilson(self.successes, self.judged)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """(every unknown a failure, every unknown a success) over all the cell's tasks."""
        if not self.tasks:
            return None
        return self.successes / self.tasks, (self.successes + self.unknown) / self.tasks

    def to_dict(self) -> dict[str, Any]:
        n = self.tasks
        cost, rate, ci, bounds = self.cost_per_task, self.rate, self.rate_ci, self.bounds
        spread = _spread(self.costs)
        return {
            "tier": self.tier,
            "class": self.task_class,
            "measured": n > 0,
            "status": "measured" if n else "not measured",
            "tasks": n,
            "open_tasks": self.open,
            "explored_tasks": self.explored,
            "steps_per_task": self.steps / n if n else None,
            "cost_per_task_usd": cost,
            "cost_per_task_spread_usd": spread,
            "outcomes": {
                "feedback": {"success": self.feedback_success, "failure": self.feedback_failure},
                "detected": {"failure": self.detected},
                "judge": {"success": self.judge_success, "failure": self.judge_failure},
                "unknown": self.unknown,
            },
            "judged_tasks": self.judged,
            "coverage": self.judged / n if n else None,
            "success_rate": rate,
            "success_ci": list(ci) if ci else [None, None],
            "success_bounds": list(bounds) if bounds else [None, None],
            "cost_per_completed_task_usd": _per_completed(cost, rate),
            "cost_per_completed_task_ci": [_per_completed(cost, ci[1]), _per_completed(cost, ci[0])]
            if ci
            else [None, None],
            "cost_per_completed_task_bounds": [_per_completed(cost, bounds[1]), _per_completed(cost, bounds[0])]
            if bounds
            else [None, None],
        }


def build_cells(rows: Iterable[TaskRow], tiers: Iterable[str]) -> dict[tuple[str, str], TaskCell]:
    """Every (tier, class) cell: the configured tiers always listed (measured or not), plus any arm the tasks had."""
    cells: dict[tuple[str, str], TaskCell] = {}
    for tier in tiers:
        for label in CLASSES:
            cells[(tier, label)] = TaskCell(tier, label)
    for row in rows:
        arm = row.record.arm
        if arm is None:
            continue  # a task with no step that reached a tier: no cell
        label = row.record.task_class if row.record.task_class in CLASSES else "single_turn"
        cells.setdefault((arm, label), TaskCell(arm, label)).add(row)
    return cells


def cells_json(cells: Mapping[tuple[str, str], TaskCell]) -> list[dict[str, Any]]:
    return [cell.to_dict() for cell in cells.values()]


def _per_completed(cost: float | None, rate: float | None) -> float | None:
    """Cost per task ÷ success rate; None without a cost, and None (no completed task) at a rate of 0."""
    if cost is None or rate is None or rate <= 0:
        return None
    return cost / rate


def _spread(costs: list[float]) -> dict[str, float | None]:
    """The cost per task's spread: standard deviation, the mean's standard error, min and max."""
    if not costs:
        return {"sd": None, "se": None, "min": None, "max": None}
    sd = statistics.stdev(costs) if len(costs) > 1 else 0.0
    return {"sd": sd, "se": sd / math.sqrt(len(costs)), "min": min(costs), "max": max(costs)}
