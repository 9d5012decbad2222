"""Per-token prices: litellm's bundled price map, overridable per tier, with the project's price rules.

The map is read once, from the JSON file inside the litellm package, found on disk
without importing litellm (importing it takes seconds and pulls half of PyPI; the map is
the same data `litellm.model_cost` holds with `LITELLM_LOCAL_MODEL_COST_MAP=True`).
Configuration can override any tier's rates; self-hosted tiers cost nothing per token
and are costed by the GPU-hour instead (see `metering.cost.amortised_cost`).

The price rules (docs/pricing.md) fix every mode's rates of the models they name as exact multiples of
the standard rates: the map's own Batch, flex and priority variants are rounded in places (gpt-5.4's cached
Batch and flex rate is $0.13/1M there, $0.125 by the rules), so for those models only the standard rates,
limits and region uplift are read from it. Other models are priced as the map publishes them. Every
(mode, long context) a price has is worked out here, once, when the price is read: a combination neither
the rules nor the map define is still billed (the upstream has charged for it) by the general multipliers,
and carries the `PriceEstimate` that says so.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from metering.record import PriceEstimate

log = logging.getLogger("routetax.metering")

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"
LONG_CONTEXT_THRESHOLD = 272_000  # input tokens above which the long-context rates apply, for the whole request
SELF_HOSTED_MODELS = frozenset({"Qwen/Qwen3.5-9B", "qwen3.5:9b"})
SELF_HOSTED_INPUT_LIMIT = 262_144  # Qwen 3.5's context window (`routetax price`)
FLEX_MULTIPLIER, BATCH_MULTIPLIER, PRIORITY_MULTIPLIER = 0.5, 0.5, 2.0
LONG_INPUT_MULTIPLIER, LONG_OUTPUT_MULTIPLIER = 2.0, 1.5
REGION_UPLIFT = 1.1
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-5.4-mini-2026-03-17 is priced as gpt-5.4-mini


class Mode(StrEnum):
    """How the upstream processed a request, which decides its rates. The value is its `modifiers` name."""

    STANDARD = "standard"
    BATCH = "batch"  # the Batch API
    FLEX = "flex"  # service_tier "flex", as the upstream reported it
    PRIORITY = "priority"  # service_tier "priority", as the upstream reported it


@dataclass(frozen=True, slots=True)
class ModelRules:
    """What the price rules say of one model beyond its standard rates."""

    priority: float = PRIORITY_MULTIPLIER  # priority processing multiplies every rate by this
    long_context: bool = False  # above 272K input tokens the whole request is billed at the long-context rates


# The models the price rules name (docs/pricing.md). Their modes are exact multiples of the standard rates.
PRICE_RULES: Mapping[str, ModelRules] = MappingProxyType(
    {
        "gpt-5.4-nano": ModelRules(),
        "gpt-5.4-mini": ModelRules(),
        "gpt-5.4": ModelRules(long_context=True),
        "gpt-5.5": ModelRules(priority=2.5, long_context=True),
    }
)


def rules_for(model: str) -> ModelRules | None:
    """The price rules of `model` (a dated snapshot follows its model's), or None for a model they do not name."""
    return PRICE_RULES.get(model) or PRICE_RULES.get(_SNAPSHOT.sub("", model))


class UnknownModel(KeyError):
    """No price for this model in the map or the configuration."""


@dataclass(frozen=True)
class Rates:
    """USD per token for one pricing mode."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True, slots=True)
class ModeRates:
    """The rates of one (mode, long context) of a price, the `modifiers` they stand for, and why they are an
    estimate when they are one."""

    rates: Rates
    modifiers: tuple[str, ...] = ()
    estimate: PriceEstimate | None = None


@dataclass(frozen=True)
class Price:
    """Everything needed to price a request on one model."""

    model: str
    standard: Rates
    # as the map publishes them: "batches", "flex", "priority", "above_272k[_mode]" (read only for models the
    # price rules do not name)
    variants: dict[str, Rates] = field(default_factory=dict)
    long_context: bool = False  # has the 272K cliff
    region_uplift: float = REGION_UPLIFT
    self_hosted: bool = False
    gpu_hour_usd: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    # mode -> (its rates up to 272K input tokens, above them), worked out once here: pricing a request is one
    # lookup (metering prices every attempt of every request)
    modes: dict[Mode, tuple[ModeRates, ModeRates]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", _mode_table(self))


def _scaled(rates: Rates, input_factor: float, output_factor: float) -> Rates:
    return Rates(rates.input * input_factor, rates.cached_input * input_factor, rates.output * output_factor)


_PUBLISHED = {Mode.STANDARD: "", Mode.BATCH: "batches", Mode.FLEX: "flex", Mode.PRIORITY: "priority"}  # map suffixes


def _mode_table(price: Price) -> dict[Mode, tuple[ModeRates, ModeRates]]:
    """Every mode's rates, below and (on a model with the cliff) above 272K input tokens.

    A model the rules name: exact multiples of its standard rates; long context under priority is the one
    combination the rules leave undefined, billed as priority on the long-context rates (the dearer reading:
    a budget is never under-charged) and marked. Any other model: the map's variant as published, else the
    general multipliers, marked. Self-hosted: 0 in every mode.
    """
    rules = None if price.self_hosted else rules_for(price.model)
    factors = {
        Mode.STANDARD: 1.0,
        Mode.BATCH: BATCH_MULTIPLIER,
        Mode.FLEX: FLEX_MULTIPLIER,
        Mode.PRIORITY: rules.priority if rules is not None else PRIORITY_MULTIPLIER,
    }
    table: dict[Mode, tuple[ModeRates, ModeRates]] = {}
    for mode, factor in factors.items():
        named = () if mode is Mode.STANDARD else (mode.value,)
        short = _scaled(price.standard, factor, factor)
        short_estimate = None
        long = _scaled(short, LONG_INPUT_MULTIPLIER, LONG_OUTPUT_MULTIPLIER)
        # the rules define the cliff under standard, Batch and flex: under priority it is an estimate
        undefined = rules is not None and mode is Mode.PRIORITY
        long_estimate = PriceEstimate.LONG_CONTEXT_UNDER_PRIORITY if undefined else None
        if rules is None and not price.self_hosted:  # not named by the rules: the map's rates as published
            short, short_estimate = _published(price, _PUBLISHED[mode], short)
            long, long_estimate = _published(price, "_".join(filter(None, ("above_272k", _PUBLISHED[mode]))), long)
        table[mode] = (
            ModeRates(short, named, short_estimate),
            ModeRates(long, (*named, "long_context"), long_estimate),
        )
    return table


def _published(price: Price, variant: str, derived: Rates) -> tuple[Rates, PriceEstimate | None]:
    """The map's rates for `variant` ("" is standard), or `derived` marked as an estimate when it has none."""
    if not variant:
        return price.standard, None
    published = price.variants.get(variant)
    return (published, None) if published is not None else (derived, PriceEstimate.MODE_NOT_PUBLISHED)


_VARIANT_SUFFIXES = (
    "batches",
    "flex",
    "priority",
    "above_272k_tokens",
    "above_272k_tokens_batches",
    "above_272k_tokens_flex",
    "above_272k_tokens_priority",
)


@lru_cache(maxsize=1)
def price_map() -> dict[str, Any]:
    """litellm's bundled map, read once: prices here, usage limits in metering/audit/limits.py (parsing its 3.5 MB of
    JSON costs about 68 million instructions, ~20 ms; it holds ≈ 6 MB)."""
    return _read_map()


def _read_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_MAP_FILE
    return orjson.loads(path.read_bytes()) if path.is_file() else {}


def _rates(entry: dict[str, Any], suffix: str) -> Rates | None:
    input_rate = entry.get(f"input_cost_per_token{suffix}")
    output_rate = entry.get(f"output_cost_per_token{suffix}")
    if input_rate is None or output_rate is None:
        return None
    cached = entry.get(f"cache_read_input_token_cost{suffix}")
    return Rates(float(input_rate), float(cached if cached is not None else input_rate), float(output_rate))


def price_for(
    model: str,
    override: dict[str, float] | None = None,
    *,
    gpu_hour_usd: float | None = None,
    self_hosted: bool | None = None,
) -> Price:
    """The price of `model`: the map's entry, or a per-tier override in USD per 1M tokens."""
    hosted = (model in SELF_HOSTED_MODELS or gpu_hour_usd is not None) if self_hosted is None else self_hosted
    if override is not None:
        per = 1e-6
        cached = override.get("cached_input")
        rates = Rates(
            override["input"] * per,
            (cached if cached is not None else override["input"]) * per,
            override["output"] * per,
        )
        rules = None if hosted else rules_for(model)
        long_context = rules is not None and rules.long_context
        return Price(model, rates, long_context=long_context, self_hosted=hosted, gpu_hour_usd=gpu_hour_usd)
    if hosted:
        limit = SELF_HOSTED_INPUT_LIMIT if model in SELF_HOSTED_MODELS else None
        return Price(model, Rates(0.0, 0.0, 0.0), self_hosted=True, gpu_hour_usd=gpu_hour_usd, max_input_tokens=limit)
    entry = price_map().get(model)
    if not isinstance(entry, dict) or _rates(entry, "") is None:
        raise UnknownModel(model)
    standard = _rates(entry, "")
    assert standard is not None
    variants = {}
    for suffix in _VARIANT_SUFFIXES:
        rates = _rates(entry, f"_{suffix}")
        if rates is not None:
            variants[suffix.replace("_tokens", "")] = rates
    rules = rules_for(model)
    uplift = (
        REGION_UPLIFT
        if rules is not None
        else entry.get("regional_processing_uplift_multiplier_us")
        or entry.get("regional_processing_uplift_multiplier_eu")
        or REGION_UPLIFT
    )
    return Price(
        model=model,
        standard=standard,
        variants=variants,
        long_context=rules.long_context if rules is not None else "above_272k" in variants,
        region_uplift=float(uplift),
        max_input_tokens=entry.get("max_input_tokens"),
        max_output_tokens=entry.get("max_output_tokens"),
    )


@dataclass(frozen=True, slots=True)
class TierPricing:
    """What prices one tier: its upstream model, an optional override (USD per 1M tokens), its GPU-hour."""

    model: str
    override: dict[str, float] | None = None
    gpu_hour_usd: float | None = None


def tier_prices(tiers: Mapping[str, TierPricing]) -> dict[str, Price | None]:
    """Every tier's price, read once at start; a model with no price anywhere is costed at 0, with a warning."""
    prices: dict[str, Price | None] = {}
    for name, tier in tiers.items():
        try:
            prices[name] = price_for(tier.model, tier.override, gpu_hour_usd=tier.gpu_hour_usd)
        except UnknownModel:
            log.warning(
                "tier %s: model %s has no price in the map and no `price` override: costed at 0", name, tier.model
            )
            prices[name] = None
    return prices


@lru_cache(maxsize=8)
def embedding_prices(models: tuple[str, ...]) -> Mapping[str, Price | None]:
    """Every embedding model's price, by model: an embeddings request is priced at the model it names, not its tier.

    Read once (metering and the key gate both ask); a model with no price in the map is costed at 0, with a warning.
    """
    prices: dict[str, Price | None] = {}
    for model in models:
        try:
            prices[model] = price_for(model, self_hosted=False)
        except UnknownModel:
            log.warning("embeddings: model %s has no price in the map: costed at 0", model)
            prices[model] = None
    return MappingProxyType(prices)
