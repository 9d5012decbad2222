"""The exact cost of one request: usage × rates × modifiers (`routetax price`).

cost = ((prompt − cached) · input + cached · cached_input + completion · output) · modifiers

Cached tokens are a subset of prompt tokens and reasoning tokens a subset of completion
tokens: neither is ever counted on top of its parent. The service tier priced is the one
the upstream *reported*. Each mode's rates come worked out from `metering.prices` (the price
rules, docs/pricing.md), and `rates_for` is the one place that picks them — the proxy's metering,
its cache loss and `routetax price` all go through it, so they cannot disagree. Floats are exact
enough here: every rate is a few significant digits, and totals are compared to the cent and below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from metering.prices import LONG_CONTEXT_THRESHOLD, Mode, ModeRates, Price, Rates
from metering.record import PriceEstimate, Record, Usage


class ImpossibleUsage(ValueError):
    """Counts that cannot come from a real request (negative, cached above prompt, ...)."""


@dataclass(frozen=True)
class CostBreakdown:
    input_usd: float
    cached_usd: float
    output_usd: float
    total_usd: float
    modifiers: list[str] = field(default_factory=list)
    amortised_usd: float | None = None  # self-hosted: GPU-hours spread over tokens served
    estimate: PriceEstimate | None = None  # the rates are an estimate, and why (no published rate covers them)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_usage(usage: Usage) -> None:
    # Plain comparisons rather than any() over a tuple: metering checks every request's usage (2x faster).
    if usage.prompt_tokens < 0 or usage.cached_tokens < 0 or usage.completion_tokens < 0 or usage.reasoning_tokens < 0:
        raise ImpossibleUsage("token counts cannot be negative")
    if usage.cached_tokens > usage.prompt_tokens:
        raise ImpossibleUsage(f"cached tokens ({usage.cached_tokens}) exceed prompt tokens ({usage.prompt_tokens})")
    if usage.reasoning_tokens > usage.completion_tokens:
        raise ImpossibleUsage(
            f"reasoning tokens ({usage.reasoning_tokens}) exceed completion tokens ({usage.completion_tokens})"
        )


_MODE_OF_TIER = {"flex": Mode.FLEX, "priority": Mode.PRIORITY}  # any other reported tier is standard
_BATCH, _STANDARD = Mode.BATCH, Mode.STANDARD


def mode_of(batch: bool, service_tier: str | None) -> Mode:
    """The mode a request is billed in: Batch, or the service tier the upstream reported (others are standard)."""
    return _BATCH if batch else _MODE_OF_TIER.get(service_tier or "", _STANDARD)


def _mode_rates(price: Price, prompt_tokens: int, mode: Mode) -> ModeRates:
    """The rates of `mode` for a request of `prompt_tokens`: above 272K, the long-context ones (if it has a cliff)."""
    return price.modes[mode][price.long_context and prompt_tokens > LONG_CONTEXT_THRESHOLD]


def _uplifted(rates: Rates, uplift: float) -> Rates:
    return Rates(rates.input * uplift, rates.cached_input * uplift, rates.output * uplift)


def rates_for(price: Price, prompt_tokens: int, mode: Mode, region: str | None = None) -> Rates:
    """The per-token rates a request is billed at, every modifier applied: what `cost()` bills it at."""
    rates = _mode_rates(price, prompt_tokens, mode).rates
    return _uplifted(rates, price.region_uplift) if region else rates


def cost(
    usage: Usage,
    price: Price,
    *,
    batch: bool = False,
    service_tier: str | None = None,
    region: str | None = None,
    hour_tokens: int | None = None,
) -> CostBreakdown:
    """Price `usage` on `price`. `service_tier` is the upstream's reported one (default/auto/flex/priority)."""
    check_usage(usage)
    found = _mode_rates(price, usage.prompt_tokens, mode_of(batch, service_tier))
    rates, modifiers = found.rates, list(found.modifiers)
    if region:
        rates = _uplifted(rates, price.region_uplift)
        modifiers.append(f"region:{region}")
    if usage.cached_tokens:
        modifiers.insert(0, "cached")
    input_usd, cached_usd, output_usd = _priced(usage, rates)
    amortised = None
    if price.self_hosted:
        modifiers.append("self_hosted")
        if price.gpu_hour_usd is not None and hour_tokens:
            amortised = amortised_cost(price.gpu_hour_usd, hour_tokens, usage.total_tokens)
    total = input_usd + cached_usd + output_usd
    return CostBreakdown(input_usd, cached_usd, output_usd, total, modifiers, amortised, found.estimate)


def cost_usd(usage: Usage, price: Price, mode: Mode) -> float:
    """`cost(...).total_usd` without the breakdown (no region): for a caller that prices one mix many times (the
    audit's decision, ~50 times) and needs only the sum — the same sum of the same three products."""
    input_usd, cached_usd, output_usd = _priced(usage, _mode_rates(price, usage.prompt_tokens, mode).rates)
    return input_usd + cached_usd + output_usd


