"""The audit's one decision: which policy to deploy, what it saves, how sure that is, and what would flip it.

Three answers used to print side by side — the published table's verdict for the share, the calculator's
break-even verdict, and the cheapest policy per completed task. Only the last prices both what the traffic's
tokens cost on each tier and how often each tier completes the work (the published success rates), so it is the
decision; the other two stay in the report as context. The decision is the policy with the lowest cost per
completed task among those with published rates (nano-only, mini-only, dual-tier); it is set against mini-only
(everything on the mid tier, what a team sends without routing), or, when mini-only is the decision, against the
next cheapest. What it saves a month is priced on the same completed tasks: the tasks the baseline completes in a
month, at the baseline's cost per completed task less the decision's.

How sure: the decision and its saving are recomputed for every cell of a sensitivity table — completion tokens ×0.5,
×1 and ×2, and the cached share of every prompt at 0, as logged, and 90% — and at both ends of the agentic share's
interval (metering/tax/share_interval.py); the saving's range is the lowest and highest over all of them. What would
flip it: the cells whose decision differs, the agentic share at which it changes (searched over 0-100%), and the
price of fixing one failed task at which the policy that fails more stops saving (the published success rates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metering.audit.scan import AGENTIC, SINGLE_TURN
from metering.cost import cost_usd, mode_of
from metering.prices import Price, price_for
from metering.record import Usage
from metering.tax import model as tax_model
from metering.tax.assumptions import Assumptions
from metering.tax.policy_table import CHEAP_ONLY, MID_ONLY
from metering.tax.roles import Role
from metering.tax.token_view import Plan, token_plan, token_view

ROLE_MODELS = {Role.CHEAP: "gpt-5.4-nano", Role.MID: "gpt-5.4-mini"}  # as the audit's projection prices them
OUTPUT_SCALES = (0.5, 1.0, 2.0)
CACHE_SHARES: tuple[float | None, ...] = (0.0, None, 0.9)  # None: as logged (estimates filled in)
SHARE_STEPS = 20  # the flip share is searched on a 5-point grid, then narrowed
BISECTIONS = 8

Mix = Mapping[tuple[str, str], Usage]


@dataclass(frozen=True, slots=True)
class Priced:
    """A policy over a month: its spend, the tasks it completes, and their ratio."""

    monthly_usd: float
    completed: float

    @property
    def per_task(self) -> float | None:
        return self.monthly_usd / self.completed if self.completed else None


def _varied(mix: Mix, output_scale: float, cache_share: float | None, class_scale: Mapping[str, float]) -> Mix:
    out = {}
    for (label, mode), u in mix.items():
        k = class_scale.get(label, 1.0)
        prompt = u.prompt_tokens * k
        cached = u.cached_tokens * k if cache_share is None else prompt * cache_share
        out[(label, mode)] = Usage(
            round(prompt),
            round(cached),
            round(u.completion_tokens * k * output_scale),
            round(u.reasoning_tokens * k * output_scale),
        )
    return out


def role_prices(a: Assumptions) -> list[tuple[str, Price]]:
    """Each priced role's tier and its model's price. Made once per decision and handed to every `price_policies`
    of it: `price_for` works out every mode's rates afresh, and a decision prices its mix about 150 times (the
    sensitivity cells and the flip share's search), which was most of what the audit's report cost."""
    return [(tier, price_for(model)) for role, model in ROLE_MODELS.items() if (tier := a.tier(role)) is not None]


def price_policies(
    mix: Mix,
    requests: Mapping[str, float],
    scale: float,
    prices: list[tuple[str, Price]],
    plan: Plan,
) -> dict[str, Priced]:
    """Every policy with a published success rate, priced on `mix` as the audit's projection prices the logs
    (`prices`: `role_prices`, `plan`: `token_plan` of the assumptions, made once by a decision for all its pricings)."""
    repriced: dict[str, dict[str, float]] = {label: {} for label in (SINGLE_TURN, AGENTIC)}
    billed = [
        (label, mode_of(mode == "batch", mode if mode in ("flex", "priority") else None), usage)
        for (label, mode), usage in mix.items()
    ]
    for tier, price in prices:
        for label, billed_as, usage in billed:
            repriced[label][tier] = repriced[label].get(tier, 0.0) + cost_usd(usage, price, billed_as)
    view = token_view(repriced, requests, plan, tax_model.OVERHEAD_MID)  # type: ignore[arg-type]
    return {
        name: Priced(scale * p.spend_usd, scale * p.completed)
        for name, p in view.items()
        if p.spend_usd is not None and p.completed
    }


def _decide(priced: Mapping[str, Priced], baseline: str) -> tuple[str, str, float] | None:
    """(deploy, against, saves a month) or None when fewer than two policies are priced."""
    ranked = sorted((p.per_task, name) for name, p in priced.items() if p.per_task is not None)
    if len(ranked) < 2:
        return None
    deploy = ranked[0][1]
    against = baseline if deploy != baseline and baseline in priced else ranked[1][1]
    return deploy, against, _saves(priced, deploy, against)


def _saves(priced: Mapping[str, Priced], deploy: str, against: str) -> float:
    base, chosen = priced[against], priced[deploy]
    return (base.per_task or 0.0) * base.completed - (chosen.per_task or 0.0) * base.completed


def _class_scale(requests: Mapping[str, float], share: float) -> dict[str, float] | None:
    """How much each class is scaled so the agentic share becomes `share` (None: a class it would need is absent)."""
    total = requests.get(SINGLE_TURN, 0) + requests.get(AGENTIC, 0)
    agentic, single = requests.get(AGENTIC, 0), requests.get(SINGLE_TURN, 0)
    if not total or (share > 0 and not agentic) or (share < 1 and not single):
        return None
    return {
        AGENTIC: share * total / agentic if agentic else 0.0,
        SINGLE_TURN: (1 - share) * total / single if single else 0.0,
    }


def decide(
    mix: Mix,
    requests: Mapping[str, int],
    scale: float,
    a: Assumptions,
    share_interval: Mapping[str, Any] | None,
    corrected: Mapping[str, Any],
) -> dict[str, Any]:
    """`bottom_line`, `sensitivity` and `verdict_survives` for the audit's JSON."""
    baseline = MID_ONLY.name(a) or "mini_only"
    cheap_only = CHEAP_ONLY.name(a) or "nano_only"

    prices, plan = role_prices(a), token_plan(a)

    def priced_at(output_scale: float, cache_share: float | None, class_scale: Mapping[str, float]) -> dict:
        scaled_requests = {label: n * class_scale.get(label, 1.0) for label, n in requests.items()}
        scaled_mix = _varied(mix, output_scale, cache_share, class_scale)
        return price_policies(scaled_mix, scaled_requests, scale, prices, plan)

    base = priced_at(1.0, None, {})
    decided = _decide(base, baseline)
    if decided is None:
        return {"bottom_line": None, "sensitivity": [], "verdict_survives": None}
    deploy, against, saves = decided
    shares: list[dict[str, float]] = [{}]
    if share_interval is not None:
        for end in (share_interval["low"], share_interval["high"]):
            varied = _class_scale(requests, end)
            if varied is not None:
                shares.append(varied)
    cells, savings = [], [saves]
    for output_scale in OUTPUT_SCALES:
        for cache_share in CACHE_SHARES:
            for i, class_scale in enumerate(shares):
                priced = priced_at(output_scale, cache_share, class_scale)
                cell = _decide(priced, baseline)
                if cell is None or deploy not in priced or against not in priced:
                    continue
                savings.append(_saves(priced, deploy, against))
                if i == 0:
                    cells.append(
                        {
                            "output_scale": output_scale,
                            "cache_share": "logged" if cache_share is None else cache_share,
                            "verdict": cell[0],
                            "savings_usd_month": savings[-1],
                            "verdict_survives": cell[0] == deploy,
                        }
                    )
    survives = all(cell["verdict_survives"] for cell in cells)
    flips = _flips_if(cells, deploy, _flip_share(priced_at, requests, baseline, deploy), corrected, cheap_only)
    low, high = min(savings), max(savings)
    text = f"Deploy {deploy}: saves {usd(saves)} a month [{usd(low)}, {usd(high)}] against {against}; " + (
        f"it would flip if {' or '.join(flips)}." if flips else "nothing in the sensitivity table flips it."
    )
    return {
        "bottom_line": {
            "text": text,
            "deploy": deploy,
            "saves_usd_month": saves,
            "low": low,
            "high": high,
            "against": against,
            "flips_if": flips,
        },
        "sensitivity": cells,
        "verdict_survives": survives,
    }


