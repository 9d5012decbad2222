"""The audit's breakdowns: each team, key, model and session priced on the one engine, top N and the rest.

A group's figures come from the same projection as the whole (`metering.tax.audit.projected_monthly_usd`, passed
in; the report's decision is made once, for the whole):
its own tokens per class × pricing mode, priced per policy over the logged window, then put on the
whole report's monthly basis (the same factor as every projected figure), so the rows of a dimension
add up to the report's `projected_monthly_usd` wherever usage is logged. (Where tokens are estimated a
group fills its completions from its own logged answers, so the rows can differ from the whole by the
estimate.) A self-hosted tier's amortised GPU cost is a fixed cost of the deployment, not of a group,
and is left out of the rows. A group's logged spend is given as logged and, like the report's, on the
monthly basis (`logged_spend_monthly_usd`).

Shown: the `TOP` groups by requests (ties by name) and `(other)` for the rest. `exact` is false for the
rows of a dimension that had to be folded to stay bounded (metering/audit/groups.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from metering.audit.groups import OTHER, Group, merge
from metering.audit.scan import Tally, TokenSampler
from metering.tax.assumptions import Assumptions

TOP = 10
Project = Callable[[Tally, Assumptions], dict[str, float | None]]


def breakdowns(
    tally: Tally, assumptions: Assumptions, scale: float, project: Project
) -> dict[str, list[dict[str, Any]]]:
    """{dimension: [row, ...]} for the dimensions the logs name (none: {})."""
    out: dict[str, list[dict[str, Any]]] = {}
    for dimension in tally.groups.present():
        groups = tally.groups.group(dimension)
        ranked = sorted((name for name in groups if name != OTHER), key=lambda name: (-groups[name].requests, name))
        rest = Group()
        for name in [*ranked[TOP:], OTHER]:
            if name in groups:
                merge(rest, groups[name])
        exact = dimension not in tally.groups.folded
        rows = [_row(name, groups[name], assumptions, scale, project, exact) for name in ranked[:TOP]]
        if rest.requests:
            rows.append(_row(OTHER, rest, assumptions, scale, project, exact))
        out[dimension] = rows
    return out


def _row(name: str, group: Group, a: Assumptions, scale: float, project: Project, exact: bool) -> dict[str, Any]:
    part = Tally(requests=group.requests, agentic=group.agentic, buckets=group.buckets)
    part.finish(TokenSampler())  # its buckets are settled already: this only sums their cached shares
    logged = project(part, replace(a, calls_per_month=group.requests))  # the window's
    return {
        "name": name,
        "requests": group.requests,
        "agentic_share": group.agentic / group.requests,
        "logged_spend_usd": group.spend_usd if group.spend_requests else None,
        "logged_spend_monthly_usd": group.spend_usd * scale if group.spend_requests else None,
        "projected_monthly_usd": {
            policy: usd * scale
            for policy, usd in logged.items()
            if usd is not None and not policy.endswith("_amortised")
        },
        "exact": exact,
    }
