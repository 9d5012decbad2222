"""Measurement spend per task: what exploring cost against routing the same tasks (docs/routing-tax.md, 2b).

Exploration sends a share of tasks to a drawn tier so that every cell is measured. What that costs is
not the explored tasks' spend — routing them would have cost something too — but the difference, in
two currencies kept apart:

- **dollars**: each explored task's cost (billed + its self-hosted GPU time) less the measured cost per
  task of the cell routing would have put it in — the tier the policy sends its class to
  (`policy.single_turn` / `policy.agentic`), that class. The router and the classifier served explored
  tasks exactly as routed ones, so neither is in either side.
- **completions forgone**: for each explored task, that routed cell's success rate less its own arm
  cell's (expected completions under routing minus under the arm drawn).

The dollar line is negative when the arms drawn are cheaper per task than the routed tier (nano or a
self-hosted tier doing agentic work instead of mini): exploring then truly cost less money and paid in
completions instead, and the report says so. Charged to no policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from metering.tax.cells import TaskCell, TaskRow


def exploration_line(
    rows: Iterable[TaskRow], cells: Mapping[tuple[str, str], TaskCell], routed_tiers: Mapping[str, str]
) -> dict[str, Any]:
    """The explored tasks' extra dollars and the completions they forwent, in all and by (arm, class)."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        record = row.record
        if record.explored and record.arm is not None:
            groups[(record.arm, record.task_class)].append(row.cost_usd)
    by_cell = []
    usd: float | None = 0.0
    forgone: float | None = 0.0
    not_measured: list[str] = []
    unjudged: list[str] = []
    for (arm, label), costs in sorted(groups.items()):
        tier = routed_tiers.get(label)
        routed = cells.get((tier, label)) if tier is not None else None
        own = cells.get((arm, label))
        entry: dict[str, Any] = {
            "arm": arm,
            "class": label,
            "tasks": len(costs),
            "routed_cell": f"{tier}/{label}",
            "explored_usd": sum(costs),
            "routing_usd": None,
            "usd": None,
            "completions_forgone": None,
        }
        if routed is None or routed.cost_per_task is None:
            not_measured.append(f"{tier}/{label}")
            usd = None
        else:
            entry["routing_usd"] = routed.cost_per_task * len(costs)
            entry["usd"] = entry["explored_usd"] - entry["routing_usd"]
            usd = None if usd is None else usd + entry["usd"]
        if routed is None or routed.rate is None or own is None or own.rate is None:
            pair = ((f"{tier}/{label}", routed), (f"{arm}/{label}", own))
            unjudged.extend(name for name, cell in pair if not _judged(cell))
            forgone = None
        else:
            entry["completions_forgone"] = len(costs) * (routed.rate - own.rate)
            forgone = None if forgone is None else forgone + entry["completions_forgone"]
        by_cell.append(entry)
    tasks = sum(entry["tasks"] for entry in by_cell)
    return {
        "tasks": tasks,
        "usd": usd if tasks else 0.0,
        "completions_forgone": forgone if tasks else 0.0,
        "cheaper_than_routing": None if usd is None or not tasks else usd < 0,
        "routed_tiers": dict(routed_tiers),
        "by_cell": by_cell,
        "not_measured": sorted(set(not_measured)),
        "unjudged_cells": sorted(set(unjudged)),
    }


def _judged(cell: TaskCell | None) -> bool:
    return cell is not None and cell.rate is not None
