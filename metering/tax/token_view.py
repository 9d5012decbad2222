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


Plan = tuple[tuple[str, bool, tuple[tuple[str, str, float | None], ...]], ...]


def token_plan(a: Assumptions) -> Plan:
    """Each policy's name, whether it splits classes, and per class the tier serving it with that tier's published
    success rate: all `token_view` needs of the assumptions. A caller pricing many mixes under one set of them (the
    audit's decision prices ~50) makes it once."""
    return tuple(
        (
            name,
            policy.splits_by_class,
            tuple((label, tier, published_success_rate(a.role_of(tier), label)) for label, tier in tiers.items()),
        )
        for name, (policy, tiers) in policies_for(a).items()
    )


def token_view(
    repriced: Mapping[str, Mapping[str, float]], requests: Mapping[str, int], plan: Plan, overhead: float
) -> dict[str, TokenPolicy]:
    """Policy name -> its token-priced figures. `repriced`: class -> tier -> that class's requests priced at the
    tier; `requests`: class -> how many; `plan`: `token_plan` of the assumptions; `overhead`: the routing overhead a
    policy that splits classes pays."""
    out = {}
    for name, splits_by_class, classes in plan:
        present = [(label, tier, rate) for label, tier, rate in classes if requests.get(label)]
        prices = [repriced.get(label, {}).get(tier) for label, tier, _ in present]
        spend = None if any(p is None for p in prices) else sum(prices)  # type: ignore[arg-type]
        if spend is not None and splits_by_class:
            spend *= 1 + overhead
        completed = None
        if all(rate is not None for _, _, rate in present):
            completed = sum(requests[label] * rate for label, _, rate in present)  # type: ignore[operator]
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
