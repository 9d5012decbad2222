"""Typed report objects: a policy's figures, as the engine computes them and every renderer reads them.

The report travels as JSON (`--json`, `GET /v1/routing-tax`, the demo reads it back over HTTP), so each
object writes its JSON (`to_json`, the field names the contract has always had) and reads it back
(`from_json`); the verdict and the text renderers work on the objects, not on dictionary keys, so a
renamed or missing field is a type error rather than a `KeyError` at print time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from metering.verdict import Decision

Pair = tuple[float | None, float | None]
NONE_PAIR: Pair = (None, None)


class Level(StrEnum):
    """What a policy was measured on: requests (the request-level table) or tasks (`measured.tasks`)."""

    REQUEST = "request"
    TASK = "task"


class Basis(StrEnum):
    """What a policy's figure stands on: its cells' own measured traffic, or (a cell not measured) the traffic's
    tokens repriced at the tier at the published success rates, an estimate that never enters a decision."""

    MEASURED = "measured"
    REPRICED_ESTIMATE = "repriced_estimate"


@dataclass(frozen=True, slots=True)
class PolicyFigures:
    """One policy's cost per completed task with its interval (and, per task, its bounds), or what it lacks."""

    name: str
    level: Level
    measured: bool
    role: str | None = None  # the policy's name by tier role (`mid_only` for `mini_only`): policy_table.PolicyDef.key
    cost_per_completed_task_usd: float | None = None
    ci: Pair = NONE_PAIR
    missing_cells: tuple[str, ...] = ()
    success_rate: Mapping[str, float | None] = field(default_factory=dict)  # by class
    cost_per_unit_usd: Mapping[str, float] = field(default_factory=dict)  # by class: per request, or per task
    self_hosted: bool = False  # serves work on the self-hosted tier: the marginal view is shown beside it
    marginal_cost_per_completed_task_usd: float | None = None
    estimate_at_published_rates_usd: float | None = None  # request level, not measured: the published view's figure
    # per task only
    bounds: Pair = NONE_PAIR
    cells: Mapping[str, str] = field(default_factory=dict)  # class -> the cell it reads (`nano/agentic`)
    unjudged_cells: tuple[str, ...] = ()
    estimate: Mapping[str, Any] | None = None  # not measured: the labelled estimate (never a measurement)
    fixed_per_task_usd: float | None = None  # dual: infrastructure and classifier per task

    @property
    def priced(self) -> bool:
        """Measured and with a point figure: it can be compared with another policy."""
        return self.measured and self.cost_per_completed_task_usd is not None

    @property
    def basis(self) -> Basis | None:
        """Measured, a repriced estimate beside a policy not measured, or None: no figure of either kind."""
        if self.measured:
            return Basis.MEASURED
        return Basis.REPRICED_ESTIMATE if self.estimate_usd is not None else None

    @property
    def estimate_usd(self) -> float | None:
        """The labelled estimate beside a policy that is not measured, at either level."""
        if self.level is Level.REQUEST:
            return self.estimate_at_published_rates_usd
        return (self.estimate or {}).get("cost_per_completed_task_usd")

    def to_json(self) -> dict[str, Any]:
        return _request_json(self) if self.level is Level.REQUEST else _task_json(self)

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any], level: Level) -> PolicyFigures:
        unit = "cost_per_request_usd" if level is Level.REQUEST else "cost_per_task_usd"
        return cls(
            name=name,
            level=level,
            measured=data["measured"],
            role=data.get("role"),
            cost_per_completed_task_usd=data["cost_per_completed_task_usd"],
            ci=_pair(data["ci"]),
            missing_cells=tuple(data["missing_cells"]),
            success_rate=data.get("success_rate") or {},
            cost_per_unit_usd=data.get(unit) or {},
            self_hosted="marginal_cost_per_completed_task_usd" in data,
            marginal_cost_per_completed_task_usd=data.get("marginal_cost_per_completed_task_usd"),
            estimate_at_published_rates_usd=data.get("estimate_at_published_rates_usd"),
            bounds=_pair(data.get("bounds") or NONE_PAIR),
            cells=data.get("cells") or {},
            unjudged_cells=tuple(data.get("unjudged_cells") or ()),
            estimate=data.get("estimate"),
            fixed_per_task_usd=data.get("fixed_per_task_usd"),
        )


