"""Every model × modifier the price rules define (docs/pricing.md), billed as computed by hand.

The rates below are written out by hand from the rules — standard rates, Batch and flex half, priority
double (gpt-5.5: 2.5×), above 272K input tokens on gpt-5.4 and gpt-5.5 double input and cached input and
1.5× output for the whole request (standard, Batch, flex), regional processing +10% on every rate — never
derived by the code under test. `cost()`, `routetax price` and the proxy's metering must all give them.
"""

from __future__ import annotations

import json

import orjson
import pytest

from cli import main as routetax
from metering.completion import Completion
from metering.cost import cost
from metering.pipeline import MeteringPipeline, MeteringSettings
from metering.prices import price_for
from metering.record import Attempt, PriceEstimate, Record, Usage

# (model, mode, long context) -> (input, cached input, output) in USD per 1M tokens, by hand.
RATES: dict[tuple[str, str, bool], tuple[float, float, float]] = {
    ("gpt-5.4-nano", "standard", False): (0.20, 0.02, 1.25),
    ("gpt-5.4-nano", "batch", False): (0.10, 0.01, 0.625),
    ("gpt-5.4-nano", "flex", False): (0.10, 0.01, 0.625),
    ("gpt-5.4-nano", "priority", False): (0.40, 0.04, 2.50),
    ("gpt-5.4-mini", "standard", False): (0.75, 0.075, 4.50),
    ("gpt-5.4-mini", "batch", False): (0.375, 0.0375, 2.25),
    ("gpt-5.4-mini", "flex", False): (0.375, 0.0375, 2.25),
    ("gpt-5.4-mini", "priority", False): (1.50, 0.15, 9.00),
    ("gpt-5.4", "standard", False): (2.50, 0.25, 15.00),
    ("gpt-5.4", "batch", False): (1.25, 0.125, 7.50),
    ("gpt-5.4", "flex", False): (1.25, 0.125, 7.50),
    ("gpt-5.4", "priority", False): (5.00, 0.50, 30.00),
    ("gpt-5.4", "standard", True): (5.00, 0.50, 22.50),
    ("gpt-5.4", "batch", True): (2.50, 0.25, 11.25),
    ("gpt-5.4", "flex", True): (2.50, 0.25, 11.25),
    ("gpt-5.5", "standard", False): (5.00, 0.50, 30.00),
    ("gpt-5.5", "batch", False): (2.50, 0.25, 15.00),
    ("gpt-5.5", "flex", False): (2.50, 0.25, 15.00),
    ("gpt-5.5", "priority", False): (12.50, 1.25, 75.00),
    ("gpt-5.5", "standard", True): (10.00, 1.00, 45.00),
    ("gpt-5.5", "batch", True): (5.00, 0.50, 22.50),
    ("gpt-5.5", "flex", True): (5.00, 0.50, 22.50),
}
# Cached tokens in both: the cached-input rate is where a rounded rate once hid ($0.13 for gpt-5.4's $0.125).
SHORT = (10_000, 8_000, 1_000)  # prompt, cached, completion
LONG = (300_000, 200_000, 2_000)  # above 272K input tokens: the cliff, on the models that have it
UPLIFT = {None: 1.0, "eu": 1.1, "us": 1.1}

CASES = [(model, mode, long, region) for (model, mode, long) in RATES for region in (None, "eu")]


def _ids(case: tuple[str, str, bool, str | None]) -> str:
    model, mode, long, region = case
    return f"{model}-{mode}{'-long' if long else ''}{'-' + region if region else ''}"


def by_hand(model: str, mode: str, long: bool, region: str | None) -> tuple[Usage, float]:
    prompt, cached, completion = LONG if long else SHORT
    rate_in, rate_cached, rate_out = RATES[(model, mode, long)]
    usd = ((prompt - cached) * rate_in + cached * rate_cached + completion * rate_out) / 1e6 * UPLIFT[region]
    return Usage(prompt, cached, completion, service_tier=None if mode in ("standard", "batch") else mode), usd


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_cost_is_the_hand_computed_price(case: tuple[str, str, bool, str | None]) -> None:
    model, mode, long, region = case
    usage, expected = by_hand(*case)
    breakdown = cost(usage, price_for(model), batch=mode == "batch", service_tier=usage.service_tier, region=region)
    assert breakdown.total_usd == pytest.approx(expected, rel=1e-12)
    assert breakdown.estimate is None  # every combination here is defined by the rules


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_routetax_price_gives_the_hand_computed_price(
    case: tuple[str, str, bool, str | None], capsys: pytest.CaptureFixture[str]
) -> None:
    model, mode, long, region = case
    usage, expected = by_hand(*case)
    args = ["price", "--model", model, "--prompt", str(usage.prompt_tokens), "--cached", str(usage.cached_tokens)]
    args += ["--completion", str(usage.completion_tokens), "--json"]
    args += ["--batch"] if mode == "batch" else ["--service-tier", mode] if mode != "standard" else []
    args += ["--region", region] if region else []
    assert routetax(args) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["total_usd"] == pytest.approx(expected, rel=1e-12)
    assert out["estimate"] is None


