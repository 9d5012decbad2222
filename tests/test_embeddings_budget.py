"""A budgeted key's embeddings request holds a reservation priced at its embedding model's input rate, no output."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from metering.metrics import Metrics
from metering.prices import price_for
from metering.record import EMBEDDING_LABEL, Record
from metering.store import open_store
from router.auth import Gatekeeper
from router.config import Config
from router.errors import ProxyError, Refusal

BODY_BYTES = 4000  # reserved as 4,000 prompt tokens: no text token is shorter than a byte


def embeddings(request_id: str, model: str = "text-embedding-3-small") -> Record:
    return Record(request_id=request_id, api="embeddings", requested_model=model, label=EMBEDDING_LABEL)


def gate_for(config: Config) -> Gatekeeper:
    prices = {name: price_for(tier.model) for name, tier in config.tiers.items() if name != "qwen"}
    return Gatekeeper(config, prices, Metrics())


@pytest.fixture
async def keyed_gate() -> AsyncIterator[Gatekeeper]:
    store = open_store(None)
    gate = gate_for(Config.model_validate({"auth": {"mode": "keys"}}))
    gate.start(store)
    yield gate
    await gate.aclose()
    await store.aclose()


def test_an_embeddings_reservation_is_its_bytes_at_the_models_input_rate() -> None:
    gate = gate_for(Config())
    body = {"model": "text-embedding-3-small", "input": "x" * 3990}
    assert gate.worst_case(embeddings("e"), ["nano"], body, BODY_BYTES).usd == pytest.approx(4000 * 0.02e-6)
    large = gate.worst_case(embeddings("e", "text-embedding-3-large"), ["nano"], body, BODY_BYTES).usd
    assert large == pytest.approx(4000 * 0.13e-6)
    chat = gate.worst_case(Record(request_id="c"), ["nano"], {"messages": [], "max_tokens": 100}, BODY_BYTES).usd
    nano = price_for("gpt-5.4-nano").standard
    assert chat == pytest.approx(4000 * nano.input + 100 * nano.output)  # chat adds its output


def test_an_unpriced_embedding_model_reserves_nothing() -> None:
    gate = gate_for(Config.model_validate({"embeddings": {"models": ["my-local-embedder"]}}))
    assert gate.worst_case(embeddings("e", "my-local-embedder"), ["nano"], {}, BODY_BYTES).usd == 0.0


async def test_a_small_budget_holds_many_embeddings_requests_in_flight(keyed_gate: Gatekeeper) -> None:
    assert keyed_gate.keys is not None
    key, _ = await keyed_gate.keys.create("indexer", budget_usd=0.001)
    # At nano's chat rates one alone would not fit; at $0.02/1M each holds $0.00008: twelve fit in $0.001.
    for i in range(12):
        await keyed_gate.admit(key, embeddings(f"e{i}"), ["nano"], {"input": "x"}, BODY_BYTES)
    with pytest.raises(ProxyError) as refused:
        await keyed_gate.admit(key, embeddings("e12"), ["nano"], {"input": "x"}, BODY_BYTES)
    assert refused.value.refusal is Refusal.BUDGET_HELD  # nothing is spent: the twelve in flight hold it
