"""Every policy priced from the traffic's own tokens, at the published success rates: the audit's answer.

Before any outcome is measured — from request logs (`routetax audit`) or for a report's policy whose cells
have no traffic yet — a policy can still be priced: each request's tokens repriced at the tier its class
goes to under the policy (with the request's own modifiers), a policy that splits classes between tiers
loaded with a routing overhead (the published band), and divided by the completions the published success
rates promise. Both the audit and the report compute it here, so for the same requests they say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metering.tax.assumptions import Assumptions
from metering.tax.model import published_success_rate
from metering.tax.policy_table import policies_for


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """One policy priced from tokens: its spend over the traffic, and per completed task at the published rates."""

    spend_usd: float | None  # None: a tier it sends work to has no price for these requests
    completed: float | None  # the completions the published rates promise; None: a tier without a published rate

    @property
    def cost_per_completed_task_usd(self) -> float | None:
        if self.spend_usd is None or not self.completed:
            return None
        return self.spend_usd / self.completed


def token_view(
    repriced: Mapping[str, Mapping[str, float]], requests: Mapping[str, int], a: Assumptions, overhead: float
) -> dict[str, TokenPolicy]:
    """Policy name -> its token-priced figures. `repriced`: class -> tier -> that class's requests priced at the
    tier; `requests`: class -> how many; `overhead`: the routing overhead a policy that splits classes pays."""
    out = {}
    for name, (policy, tiers) in policies_for(a).items():
        labels = [label for label in tiers if requests.get(label)]
        prices = [repriced.get(label, {}).get(tiers[label]) for label in labels]
        spend = None if any(p is None for p in prices) else sum(prices)  # type: ignore[arg-type]
        if spend is not None and policy.splits_by_class:
            spend *= 1 + overhead
        rates = [published_success_rate(a.role_of(tiers[label]), label) for label in labels]
        completed = None
        if all(rate is not None for rate in rates):
            completed = sum(requests[label] * rate for label, rate in zip(labels, rates, strict=True))  # type: ignore[operator]
        out[name] = TokenPolicy(spend, completed)
    return out


def token_view_json(view: Mapping[str, TokenPolicy], overhead: float) -> dict[str, object]:
    return {
        "overhead": overhead,
        "policies": {
            name: {
                "spend_usd": p.spend_usd,
                "completed_tasks": p.completed,
                "cost_per_completed_task_usd": p.cost_per_completed_task_usd,
            }
            for name, p in view.items()
        },
    }
