"""The finished-request pipeline: its stages in their written order, each seeing what the ones before it wrote."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from metering.completion import Completion
from metering.pipeline import MeteringPipeline, MeteringSettings, RouterStages
from metering.prices import price_for
from metering.record import Attempt, Record, Usage
from metering.store import open_store
from metering.tokens import count_text
from router.app import create_app
from tests.conftest import durable_config
from tests.ledger_rollups import rollup

HOUR = 1_767_268_800.0  # 2026-01-01T12:00:00Z
CONVERSATION = "prompt_cache_key:conv-7"


def answered(request_id: str, tier: str, model: str, label: str = "agentic") -> Record:
    """A request its tier answered at once, as the proxy hands it over (no usage or cost yet)."""
    return Record(
        request_id=request_id,
        started_at=HOUR,
        ended_at=HOUR + 0.5,
        label=label,
        routed_tier=tier,
        tier_path=[tier],
        attempts=[Attempt(tier=tier, model=model, status=200)],
        conversation=CONVERSATION,
    )


def chat_answer(model: str, prompt_tokens: int, completion_tokens: int) -> Completion:
    """The upstream's 2xx JSON answer, with the usage it reported."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }
    return Completion(
        request={"messages": [{"role": "user", "content": "hi"}]}, bodies=[orjson.dumps(body)], streams=[None]
    )


async def test_a_moved_conversations_cache_loss_reaches_the_metrics_and_the_ledgers_rollups(
    redis_url: str, tmp_path: Path
) -> None:
    # Wired as the app wires it: were the cache-affinity stage to run after the metrics or the ledger (as a
    # listener could), the base spend would be counted without the cache loss.
    served = create_app(durable_config("http://127.0.0.1:9", redis_url, tmp_path / "spool"))
    metering: MeteringPipeline = served.app.state.metering  # type: ignore[attr-defined]
    store = open_store(redis_url)
    await metering.start(store, durable=True)
    metering(answered("req-1", "nano", "gpt-5.4-nano"), chat_answer("gpt-5.4-nano", 4000, 10))
    moved = answered("req-2", "mini", "gpt-5.4-mini")  # the same conversation, moved to mini for capability
    metering(moved, chat_answer("gpt-5.4-mini", 4000, 10))
    await metering.aclose()

    lost = 4000 * (0.75 - 0.075) / 1e6  # the 4,000-token prefix cached on nano, paid in full on mini
    mini_cost = (4000 * 0.75 + 10 * 4.50) / 1e6
    assert moved.cost_usd == pytest.approx(mini_cost)
    assert moved.cache_loss_usd == pytest.approx(lost)
    base = metering.metrics.registry.get_sample_value(
        "routetax_base_cost_usd_total", {"tier": "mini", "class": "agentic"}
    )
    assert base == pytest.approx(mini_cost - lost)
    hour = await rollup(store, HOUR)
    await store.aclose()
    assert hour["mini|agentic|cache_loss_usd"] == pytest.approx(lost)
    assert hour["mini|agentic|base_usd"] == pytest.approx(mini_cost - lost)
    assert hour["mini|agentic|cost_usd"] == pytest.approx(mini_cost)


def test_router_stages_see_the_priced_record_and_the_policy_sees_it_whole() -> None:
    prices = {"mini": price_for("mini", {"input": 1.0, "cached_input": 0.1, "output": 2.0})}
    seen: list[tuple[str, float, float]] = []
    pipeline = MeteringPipeline(
        MeteringSettings(prices=prices, regions={"mini": None}),
        router_stages=RouterStages(
            settle_key=lambda r: seen.append(("settle_key", r.cost_usd, r.cache_loss_usd)),
            cache_loss=lambda r: setattr(r, "cache_loss_usd", 0.0001),
            policy=lambda r: seen.append(("policy", r.cost_usd, r.cache_loss_usd)),
        ),
    )
    record = answered("req-1", "mini", "mini")
    pipeline(record, chat_answer("mini", 1000, 100))

    cost = (1000 * 1.0 + 100 * 2.0) / 1e6
    assert seen == [("settle_key", pytest.approx(cost), 0.0), ("policy", pytest.approx(cost), 0.0001)]
    base = pipeline.metrics.registry.get_sample_value(
        "routetax_base_cost_usd_total", {"tier": "mini", "class": "agentic"}
    )
    assert base == pytest.approx(cost - 0.0001)  # the metrics ran after the cache-loss stage
    assert list(pipeline.recent) == [record]


def test_a_tiers_usage_reader_decides_what_it_is_billed() -> None:
    # A dialect whose answers carry usage in its own shape: read by the reader its tier names, not estimated.
    prices = {name: price_for(name, {"input": 1.0, "output": 2.0}) for name in ("local", "mini")}
    pipeline = MeteringPipeline(
        MeteringSettings(
            prices=prices,
            read_usage={
                "local": lambda data: Usage(prompt_tokens=data["tokens_in"], completion_tokens=data["tokens_out"])
            },
        )
    )
    body = orjson.dumps({"model": "local-model", "tokens_in": 300, "tokens_out": 40, "choices": []})
    local = answered("req-1", "local", "local-model")
    pipeline(local, Completion(request={"messages": []}, bodies=[body], streams=[None]))
    other = answered("req-2", "mini", "mini")  # a tier with no reader of its own: `usage_from` finds no usage
    pipeline(other, Completion(request={"messages": []}, bodies=[body], streams=[None]))

    assert local.usage == Usage(prompt_tokens=300, completion_tokens=40) and not local.estimated
    assert local.cost_usd == pytest.approx((300 * 1.0 + 40 * 2.0) / 1e6)
    assert other.estimated and other.usage is not None and other.usage.completion_tokens == 0


def test_a_responses_answer_without_usage_is_estimated_from_its_output() -> None:
    # An upstream's Responses object that reports no usage (a self-hosted engine may not): the completion is
    # estimated from the output it did send — its text and its function-call arguments — not counted as zero.
    pipeline = MeteringPipeline(MeteringSettings())
    text = "The order ships on Tuesday from the Leeds warehouse."
    arguments = '{"order_id": "A-1042", "include_history": true}'
    body = {
        "id": "resp_1",
        "object": "response",
        "model": "qwen",
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]},
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": arguments},
        ],
    }
    record = answered("req-1", "qwen", "qwen")
    record.api = "responses"
    pipeline(record, Completion(request={"input": "Where is my order?"}, bodies=[orjson.dumps(body)], streams=[None]))

    assert record.estimated and record.usage is not None
    assert record.usage.completion_tokens == count_text(text + arguments)
