"""The cost on the answer, priced on the request path: the usage cut out of an answer's bytes, the quote equal to
what metering's pricing stage then records, nothing said when there is nothing believable to price, and a stream's
cost comment placed after its usage event and before `[DONE]`."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from metering.completion import Completion
from metering.pipeline import MeteringPipeline, MeteringSettings
from metering.prices import price_for
from metering.record import Attempt, Record
from metering.usage import WHOLE_ANSWER_BYTES, answer_usage, usage_from
from router.serving.relay import with_cost
from router.sse import DONE

USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
}


def answer(content: str = "Hello there.", usage: Any = USAGE, **extra: Any) -> bytes:
    message = {"role": "assistant", "content": content}
    body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5.4-mini", "choices": [{"message": message}]}
    if usage is not ...:
        body["usage"] = usage
    return orjson.dumps({**body, **extra})


LONG = "word " * (WHOLE_ANSWER_BYTES // 4)  # makes an answer one whose usage is cut out of its bytes


@pytest.mark.parametrize("padding", ["", LONG], ids=["parsed whole", "cut out"])
def test_the_usage_of_an_answer_reads_as_the_parsed_answer_does(padding: str) -> None:
    for body in (
        answer(padding),
        answer(padding, service_tier="flex"),
        answer(padding + 'the JSON had "usage": {"prompt_tokens": 9} in it', service_tier="priority"),
        orjson.dumps(orjson.loads(answer(padding, service_tier="flex")), option=orjson.OPT_INDENT_2),
    ):
        assert usage_from(answer_usage(body)) == usage_from(orjson.loads(body)) is not None


@pytest.mark.parametrize("padding", ["", LONG], ids=["parsed whole", "cut out"])
def test_an_answer_without_usage_reads_as_none(padding: str) -> None:
    assert usage_from(answer_usage(answer(padding, usage=...))) is None
    assert usage_from(answer_usage(answer(padding, usage=None))) is None
    assert usage_from(answer_usage(answer(padding + '"usage": {"prompt_tokens": 9}', usage=...))) is None
    assert answer_usage(padding.encode() + b'{"usage": {"prompt_tokens": 3') is None  # cut short


def chat_record(*tiers: str) -> Record:
    return Record(request_id="r1", attempts=[Attempt(tier=t, model=f"gpt-5.4-{t}") for t in tiers])


@pytest.fixture
def pipeline() -> MeteringPipeline:
    return MeteringPipeline(
        MeteringSettings(prices={"nano": price_for("gpt-5.4-nano"), "mini": price_for("gpt-5.4-mini")})
    )


def test_the_quote_is_what_metering_records(pipeline: MeteringPipeline) -> None:
    """A degraded answer from nano redone on mini: both were billed, and the quote counts both, at each one's
    prices and service tier — as the pricing stage does."""
    completion = Completion(request={}, bodies=[answer(service_tier="flex"), answer()], streams=[None, None])
    record = chat_record("nano", "mini")
    quoted = pipeline.quote(record, completion)
    pipeline(record, completion)
    assert quoted == pytest.approx(record.cost_usd, rel=1e-12) and quoted > 0
    assert record.attempts[0].cost_usd < record.attempts[1].cost_usd


def test_no_quote_for_usage_that_is_missing_or_beyond_belief(pipeline: MeteringPipeline) -> None:
    """Metering estimates those (a tokenizer: too slow for the request path) and marks the record: the answer
    says nothing rather than a figure the ledger will not have."""
    for body in (
        answer(usage=...),
        answer(usage={**USAGE, "completion_tokens": 10**12}),
        answer(usage={**USAGE, "prompt_tokens": -1}),
    ):
        completion = Completion(request={}, bodies=[body], streams=[None])
        assert pipeline.quote(chat_record("mini"), completion) is None
    failed_then_answered = Completion(request={}, bodies=[None, answer()], streams=[None, None])
    assert pipeline.quote(chat_record("nano", "mini"), failed_then_answered) is not None


def test_the_cost_comment_goes_after_the_usage_event_and_before_done() -> None:
    usage_event = b'data: {"choices":[],"usage":{"prompt_tokens":1}}\n\n'
    assert with_cost(usage_event + DONE, 0.000123) == usage_event + b": x-routetax-cost-usd: 0.0001230000\n\n" + DONE
    assert with_cost(usage_event, 0.5) == usage_event + b": x-routetax-cost-usd: 0.5000000000\n\n"
    assert with_cost(usage_event + DONE, None) == usage_event + DONE


def test_no_quote_with_metering_off() -> None:
    off = MeteringPipeline(MeteringSettings(enabled=False, prices={"mini": price_for("gpt-5.4-mini")}))
    assert off.quote(chat_record("mini"), Completion(request={}, bodies=[answer()], streams=[None])) is None


LONG_USAGE = {**USAGE, "prompt_tokens": 300_000, "total_tokens": 300_300}


@pytest.mark.parametrize(
    ("tier", "usage", "service_tier"),
    [
        ("mini", USAGE, None),
        ("mini", USAGE, "flex"),
        ("eu", USAGE, "priority"),  # regional processing: the uplift
        ("big", LONG_USAGE, None),  # above 272K: the long-context rates
        ("big", LONG_USAGE, "priority"),  # long context under priority: billed as a marked estimate
    ],
)
def test_the_priced_record_is_the_same_with_or_without_a_quote(tier: str, usage: Any, service_tier: Any) -> None:
    """The price stage takes what the quote billed (the same usage at the same price) rather than pricing it again:
    every figure on the record — each attempt's cost and estimate mark, the total, the counterfactuals — is exactly
    what pricing it from scratch gives."""
    settings = MeteringSettings(
        prices={"mini": price_for("gpt-5.4-mini"), "eu": price_for("gpt-5.4-mini"), "big": price_for("gpt-5.4")},
        regions={"eu": "eu"},
        input_limits={"big": 1_050_000},
    )
    records = []
    for quote in (True, False):
        pipeline = MeteringPipeline(settings)
        body = answer(usage=usage, **({"service_tier": service_tier} if service_tier else {}))
        completion = Completion(request={}, bodies=[body], streams=[None])
        record = Record(request_id="r1", attempts=[Attempt(tier=tier, model="m")])
        if quote:
            quoted = pipeline.quote(record, completion)
        pipeline(record, completion)
        if quote:
            assert quoted == record.cost_usd  # exactly: the cost on the answer is the ledger's figure
        records.append(record)
    with_quote, without = records
    assert with_quote.cost_usd == without.cost_usd > 0
    assert with_quote.attempts == without.attempts
    assert with_quote.counterfactual_usd == without.counterfactual_usd
    if service_tier == "priority" and tier == "big":
        assert with_quote.attempts[0].price_estimate is not None