def policies_from_json(policies: Mapping[str, Mapping[str, Any]], level: Level) -> dict[str, PolicyFigures]:
    return {name: PolicyFigures.from_json(name, data, level) for name, data in policies.items()}


def _pair(values: Any) -> Pair:
    lo, hi = values
    return lo, hi


def _request_json(p: PolicyFigures) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cost_per_completed_task_usd": p.cost_per_completed_task_usd,
        "ci": list(p.ci),
        "measured": p.measured,
        "basis": p.basis,
        "role": p.role,
        "missing_cells": list(p.missing_cells),
    }
    if p.measured:
        out["success_rate"] = dict(p.success_rate)
        out["cost_per_request_usd"] = dict(p.cost_per_unit_usd)
    if p.self_hosted:
        out["marginal_cost_per_completed_task_usd"] = p.marginal_cost_per_completed_task_usd
    if not p.measured and p.name != "dual":
        out["estimate_at_published_rates_usd"] = p.estimate_at_published_rates_usd
    return out


def _task_json(p: PolicyFigures) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy": p.name,
        "measured": p.measured,
        "basis": p.basis,
        "role": p.role,
        "missing_cells": list(p.missing_cells),
        "estimate": None if p.estimate is None else dict(p.estimate),
        "cost_per_completed_task_usd": p.cost_per_completed_task_usd,
        "ci": list(p.ci),
        "bounds": list(p.bounds),
    }
    if p.measured:
        out["unjudged_cells"] = list(p.unjudged_cells)
        out["cost_per_task_usd"] = dict(p.cost_per_unit_usd)
        out["success_rate"] = dict(p.success_rate)
        out["cells"] = dict(p.cells)
        if p.self_hosted:
            out["marginal_cost_per_completed_task_usd"] = p.marginal_cost_per_completed_task_usd
    if p.fixed_per_task_usd is not None:
        out["fixed_per_task_usd"] = p.fixed_per_task_usd
    return out


UNDECIDED = "undecided"


@dataclass(frozen=True, slots=True)
class TaskVerdict:
    """The verdict per completed task: the cheapest policy, and dual against everything on the mid tier.

    `cheapest` is a policy's name only when its range lies wholly below every other measured policy's,
    else UNDECIDED with `cheapest_point` (the lowest so far) and `cheapest_needs` (what would decide it:
    `decide_by` in words, and where known the `cell`, `more_tasks`, `more_judged` and the policy it overlaps,
    `against`). `bottom_line` is the sentence the text report opens with.
    """

    cheapest: str = UNDECIDED
    cheapest_point: str | None = None
    cheapest_needs: Mapping[str, Any] | None = None
    not_measured: tuple[str, ...] = ()
    dual_vs_mini: Decision = Decision.UNDECIDED
    dual_vs_mini_needs: Mapping[str, Any] | None = None
    mid_policy: str | None = "mini_only"  # the policy dual is weighed against: everything on the mid tier
    outcomes_are_a_sample: bool = False
    bottom_line: str = ""

    def to_json(self) -> dict[str, Any]:
        """The fields `verdict` carries beside the request-level decision."""
        return {
            "cheapest": self.cheapest,
            "cheapest_point": self.cheapest_point,
            "cheapest_needs": None if self.cheapest_needs is None else dict(self.cheapest_needs),
            "not_measured": list(self.not_measured),
            "dual_vs_mini": self.dual_vs_mini,
            "dual_vs_mini_needs": None if self.dual_vs_mini_needs is None else dict(self.dual_vs_mini_needs),
            "mid_policy": self.mid_policy,
            "outcomes_are_a_sample": self.outcomes_are_a_sample,
            "bottom_line": self.bottom_line,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskVerdict:
        return cls(
            cheapest=data["cheapest"],
            cheapest_point=data["cheapest_point"],
            cheapest_needs=data["cheapest_needs"],
            not_measured=tuple(data["not_measured"]),
            dual_vs_mini=Decision(data["dual_vs_mini"]),
            dual_vs_mini_needs=data["dual_vs_mini_needs"],
            mid_policy=data.get("mid_policy"),
            outcomes_are_a_sample=data["outcomes_are_a_sample"],
            bottom_line=data["bottom_line"],
        )