def usd(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _flip_share(priced_at: Any, requests: Mapping[str, int], baseline: str, deploy: str) -> tuple[float, str] | None:
    """The agentic share nearest the logs' at which another policy becomes the decision, and which; None: none
    between 0 and 100%. A grid of `SHARE_STEPS`, then halving the step next to the nearest change `BISECTIONS`
    times (to about 0.02 points)."""
    total = sum(requests.values())
    if not total:
        return None
    now = requests.get(AGENTIC, 0) / total

    def decision_at(share: float) -> str | None:
        class_scale = _class_scale(requests, share)
        decided = None if class_scale is None else _decide(priced_at(1.0, None, class_scale), baseline)
        return None if decided is None else decided[0]

    grid = [step / SHARE_STEPS for step in range(SHARE_STEPS + 1)]
    changed = [(share, d) for share in grid if (d := decision_at(share)) is not None and d != deploy]
    if not changed:
        return None
    share, other = min(changed, key=lambda found: abs(found[0] - now))
    inside = min(max(now, share - 1 / SHARE_STEPS), share + 1 / SHARE_STEPS)  # towards the logs' share
    for _ in range(BISECTIONS):
        middle = (share + inside) / 2
        found = decision_at(middle)
        if found is not None and found != deploy:
            share, other = middle, found
        else:
            inside = middle
    return share, other


def _flips_if(
    cells: list[dict[str, Any]],
    deploy: str,
    share: tuple[float, str] | None,
    corrected: Mapping[str, Any],
    cheap_only: str,
) -> list[str]:
    flips = []
    for cell in cells:
        if not cell["verdict_survives"]:
            cache = cell["cache_share"]
            cache_text = "as logged" if cache == "logged" else f"{cache:.0%}"
            flips.append(
                f"answers were ×{cell['output_scale']:g} as long with the cached share {cache_text} "
                f"(→ {cell['verdict']})"
            )
    if share is not None:
        flips.append(f"the agentic share reached {share[0]:.1%} (→ {share[1]})")
    key = {
        cheap_only: "nano_loses_if_fixing_a_failure_costs_more_than_usd",
        "dual": "dual_loses_if_fixing_a_failure_costs_more_than_usd",
    }.get(deploy)
    fix = corrected.get(key) if key else None
    if fix is not None:
        flips.append(f"fixing one failed task cost more than ${fix:.4f} (its extra failures against mini-only)")
    return flips
