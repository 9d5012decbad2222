"""Hand-computed costs: every modifier of `routetax price` alone and combined.

Rates ($/1M): nano 0.20 / 0.02 / 1.25; mini 0.75 / 0.075 / 4.50; gpt-5.4 2.50 / 0.25 / 15.00;
gpt-5.5 5.00 / 0.50 / 30.00 (input / cached input / output), from litellm's bundled map; every mode as the
price rules make it (docs/pricing.md; tests/test_price_rules.py covers every combination).
"""

from __future__ import annotations

import pytest

from metering.cost import ImpossibleUsage, amortised_cost, cost, counterfactual, counterfactuals
from metering.prices import UnknownModel, price_for
from metering.record import Usage

M = 1e-6
CASES = [
    # (id, model, prompt, cached, completion, reasoning, kwargs, expected USD)
    ("nano plain", "gpt-5.4-nano", 1000, 0, 1000, 0, {}, (1000 * 0.20 + 1000 * 1.25) * M),
    ("mini plain", "gpt-5.4-mini", 1000, 0, 1000, 0, {}, (1000 * 0.75 + 1000 * 4.50) * M),
    ("gpt-5.4 plain", "gpt-5.4", 1000, 0, 1000, 0, {}, (1000 * 2.50 + 1000 * 15.0) * M),
    ("nano cached", "gpt-5.4-nano", 2000, 1024, 100, 0, {}, (976 * 0.20 + 1024 * 0.02 + 100 * 1.25) * M),
    ("mini cached", "gpt-5.4-mini", 5000, 4096, 500, 0, {}, (904 * 0.75 + 4096 * 0.075 + 500 * 4.50) * M),
    ("reasoning not double counted", "gpt-5.4-mini", 1000, 0, 1000, 800, {}, (1000 * 0.75 + 1000 * 4.50) * M),
    ("nano batch", "gpt-5.4-nano", 1000, 0, 1000, 0, {"batch": True}, (1000 * 0.10 + 1000 * 0.625) * M),
    ("nano flex", "gpt-5.4-nano", 1000, 0, 1000, 0, {"service_tier": "flex"}, (1000 * 0.10 + 1000 * 0.625) * M),
    ("mini flex", "gpt-5.4-mini", 1000, 0, 1000, 0, {"service_tier": "flex"}, (1000 * 0.375 + 1000 * 2.25) * M),
    ("gpt-5.5 flex", "gpt-5.5", 1000, 0, 1000, 0, {"service_tier": "flex"}, (1000 * 2.50 + 1000 * 15.0) * M),
    ("default tier is standard", "gpt-5.4-nano", 1000, 0, 1000, 0, {"service_tier": "default"}, 0.00145),
    ("nano priority 2x", "gpt-5.4-nano", 1000, 0, 1000, 0, {"service_tier": "priority"}, 2 * 0.00145),
    ("mini priority", "gpt-5.4-mini", 1000, 0, 1000, 0, {"service_tier": "priority"}, (1000 * 1.5 + 1000 * 9.0) * M),
    ("gpt-5.5 priority 2.5x", "gpt-5.5", 1000, 0, 1000, 0, {"service_tier": "priority"}, 2.5 * 0.035),
    (
        "gpt-5.4 priority cached",
        "gpt-5.4",
        2000,
        1000,
        100,
        0,
        {"service_tier": "priority"},
        (1000 * 5.0 + 1000 * 0.5 + 100 * 30.0) * M,
    ),
    ("nano region eu", "gpt-5.4-nano", 1000, 0, 1000, 0, {"region": "eu"}, 1.1 * 0.00145),
    ("nano region us batch", "gpt-5.4-nano", 1000, 0, 1000, 0, {"region": "us", "batch": True}, 1.1 * 0.000725),
    (
        "mini region cached",
        "gpt-5.4-mini",
        5000,
        4096,
        500,
        0,
        {"region": "eu"},
        1.1 * (904 * 0.75 + 4096 * 0.075 + 500 * 4.50) * M,
    ),
    ("cliff: exactly 272,000 is standard", "gpt-5.4", 272_000, 0, 1000, 0, {}, 272_000 * 2.5 * M + 1000 * 15 * M),
    (
        "cliff: 272,001 doubles the whole request",
        "gpt-5.4",
        272_001,
        0,
        1000,
        0,
        {},
        272_001 * 5.0 * M + 1000 * 22.5 * M,
    ),
    ("cliff with cached", "gpt-5.4", 300_000, 100_000, 2000, 0, {}, (200_000 * 5.0 + 100_000 * 0.5 + 2000 * 22.5) * M),
    ("cliff batch", "gpt-5.4", 300_000, 0, 1000, 0, {"batch": True}, (300_000 * 2.5 + 1000 * 11.25) * M),
    ("cliff flex", "gpt-5.4", 300_000, 0, 1000, 0, {"service_tier": "flex"}, (300_000 * 2.5 + 1000 * 11.25) * M),
    ("cliff region", "gpt-5.4", 272_001, 0, 1000, 0, {"region": "eu"}, 1.1 * (272_001 * 5.0 + 1000 * 22.5) * M),
    ("gpt-5.5 cliff", "gpt-5.5", 300_000, 0, 1000, 0, {}, (300_000 * 10.0 + 1000 * 45.0) * M),
    ("nano has no cliff", "gpt-5.4-nano", 272_001, 0, 0, 0, {}, 272_001 * 0.20 * M),
    (
        "gpt-5.4 batch cached at half of 0.25, not the map's rounded 0.13",
        "gpt-5.4",
        10_000,
        8000,
        0,
        0,
        {"batch": True},
        (2000 * 1.25 + 8000 * 0.125) * M,
    ),
    ("zero usage", "gpt-5.4-mini", 0, 0, 0, 0, {}, 0.0),
    ("completion only", "gpt-5.4-nano", 0, 0, 2000, 1500, {}, 2000 * 1.25 * M),
    ("cached only", "gpt-5.4-mini", 4096, 4096, 0, 0, {}, 4096 * 0.075 * M),
]