def _metered(model: str, usage: Usage, region: str | None) -> Attempt:
    """The proxy's metering of one answer from a tier serving `model`, with the usage and service tier it reported."""
    pipeline = MeteringPipeline(MeteringSettings(prices={"t": price_for(model)}, regions={"t": region}))
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "service_tier": usage.service_tier or "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        },
    }
    record = Record(request_id="r", tier_path=["t"], attempts=[Attempt(tier="t", model=model, status=200)])
    request = {"messages": [{"role": "user", "content": "hi"}]}
    pipeline(record, Completion(request=request, bodies=[orjson.dumps(answer)], streams=[None]))
    return record.attempts[0]


@pytest.mark.parametrize("case", [c for c in CASES if c[1] != "batch"], ids=_ids)  # the proxy serves no Batch
def test_the_proxy_bills_the_hand_computed_price(case: tuple[str, str, bool, str | None]) -> None:
    model, _, _, region = case
    usage, expected = by_hand(*case)
    attempt = _metered(model, usage, region)
    assert attempt.cost_usd == pytest.approx(expected, rel=1e-12)
    assert attempt.price_estimate is None


@pytest.mark.parametrize("model", ["gpt-5.4", "gpt-5.5"])
def test_long_context_under_priority_is_billed_as_a_marked_estimate_in_the_proxy_and_routetax_price(
    model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rules define the 272K cliff for standard, Batch and flex only. The upstream has served (and charged
    # for) the request, so it is billed — priority's multiplier on the long-context rates, the dearer reading,
    # so a budget is not under-charged — and marked as an estimate, the same in both places.
    prompt, cached, completion = LONG
    priority = 2.5 if model == "gpt-5.5" else 2.0
    rate_in, rate_cached, rate_out = RATES[(model, "standard", True)]
    expected = priority * ((prompt - cached) * rate_in + cached * rate_cached + completion * rate_out) / 1e6

    usage = Usage(prompt, cached, completion, service_tier="priority")
    attempt = _metered(model, usage, None)
    assert attempt.cost_usd == pytest.approx(expected, rel=1e-12)
    assert attempt.price_estimate is PriceEstimate.LONG_CONTEXT_UNDER_PRIORITY
    assert Record.from_dict(Record(request_id="r", attempts=[attempt]).to_dict()).attempts[0] == attempt

    args = ["price", "--model", model, "--prompt", str(prompt), "--cached", str(cached)]
    args += ["--completion", str(completion), "--service-tier", "priority"]
    assert routetax([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_usd"] == pytest.approx(expected, rel=1e-12)
    assert out["estimate"] == "long_context_under_priority"
    assert routetax(args) == 0
    text = capsys.readouterr().out
    assert "estimated" in text and "priority" in text


def test_a_mode_the_map_does_not_publish_for_a_model_outside_the_rules_is_an_estimate_in_both_places(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # gpt-4.1 is in litellm's map with Batch rates but no flex rate: flex is billed at half price, marked
    priced = cost(Usage(1000, 0, 1000, service_tier="flex"), price_for("gpt-4.1"), service_tier="flex")
    standard = cost(Usage(1000, 0, 1000), price_for("gpt-4.1"))
    assert priced.total_usd == pytest.approx(standard.total_usd / 2)
    assert priced.estimate is PriceEstimate.MODE_NOT_PUBLISHED
    assert _metered("gpt-4.1", Usage(1000, 0, 1000, service_tier="flex"), None).price_estimate is (
        PriceEstimate.MODE_NOT_PUBLISHED
    )
    args = ["price", "--model", "gpt-4.1", "--prompt", "1000", "--completion", "1000", "--service-tier", "flex"]
    assert routetax([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimate"] == "mode_not_published"
