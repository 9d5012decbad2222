"""The spend the gateway logged, put on the projection's monthly basis so the two can be read side by side.

A LiteLLM export of 14 days logs 14 days' spend; the projections are a month's. The logged spend is
scaled by the same factor as every projected policy (the month's requests over the requests read), so
"what you pay now" and "what each policy would cost" are one basis. When only some requests carry a
logged spend (LiteLLM rows beside other formats), the figure covers those only, and says how many.
"""

from __future__ import annotations

from typing import Any

from metering.audit.scan import Tally


def logged_spend_monthly(tally: Tally, monthly_requests: float) -> dict[str, Any]:
    """`logged_spend_monthly_usd` (None when no request logged a spend) and how many requests it covers."""
    if not tally.logged_spend_requests or not tally.requests:
        return {"logged_spend_monthly_usd": None, "logged_spend_requests": 0}
    return {
        "logged_spend_monthly_usd": tally.logged_spend_usd * monthly_requests / tally.requests,
        "logged_spend_requests": tally.logged_spend_requests,
    }
