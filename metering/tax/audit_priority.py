"""Requests the logs show at priority processing, repriced on nano: the price rules' rate, said out loud.

The audit prices every logged request in the mode its answer reported, on each policy's tiers. For
priority that is the price rules' multiple of the standard rates (docs/pricing.md) — for gpt-5.4-nano
too, although litellm's price map lists no priority rate for it (it does for gpt-5.4-mini). So the
nano-only and dual projections rest on a rate nobody published for those requests: the figure the
audit gives is kept (it is the rule the proxy bills by), and beside it how much lower nano's share
would be were nano to serve them at its standard rates — what a team moving priority traffic to a
model without a published priority rate should expect to check first.
"""

from __future__ import annotations

from typing import Any

from metering.audit.scan import Tally
from metering.cost import cost
from metering.prices import Mode, price_for, rules_for
from metering.record import Usage
from metering.tax.audit_text import _usd

NANO = "gpt-5.4-nano"
PRIORITY = Mode.PRIORITY.value


def priority_on_nano(tally: Tally, mix: dict[tuple[str, str], Usage], scale: float) -> dict[str, Any] | None:
    """What the priority-logged requests add to nano's cost a month; None when the logs show none at priority."""
    requests = sum(b.requests for (_label, mode), b in tally.buckets.items() if mode == PRIORITY)
    if not requests:
        return None
    price = price_for(NANO)
    premium: dict[str, float] = {}
    for (label, mode), usage in mix.items():
        if mode != PRIORITY:
            continue
        extra = cost(usage, price, service_tier=PRIORITY).total_usd - cost(usage, price).total_usd
        premium[label] = premium.get(label, 0.0) + extra * scale
    rules = rules_for(NANO)
    multiplier = rules.priority if rules is not None else None
    total = sum(premium.values())
    note = (
        f"{requests:,} logged requests were served at priority: on gpt-5.4-nano (nano_only, and dual's "
        f"single-turn part) they are priced at the price rules' priority rate, {multiplier:g}× standard, "
        "though litellm's price map lists no priority rate for gpt-5.4-nano; at nano's standard rates "
        f"nano_only would cost {_usd(total)} a month less, and dual's single-turn part "
        f"{_usd(premium.get('single_turn', 0.0))} less before the routing overhead."
    )
    return {
        "requests": requests,
        "nano_multiplier": multiplier,
        "nano_only_premium_usd_month": total,
        "single_turn_premium_usd_month": premium.get("single_turn", 0.0),
        "note": note,
    }
