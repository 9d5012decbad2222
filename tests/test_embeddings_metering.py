"""An embeddings request is metered at its embedding model's price, ledgered, counted — and kept out of the
routing-tax report, which is about tasks."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from metering.completion import Completion
from metering.ledger import Ledger, read_records
from metering.ledger_export import csv_row
from metering.pipeline import MeteringPipeline, MeteringSettings, RouterStages
from metering.prices import embedding_prices, price_for
from metering.record import EMBEDDING_LABEL, Attempt, Record
from metering.store import open_store
from metering.tax.report import build_report
from metering.tokens import count_text
from router.auto_mode import AutoMode

HOUR = 1_767_268_800.0  # 2026-01-01T12:00:00Z
MODEL = "text-embedding-3-small"
INPUT = ["the quick brown fox", "jumps over the lazy dog"]


def settings() -> MeteringSettings:
    return MeteringSettings(
        prices={"nano": price_for("gpt-5.4-nano"), "mini": price_for("gpt-5.4-mini")},
        embedding_prices=embedding_prices((MODEL, "text-embedding-3-large")),
    )


def embedding_record(request_id: str = "emb-1", model: str = MODEL) -> Record:
    """An embeddings request as the adapter hands it over: one tier, the model the client named, not classified."""
    return Record(
        request_id=request_id,
        api="embeddings",
        started_at=HOUR,
        ended_at=HOUR + 0.05,
        requested_model=model,
        label=EMBEDDING_LABEL,
        routed_tier="nano",
        tier_path=["nano"],
        attempts=[Attempt(tier="nano", model=model, status=200)],
    )


def embedding_answer(usage: dict[str, int] | None, model: str = MODEL, body_input: object = INPUT) -> Completion:
    """The upstream's embeddings list (vectors shortened: metering never reads them)."""
    answer: dict[str, object] = {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": [0.6, 0.8]} for i in range(2)],
    }
    if usage is not None:
        answer["usage"] = usage
    return Completion(request={"model": model, "input": body_input}, bodies=[orjson.dumps(answer)], streams=[None])


def chat_record(request_id: str, tier: str, label: str) -> tuple[Record, Completion]:
    record = Record(
        request_id=request_id,
        started_at=HOUR,
        ended_at=HOUR + 1,
        label=label,
        routed_tier=tier,
        tier_path=[tier],
        attempts=[Attempt(tier=tier, model=f"gpt-5.4-{tier}", status=200)],
    )
    body = {
        "object": "chat.completion",
        "model": f"gpt-5.4-{tier}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 40},
    }
    request = {"messages": [{"role": "user", "content": "hi"}]}
    return record, Completion(request=request, bodies=[orjson.dumps(body)], streams=[None])


def test_an_embeddings_request_is_priced_exactly_at_its_models_input_rate() -> None:
    pipeline = MeteringPipeline(settings())
    record = embedding_record()
    pipeline(record, embedding_answer({"prompt_tokens": 1000, "total_tokens": 1000}))

    assert record.usage is not None and record.usage.prompt_tokens == 1000 and record.usage.completion_tokens == 0
    assert not record.estimated
    assert record.cost_usd == pytest.approx(0.00002)  # $0.02 per 1M input tokens, not nano's $0.20
    assert record.attempts[0].cost_usd == pytest.approx(0.00002) and record.attempts[0].billed
    assert record.counterfactual_usd == {}  # no chat tier would have served it: nothing to compare


def test_the_large_model_is_priced_at_its_own_rate_on_the_same_tier() -> None:
    pipeline = MeteringPipeline(settings())
    record = embedding_record(model="text-embedding-3-large")
    pipeline(record, embedding_answer({"prompt_tokens": 1000, "total_tokens": 1000}, model="text-embedding-3-large"))
    assert record.cost_usd == pytest.approx(0.00013)


def test_missing_usage_is_counted_with_the_tokenizer_and_marked_estimated() -> None:
    pipeline = MeteringPipeline(settings())
    record = embedding_record()
    pipeline(record, embedding_answer(None))
    expected = sum(count_text(text) for text in INPUT)
    assert record.estimated and record.usage is not None and record.usage.estimated
    assert record.usage.prompt_tokens == expected and record.usage.completion_tokens == 0
    assert record.cost_usd == pytest.approx(expected * 0.02 / 1e6)


