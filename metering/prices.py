"""Per-token prices: litellm's bundled price map, overridable per tier.

The map is read once, from the JSON file inside the litellm package, found on disk
without importing litellm (importing it takes seconds and pulls half of PyPI; the map is
the same data `litellm.model_cost` holds with `LITELLM_LOCAL_MODEL_COST_MAP=True`).
Configuration can override any tier's rates; self-hosted tiers cost nothing per token
and are costed by the GPU-hour instead (see `metering.cost.amortised_cost`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

log = logging.getLogger("routetax.metering")

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"
LONG_CONTEXT_THRESHOLD = 272_000  # input tokens above which the long-context rates apply, for the whole request
SELF_HOSTED_MODELS = frozenset({"Qwen/Qwen3.5-9B", "qwen3.5:9b"})
SELF_HOSTED_INPUT_LIMIT = 262_144  # Qwen 3.5's context window (`routetax price`)
# Used where the map has no explicit variant: `routetax price`.
FLEX_MULTIPLIER, BATCH_MULTIPLIER, PRIORITY_MULTIPLIER = 0.5, 0.5, 2.0
LONG_INPUT_MULTIPLIER, LONG_OUTPUT_MULTIPLIER = 2.0, 1.5
REGION_UPLIFT = 1.1


class UnknownModel(KeyError):
    """No price for this model in the map or the configuration."""


@dataclass(frozen=True)
class Rates:
    """USD per token for one pricing mode."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True)
class Price:
    """Everything needed to price a request on one model."""

    model: str
    standard: Rates
    variants: dict[str, Rates] = field(default_factory=dict)  # "batches", "flex", "priority", "above_272k[_mode]"
    long_context: bool = False  # has the 272K cliff
    region_uplift: float = REGION_UPLIFT
    self_hosted: bool = False
    gpu_hour_usd: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None


@lru_cache(maxsize=1)
def price_map() -> dict[str, Any]:
    """litellm's bundled map, read once."""
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
        return Price(model, rates, self_hosted=hosted, gpu_hour_usd=gpu_hour_usd)
    if hosted:
        limit = SELF_HOSTED_INPUT_LIMIT if model in SELF_HOSTED_MODELS else None
        return Price(model, Rates(0.0, 0.0, 0.0), self_hosted=True, gpu_hour_usd=gpu_hour_usd, max_input_tokens=limit)
    entry = price_map().get(model)
    if not isinstance(entry, dict) or _rates(entry, "") is None:
        raise UnknownModel(model)
    standard = _rates(entry, "")
    assert standard is not None
    variants = {}
    for suffix in (
        "batches",
        "flex",
        "priority",
        "above_272k_tokens",
        "above_272k_tokens_batches",
        "above_272k_tokens_flex",
        "above_272k_tokens_priority",
    ):
        rates = _rates(entry, f"_{suffix}")
        if rates is not None:
            variants[suffix.replace("_tokens", "")] = rates
    uplift = (
        entry.get("regional_processing_uplift_multiplier_us")
        or entry.get("regional_processing_uplift_multiplier_eu")
        or REGION_UPLIFT
    )
    return Price(
        model=model,
        standard=standard,
        variants=variants,
        long_context="above_272k" in variants,
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
