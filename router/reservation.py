"""A request's worst case, reserved against its key's budget and tokens per minute before it starts.

A budget only bounds spend if no request can be charged more than it reserved. So the reservation is
what the metering pipeline could charge the request at most (docs/budgets.md states it as a formula,
with the bound it gives and what can break it):

- the prompt as one token per byte of the body (a text token is at least one byte), at the rates it
  would be billed at (the long-context rates above 272K, priority when the request asks for it, the
  tier's region uplift);
- the output as the request's cap (`max_completion_tokens`, `max_tokens`, `max_output_tokens`; at
  most the model's own limit) or, without one, the model's output limit, times `n`;
- on every tier the walk may reach: the plan, and when the prompt may not fit a tier's window, the
  larger-window tiers a context-length error may add;
- for every attempt on each tier that can be billed: one answer (or degraded answer, redone on the
  next tier) per tier, and for a stream also each retry, since a stream cut before its first visible
  event is charged what it carried.

The tokens per minute take the prompt bound and the largest output cap (× `n`): the answer's tokens,
settled to what it really used when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metering.cost import rates_for
from metering.pipeline import MAX_OUTPUT_TOKENS
from metering.prices import Mode, Price

OUTPUT_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


@dataclass(frozen=True, slots=True)
class TierLimits:
    """What the reservation needs to know of a tier: its price, input window and region."""

    price: Price | None
    window: int | None
    region: str | None = None

    @property
    def output_limit(self) -> int:
        """The most output tokens one choice can have on this tier (unknown: the most metering believes)."""
        limit = self.price.max_output_tokens if self.price is not None else None
        return limit or MAX_OUTPUT_TOKENS


@dataclass(frozen=True, slots=True)
class Reservation:
    """What a request may cost at most, and the most tokens its answer may use."""

    usd: float
    tokens: int
    output_cap: int | None  # the request's own cap, None when it set none


def output_cap(body: Mapping[str, Any]) -> int | None:
    """The request's own output cap, if it set one (the largest, if it set several: which one binds is the
    upstream's choice)."""
    caps = [value for name in OUTPUT_CAPS if type(value := body.get(name)) is int and value > 0]
    return max(caps) if caps else None


def choices(body: Mapping[str, Any]) -> int:
    n = body.get("n")
    return n if type(n) is int and n > 1 else 1


def reachable(plan: list[str], tiers: Mapping[str, TierLimits], prompt_bound: int, grow: bool) -> list[str]:
    """The tiers a walk of `plan` may be billed on: the plan, and — when the prompt may exceed a window in it and
    the walk may grow — every configured tier with a larger window (context-length errors add them one by one)."""
    reached = list(plan)
    if not grow:
        return reached
    overflowing = [tiers[t].window for t in plan if t in tiers and tiers[t].window is not None]
    smallest = min((w for w in overflowing if w is not None and prompt_bound > w), default=None)
    if smallest is None:
        return reached
    reached += [t for t, limits in tiers.items() if t not in plan and (limits.window or 0) > smallest]
    return reached


def worst_case(
    plan: list[str],
    tiers: Mapping[str, TierLimits],
    body: Mapping[str, Any],
    body_bytes: int,
    *,
    max_retries: int,
    grow: bool = True,
) -> Reservation:
    """The most the request can be charged, and the most tokens its answer can use (see the module's docstring)."""
    prompt = body_bytes
    cap = output_cap(body)
    n = choices(body)
    attempts = 1 + max_retries if body.get("stream") is True else 1
    mode = Mode.PRIORITY if body.get("service_tier") == "priority" else Mode.STANDARD
    usd = 0.0
    most_output = 0
    for tier in reachable(plan, tiers, prompt, grow):
        limits = tiers.get(tier)
        if limits is None:
            continue
        output = min(cap, limits.output_limit) if cap is not None else limits.output_limit
        most_output = max(most_output, output)
        if limits.price is None:
            continue
        rates = rates_for(limits.price, prompt, mode, limits.region)
        usd += attempts * (prompt * rates.input + n * output * rates.output)
    return Reservation(usd, prompt + n * most_output, cap)


def embedding_worst_case(price: Price | None, body_bytes: int) -> Reservation:
    """An embeddings request is never redone and writes nothing: its bytes as tokens at the model's input rate."""
    usd = body_bytes * price.standard.input if price is not None else 0.0
    return Reservation(usd, body_bytes, None)
