"""What a failed task costs to put right in the policies per completed task (`report.failure_remedy`).

Unset, a failure adds nothing and is not redone (and the report says so). `usd` adds that many dollars per
failed task — the same as `report.failure_cost_usd`. `redo_on` is the source analysis's own story: a failed
task is redone on that tier (normally `full`), adding the tier's measured cost per task of the task's class,
and completes with that tier's measured success rate (docs/routing-tax.md, failure remedy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from metering.tax.cells import TaskCell


@dataclass(frozen=True, slots=True)
class Failure:
    """What a failed task costs to put right (`report.failure_remedy`, or `report.failure_cost_usd`).

    `usd` is added per failed task; with `redo` (class -> the redo tier's cell of that class) a failed task is
    also redone there, at that cell's measured cost per task, and completes with that cell's success rate.
    """

    usd: float = 0.0
    redo_on: str | None = None
    redo: Mapping[str, TaskCell] | None = None


def remedied(
    label: str, cost: float, rate: float, failure: Failure, pick: Callable[[TaskCell], float | None]
) -> tuple[float, float] | None:
    """(spent, completed) per task of a class once its failures are put right; None if the redo tier's cell of the
    class has no cost or no rate (at `pick`'s end of it)."""
    extra, redone = failure.usd, 0.0
    if failure.redo is not None:
        cell = failure.redo.get(label)
        redo_rate = pick(cell) if cell is not None else None
        if cell is None or cell.cost_per_task is None or redo_rate is None:
            return None
        extra += cell.cost_per_task
        redone = redo_rate
    return cost + (1 - rate) * extra, rate + (1 - rate) * redone


def remedy_json(failure: Failure) -> dict[str, Any]:
    """What the policies assumed a failed task costs to put right, in figures and in words."""
    if failure.redo_on is not None:
        redo = failure.redo or {}
        cells = {
            c: {"cell": f"{cell.tier}/{c}", "cost_per_task_usd": cell.cost_per_task, "success_rate": cell.rate}
            for c, cell in redo.items()
        }
        said = ", ".join(
            f"{c} ${v['cost_per_task_usd']:.6f} at {v['success_rate']:.3f}"
            if v["cost_per_task_usd"] is not None and v["success_rate"] is not None
            else f"{v['cell']} not measured"
            for c, v in cells.items()
        )
        text = f"a failed task is redone on {failure.redo_on} at its measured cost per task and success rate ({said})"
        if failure.usd:
            text += f", plus ${failure.usd} per failure"
        return {"kind": "redo_on", "usd": failure.usd, "redo_on": failure.redo_on, "redo_cells": cells, "text": text}
    if failure.usd:
        text = f"${failure.usd} per failed task (report.failure_remedy.usd or report.failure_cost_usd)"
        return {"kind": "usd", "usd": failure.usd, "redo_on": None, "redo_cells": {}, "text": text}
    text = "none: a failed task adds no cost and is not redone (report.failure_remedy sets one)"
    return {"kind": "none", "usd": 0.0, "redo_on": None, "redo_cells": {}, "text": text}