def test_token_id_input_is_counted_one_token_per_id() -> None:
    pipeline = MeteringPipeline(settings())
    record = embedding_record()
    pipeline(record, embedding_answer(None, body_input=[[1212, 318, 257], [1332, 13]]))
    assert record.usage is not None and record.usage.prompt_tokens == 5


def test_an_embedding_reported_with_completion_tokens_is_not_believed() -> None:
    pipeline = MeteringPipeline(settings())
    record = embedding_record()
    pipeline(record, embedding_answer({"prompt_tokens": 10, "completion_tokens": 10**9, "total_tokens": 10**9 + 10}))
    assert record.attempts[0].usage_rejected == "completion_over_limit"
    assert record.estimated and record.usage is not None and record.usage.completion_tokens == 0


def test_metrics_count_it_as_embeddings_and_leave_the_classifier_and_base_alone() -> None:
    pipeline = MeteringPipeline(settings())
    pipeline(embedding_record(), embedding_answer({"prompt_tokens": 1000, "total_tokens": 1000}))
    sample = pipeline.metrics.registry.get_sample_value
    labels = {"tier": "nano", "class": EMBEDDING_LABEL}
    assert sample("routetax_requests_total", {**labels, "outcome": "success", "api": "embeddings"}) == 1
    assert sample("routetax_tokens_total", {"tier": "nano", "model": MODEL, "kind": "prompt"}) == 1000
    assert sample("routetax_cost_usd_total", labels) == pytest.approx(0.00002)
    assert sample("routetax_base_cost_usd_total", labels) is None  # the routing overhead's base is tasks'
    assert sample("routetax_classifier_decisions_total", {"class": EMBEDDING_LABEL, "reason": "none"}) is None
    assert sample("routetax_classifier_seconds_count") == 0


def test_the_cache_affinity_stage_never_sees_an_embeddings_request() -> None:
    seen: list[str] = []
    pipeline = MeteringPipeline(settings(), router_stages=RouterStages(cache_loss=lambda r: seen.append(r.api)))
    pipeline(embedding_record(), embedding_answer({"prompt_tokens": 3, "total_tokens": 3}))
    pipeline(*chat_record("chat-1", "nano", "single_turn"))
    assert seen == ["chat"]


async def test_it_reaches_the_ledger_and_its_export(tmp_path: Path) -> None:
    store = open_store(None)
    ledger = Ledger(store, str(tmp_path / "spool"))
    await ledger.start()
    record = embedding_record()
    MeteringPipeline(settings())(record, embedding_answer({"prompt_tokens": 1000, "total_tokens": 1000}))
    ledger.submit(record)
    await ledger.aclose()
    [read] = [r async for r in read_records(store, None, None)]
    await store.aclose()
    assert read.api == "embeddings" and read.label == EMBEDDING_LABEL and read.cost_usd == pytest.approx(0.00002)
    row = csv_row(read)
    assert row["api"] == "embeddings" and row["prompt_tokens"] == 1000 and row["completion_tokens"] == 0


def test_the_routing_tax_report_is_the_same_with_or_without_embeddings() -> None:
    pipeline = MeteringPipeline(settings())
    tasks = []
    for i, (tier, label) in enumerate([("nano", "single_turn"), ("mini", "agentic"), ("mini", "agentic")]):
        record, completion = chat_record(f"chat-{i}", tier, label)
        pipeline(record, completion)
        tasks.append(record)
    embeddings = [embedding_record(f"emb-{i}") for i in range(5)]
    for record in embeddings:
        pipeline(record, embedding_answer({"prompt_tokens": 5000, "total_tokens": 5000}))

    alone = build_report(tasks)
    mixed = build_report([embeddings[0], *tasks[:2], *embeddings[1:], tasks[2]])
    assert mixed == alone
    assert mixed["measured"]["requests"] == 3 and mixed["measured"]["agentic_share"] == pytest.approx(2 / 3)
    assert {cell["class"] for cell in mixed["measured"]["cells"]} <= {"single_turn", "agentic"}


def test_the_auto_mode_window_holds_only_tasks() -> None:
    auto = AutoMode(evaluate_every_s=3600)
    auto.observe(chat_record("chat-1", "nano", "single_turn")[0])
    auto.observe(embedding_record())
    assert auto.evaluate()["measured"]["requests"] == 1
