"""A request's worst case (router/reservation.py): what it may cost at most, on which tiers, at which rates."""

from __future__ import annotations

import pytest

from metering.prices import Price, Rates
from router.reservation import TierLimits, embedding_worst_case, output_cap, worst_case

SMALL = Price("small-model", Rates(1e-6, 1e-7, 4e-6), max_input_tokens=1000, max_output_tokens=500)
LARGE = Price("large-model", Rates(2e-6, 2e-7, 8e-6), max_input_tokens=100_000, max_output_tokens=2000)
TIERS = {
    "small": TierLimits(SMALL, window=1000),
    "large": TierLimits(LARGE, window=100_000),
    "free": TierLimits(None, window=None),
}


def test_the_output_cap_is_the_largest_the_request_set_and_none_without_one() -> None:
    assert output_cap({"max_tokens": 10, "max_completion_tokens": 30}) == 30
    assert output_cap({"max_output_tokens": 7}) == 7
    assert output_cap({"max_tokens": "many", "max_completion_tokens": True, "n": 3}) is None


def test_without_a_cap_each_tier_reserves_its_models_output_limit_and_a_cap_above_it_is_the_limit() -> None:
    uncapped = worst_case(["small", "large"], TIERS, {}, 100, max_retries=2)
    assert uncapped.usd == pytest.approx(100 * 1e-6 + 500 * 4e-6 + 100 * 2e-6 + 2000 * 8e-6)
    assert uncapped.tokens == 100 + 2000 and uncapped.output_cap is None
    capped = worst_case(["small", "large"], TIERS, {"max_tokens": 1000, "n": 2}, 100, max_retries=2)
    assert capped.usd == pytest.approx(100 * 1e-6 + 2 * 500 * 4e-6 + 100 * 2e-6 + 2 * 1000 * 8e-6)
    assert capped.tokens == 100 + 2 * 1000


def test_a_stream_reserves_every_attempt_and_priority_its_own_rates() -> None:
    one = worst_case(["small"], TIERS, {"max_tokens": 10}, 100, max_retries=2).usd
    assert worst_case(["small"], TIERS, {"max_tokens": 10, "stream": True}, 100, max_retries=2).usd == (
        pytest.approx(3 * one)
    )
    assert worst_case(["small"], TIERS, {"max_tokens": 10, "service_tier": "priority"}, 100, max_retries=2).usd > one


def test_a_prompt_that_may_overflow_a_window_reserves_the_larger_tiers_a_context_length_error_moves_to() -> None:
    body = {"max_tokens": 10}
    fits = worst_case(["small"], TIERS, body, 900, max_retries=0)
    overflows = worst_case(["small"], TIERS, body, 5000, max_retries=0)
    assert fits.usd == pytest.approx(900 * 1e-6 + 10 * 4e-6)
    assert overflows.usd == pytest.approx(5000 * 1e-6 + 10 * 4e-6 + 5000 * 2e-6 + 10 * 8e-6)
    pinned = worst_case(["small"], TIERS, body, 5000, max_retries=0, grow=False)  # x-routetax-fallback: off
    assert pinned.usd == pytest.approx(5000 * 1e-6 + 10 * 4e-6)


def test_an_embeddings_request_reserves_its_bytes_at_the_input_rate() -> None:
    assert embedding_worst_case(SMALL, 400).usd == pytest.approx(400 * 1e-6)
    assert embedding_worst_case(None, 400).usd == 0.0