@pytest.mark.parametrize(
    ("name", "model", "prompt", "cached", "completion", "reasoning", "kwargs", "expected"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_hand_computed_cost(
    name: str, model: str, prompt: int, cached: int, completion: int, reasoning: int, kwargs: dict, expected: float
) -> None:
    breakdown = cost(Usage(prompt, cached, completion, reasoning), price_for(model), **kwargs)
    assert breakdown.total_usd == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert breakdown.total_usd == pytest.approx(breakdown.input_usd + breakdown.cached_usd + breakdown.output_usd)


def test_breakdown_parts_and_modifiers() -> None:
    breakdown = cost(Usage(300_000, 100_000, 2000), price_for("gpt-5.4"), region="eu")
    assert breakdown.input_usd == pytest.approx(1.1 * 200_000 * 5.0 * M)
    assert breakdown.cached_usd == pytest.approx(1.1 * 100_000 * 0.5 * M)
    assert breakdown.output_usd == pytest.approx(1.1 * 2000 * 22.5 * M)
    assert breakdown.modifiers == ["cached", "long_context", "region:eu"]


def test_per_tier_price_override() -> None:
    price = price_for("gpt-5.4-nano", {"input": 0.10, "cached_input": 0.01, "output": 0.50})
    assert cost(Usage(1000, 0, 1000), price).total_usd == pytest.approx(0.0006)
    no_cached_rate = price_for("my-model", {"input": 0.10, "output": 0.50})
    assert cost(Usage(1000, 500, 0), no_cached_rate).total_usd == pytest.approx(1000 * 0.10 * M)


def test_self_hosted_is_free_at_the_margin_and_amortised_by_the_gpu_hour() -> None:
    price = price_for("Qwen/Qwen3.5-9B", gpu_hour_usd=2.0)
    breakdown = cost(Usage(1500, 0, 500), price, hour_tokens=1_000_000)
    assert breakdown.total_usd == 0.0 and "self_hosted" in breakdown.modifiers
    assert breakdown.amortised_usd == pytest.approx(2.0 * 2000 / 1_000_000)
    assert amortised_cost(2.0, 0, 100) == 0.0


def test_counterfactual_prices_the_same_tokens_elsewhere() -> None:
    assert counterfactual(Usage(1000, 0, 1000), price_for("gpt-5.4-mini")) == pytest.approx(0.00525)


@pytest.mark.parametrize("model", ["gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4", "Qwen/Qwen3.5-9B"])
def test_counterfactual_is_exactly_the_cost_there_to_the_last_bit(model: str) -> None:
    """Its inline fast path must not drift from cost(): same figure, below and above the 272K cliff."""
    price = price_for(model)
    for usage in (Usage(1, 0, 1), Usage(1234, 1000, 567, 89), Usage(300_000, 20_000, 4_000), Usage(0, 0, 0)):
        assert counterfactual(usage, price) == cost(usage, price).total_usd
        for tier in ("default", "flex"):
            reported = Usage(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, service_tier=tier)
            assert counterfactual(reported, price) == cost(reported, price, service_tier=tier).total_usd
    with pytest.raises(ImpossibleUsage):
        counterfactual(Usage(10, 20, 5), price)


def test_counterfactual_keeps_the_requests_modifiers() -> None:
    # a flex request's nano baseline was priced at standard; a tier in the EU region without its uplift
    flex = Usage(10_000, 0, 1_000, service_tier="flex")
    nano = price_for("gpt-5.4-nano")
    assert counterfactual(flex, nano) == pytest.approx((10_000 * 0.10 + 1_000 * 0.625) / 1e6)
    standard = Usage(10_000, 0, 1_000)
    assert counterfactual(standard, price_for("gpt-5.4-mini"), region="eu") == pytest.approx(
        1.1 * (10_000 * 0.75 + 1_000 * 4.50) / 1e6
    )
    both = counterfactuals(standard, {"nano": nano, "mini": price_for("gpt-5.4-mini")}, {"mini": "eu"})
    assert both["nano"] == pytest.approx((10_000 * 0.20 + 1_000 * 1.25) / 1e6)  # us: no uplift
    assert both["mini"] == pytest.approx(1.1 * (10_000 * 0.75 + 1_000 * 4.50) / 1e6)


def test_cost_of_inaction_from_cost_model() -> None:
    calls = 10_000_000
    nano = calls * cost(Usage(1000, 0, 1000), price_for("gpt-5.4-nano")).total_usd
    mini = calls * cost(Usage(1000, 0, 1000), price_for("gpt-5.4-mini")).total_usd
    assert nano == pytest.approx(14_500) and nano * 12 == pytest.approx(174_000)
    assert mini == pytest.approx(52_500) and mini * 12 == pytest.approx(630_000)
    assert (mini - nano) * 12 == pytest.approx(456_000)


@pytest.mark.parametrize("usage", [Usage(100, 101, 0), Usage(-1, 0, 0), Usage(10, 0, 5, 6), Usage(0, 0, -5)])
def test_impossible_usage_is_refused(usage: Usage) -> None:
    with pytest.raises(ImpossibleUsage):
        cost(usage, price_for("gpt-5.4-nano"))


def test_unknown_model_is_refused() -> None:
    with pytest.raises(UnknownModel):
        price_for("gpt-9-ultra")