def _priced(usage: Usage, rates: Rates) -> tuple[float, float, float]:
    """(input, cached input, output) USD of `usage` at `rates`."""
    input_usd = (usage.prompt_tokens - usage.cached_tokens) * rates.input
    cached_usd = usage.cached_tokens * rates.cached_input
    output_usd = usage.completion_tokens * rates.output  # reasoning tokens are inside completion tokens
    return input_usd, cached_usd, output_usd


def amortised_cost(gpu_hour_usd: float, hour_tokens: int, tokens: int) -> float:
    """A self-hosted request's share of the GPU-hour: the hour's cost spread over the tokens it served."""
    if hour_tokens <= 0:
        return 0.0
    return gpu_hour_usd * tokens / hour_tokens


def billed(usage: Usage, price: Price, region: str | None = None) -> tuple[float, PriceEstimate | None]:
    """`cost(usage, price, service_tier=usage.service_tier, region=region)`'s total and estimate, nothing else.

    What an attempt is billed: the cost on the answer prices it so, and the pipeline's price stage takes that
    figure as it is rather than pricing the same usage at the same price again. The common case (standard
    rates, no modifier: never an estimate) is priced inline.
    """
    check_usage(usage)
    return _billed(usage, price, region)


def counterfactual(usage: Usage, price: Price, region: str | None = None) -> float:
    """What the same tokens would have cost on another model, with the modifiers the request really had.

    The service tier the upstream reported (flex, priority) and the long-context rule apply as they
    would have there; `region` is the baseline tier's own regional processing. Cached tokens stay
    cached: the baseline is the request served once where it would have gone, with its prompt cache.
    """
    check_usage(usage)
    return _billed(usage, price, region)[0]


def counterfactuals(
    usage: Usage, prices: dict[str, Price | None], regions: dict[str, str | None] | None = None
) -> dict[str, float]:
    """`counterfactual` for every priced tier, the usage checked once (metering does this per request)."""
    check_usage(usage)
    regions = regions or {}
    return {name: _billed(usage, price, regions.get(name))[0] for name, price in prices.items() if price is not None}


def _modified(usage: Usage, price: Price, region: str | None) -> bool:
    """Whether `usage` is billed at anything but `price.standard` as it is (a region, a mode, long context)."""
    tier = usage.service_tier
    return bool(
        region
        or tier == "flex"
        or tier == "priority"
        or (price.long_context and usage.prompt_tokens > LONG_CONTEXT_THRESHOLD)
    )


def _billed(usage: Usage, price: Price, region: str | None) -> tuple[float, PriceEstimate | None]:
    """`billed` without the usage check (the callers check it once)."""
    if _modified(usage, price, region):
        breakdown = cost(usage, price, service_tier=usage.service_tier, region=region)
        return breakdown.total_usd, breakdown.estimate
    # Standard rates with no modifier (never an estimate): priced inline, because metering prices every tier for
    # every request (a third of a record's pricing time went to building unused breakdowns).
    input_usd, cached_usd, output_usd = _priced(usage, price.standard)
    return input_usd + cached_usd + output_usd, None


def base_usd(record: Record) -> float:
    """The request served once where it ended: its final attempt's billed cost, less the cache it forfeited.

    The routing-tax report's base (overhead is what routing adds on top of it); the ledger's rollups and the
    metrics count it as each record is written, so it lives here, on the write side, not in the report.
    """
    final = record.attempts[-1] if record.attempts else None
    return (final.cost_usd if final is not None and final.billed else 0.0) - record.cache_loss_usd


def unpriced_reason(price: Price, usage: Usage, *, batch: bool = False, service_tier: str = "default") -> str | None:
    """Why this request could not be made (or priced) at all, or None.

    A request above the model's input or output limit is refused by the upstream, so it has no
    price; nor has a Batch request with a service tier (the Batch API has none). A combination the
    upstream can serve but no published rate covers is no reason: it is billed as an estimate,
    marked (`CostBreakdown.estimate`), as the proxy bills it.
    """
    if price.max_input_tokens is not None and usage.prompt_tokens > price.max_input_tokens:
        return f"{usage.prompt_tokens:,} prompt tokens exceed {price.model}'s input limit of {price.max_input_tokens:,}"
    if price.max_output_tokens is not None and usage.completion_tokens > price.max_output_tokens:
        return (
            f"{usage.completion_tokens:,} completion tokens exceed {price.model}'s output limit of "
            f"{price.max_output_tokens:,}"
        )
    if batch and service_tier != "default":
        return f"the Batch API has no service tier: --batch with --service-tier {service_tier} is not priced"
    return None
