"""Cache affinity: which tier a conversation stays on, and the cache loss metered when it moves."""

from __future__ import annotations

import orjson
import pytest

from metering.completion import Completion
from metering.prices import Price, Rates, price_for
from metering.record import Attempt, Record, Usage
from router import affinity as affinity_module
from router.affinity import CACHE_MIN_TOKENS, CacheAffinity, Conversation, conversation_key
from router.app import create_app
from router.config import Config
from tests.in_process import Clock

PRICES: dict[str, Price | None] = {
    "nano": Price("nano-model", Rates(input=1e-6, cached_input=1e-7, output=4e-6)),
    "mini": Price("mini-model", Rates(input=2e-6, cached_input=2e-7, output=8e-6)),
    "flat": Price("flat-model", Rates(input=3e-6, cached_input=3e-6, output=8e-6)),  # no cached-input discount
    "qwen": None,
}
SYSTEM = {"role": "system", "content": "You are terse."}
ASK = {"role": "user", "content": "What is 2 + 2?"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock().install(monkeypatch, affinity_module)


def served(tier: str, prompt: int, completion: int = 100, cached: int = 0, status: int = 200) -> Record:
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)
    return Record(request_id="req", tier_path=[tier], usage=usage, status=status)


def on(tier: str, prompt: int, completion: int = 100) -> CacheAffinity:
    """The memory after one answer of a conversation `c` from `tier`."""
    affinity = CacheAffinity(PRICES)
    affinity.settle("c", served(tier, prompt, completion))
    return affinity


def test_a_conversation_is_keyed_by_the_clients_cache_key_then_its_user() -> None:
    body = {"messages": [ASK], "user": "u1", "safety_identifier": "s1", "prompt_cache_key": "pk"}
    assert conversation_key(body, "chat") == "prompt_cache_key:pk"
    assert conversation_key({**body, "prompt_cache_key": ""}, "chat") == "user:u1"
    assert conversation_key({"messages": [ASK], "safety_identifier": "s1"}, "chat") == "safety_identifier:s1"


def test_a_chat_conversation_without_ids_is_its_messages_up_to_the_first_user_turn() -> None:
    first = conversation_key({"messages": [SYSTEM, ASK]}, "chat")
    later = {"messages": [SYSTEM, ASK, {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3?"}]}
    assert first is not None and first.startswith("prefix:")
    assert conversation_key(later, "chat") == first  # the same conversation, turns later
    other = conversation_key({"messages": [{"role": "system", "content": "Be verbose."}, ASK]}, "chat")
    assert other != first
    assert conversation_key({"messages": []}, "chat") is None
    assert conversation_key({"messages": "hi"}, "chat") is None
    assert conversation_key({"messages": [{"role": "user", "content": {1, 2}}]}, "chat") is None  # not JSON


def test_a_responses_conversation_without_ids_is_its_instructions_and_first_input() -> None:
    first = conversation_key({"instructions": "Be terse.", "input": [ASK]}, "responses")
    assert first == conversation_key({"instructions": "Be terse.", "input": [ASK, SYSTEM]}, "responses")
    assert first != conversation_key({"instructions": "Be terse.", "input": "What is 2 + 2?"}, "responses")
    assert conversation_key({"input": []}, "responses") is None


def test_a_long_cached_conversation_stays_on_its_dearer_tier() -> None:
    """Moving forfeits 10,000 cached tokens' discount ($0.018); nano would save $0.0104 on this request."""
    assert on("mini", prompt=10_000).choose("c", "nano") == ("mini", True)


def test_a_conversation_moves_to_the_cheaper_tier_when_the_cache_is_worth_less() -> None:
    assert on("mini", prompt=CACHE_MIN_TOKENS - 1).choose("c", "nano") == ("nano", False)  # nothing cached yet
    assert on("mini", prompt=10_000, completion=10_000).choose("c", "nano") == ("nano", False)  # output dominates
    assert on("flat", prompt=10_000).choose("c", "nano") == ("nano", False)  # no discount to forfeit


def test_a_move_to_a_safer_tier_or_an_unpriced_one_is_always_made() -> None:
    assert on("nano", prompt=10_000).choose("c", "mini") == ("mini", False)
    assert on("mini", prompt=10_000).choose("c", "qwen") == ("qwen", False)
    assert on("mini", prompt=10_000).choose("c", "mini") == ("mini", False)
    assert on("mini", prompt=10_000).choose("other", "nano") == ("nano", False)
    assert on("mini", prompt=10_000).choose(None, "nano") == ("nano", False)


def test_a_move_meters_the_cache_it_forfeited_at_the_new_tiers_discount() -> None:
    affinity = on("mini", prompt=10_000)
    moved = served("nano", prompt=10_500, cached=0)
    affinity.settle("c", moved)
    assert moved.cache_loss_usd == pytest.approx(10_000 * (1e-6 - 1e-7))
    stayed = served("nano", prompt=11_000, cached=10_500)
    affinity.settle("c", stayed)
    assert stayed.cache_loss_usd == 0.0
    assert affinity.choose("c", "mini") == ("mini", False)  # it now lives on nano


def test_failed_or_unmetered_answers_do_not_move_a_conversation() -> None:
    affinity = on("mini", prompt=10_000)
    affinity.settle("c", served("nano", prompt=10_000, status=500))
    affinity.settle("c", Record(request_id="req", tier_path=["nano"]))  # no usage
    affinity.settle(None, served("nano", prompt=10_000))
    assert affinity.choose("c", "nano") == ("mini", True)


def test_every_settlement_is_published_for_the_other_workers() -> None:
    published: list[tuple[str, Conversation]] = []
    affinity = CacheAffinity(PRICES)
    affinity.on_settle = lambda key, conversation: published.append((key, conversation))
    affinity.settle("c", served("mini", prompt=2000, completion=50))
    assert [(key, c.tier, c.prompt_tokens, c.completion_tokens) for key, c in published] == [("c", "mini", 2000, 50)]


def test_conversations_are_forgotten_after_their_ttl_and_beyond_the_bound(clock: Clock) -> None:
    affinity = CacheAffinity(PRICES, max_entries=2, ttl_s=60)
    for key in ("a", "b"):
        affinity.remember(key, Conversation("mini", 10_000, 100, clock.now))
    clock.advance(30)
    affinity.remember("a", Conversation("mini", 10_000, 100, clock.now))  # seen again: the most recent
    affinity.remember("c", Conversation("mini", 10_000, 100, clock.now))
    assert affinity.get("b") is None and affinity.get("a") is not None
    clock.advance(61)
    assert affinity.get("a") is None and affinity.choose("a", "nano") == ("nano", False)


def test_the_cache_loss_carries_the_modifiers_the_request_was_billed_with() -> None:
    # The forfeited discount is the billed rates' (input − cached input): a tier in the EU region pays +10% on
    # both, a flex answer half, and the whole cliff above 272K input tokens on a model that has one.
    prices: dict[str, Price | None] = {"nano": price_for("gpt-5.4-nano"), "full": price_for("gpt-5.4")}
    affinity = CacheAffinity(prices, regions={"nano": "eu", "full": "us"})
    affinity.settle("c", served("full", prompt=10_000))
    moved = served("nano", prompt=10_500)
    affinity.settle("c", moved)
    assert moved.cache_loss_usd == pytest.approx(10_000 * 1.1 * (0.20 - 0.02) / 1e6)

    flex = served("full", prompt=10_600)
    assert flex.usage is not None
    flex.usage.service_tier = "flex"
    affinity.settle("c", flex)
    assert flex.cache_loss_usd == pytest.approx(10_500 * 1.1 * (1.25 - 0.125) / 1e6)

    affinity.settle("c", served("nano", prompt=300_000))
    long = served("full", prompt=300_100)
    affinity.settle("c", long)
    assert long.cache_loss_usd == pytest.approx(300_000 * 1.1 * (5.00 - 0.50) / 1e6)


def test_the_proxy_meters_cache_loss_with_the_tiers_region() -> None:
    config = Config.model_validate(
        {
            "tiers": {
                "nano": {"model": "gpt-5.4-nano", "base_url": "http://127.0.0.1:9/v1"},
                "mini": {"model": "gpt-5.4-mini", "base_url": "http://127.0.0.1:9/v1", "region": "eu"},
            },
            "auth": {"mode": "open"},
        }
    )
    metering = create_app(config).app.state.metering  # type: ignore[attr-defined]
    request = {"messages": [SYSTEM, ASK], "prompt_cache_key": "conv"}
    for tier, model in (("nano", "gpt-5.4-nano"), ("mini", "gpt-5.4-mini")):
        record = Record(
            request_id=tier,
            tier_path=[tier],
            attempts=[Attempt(tier=tier, model=model, status=200)],
            conversation="prompt_cache_key:conv",
        )
        answer = {"model": model, "choices": [], "usage": {"prompt_tokens": 4000, "completion_tokens": 10}}
        metering(record, Completion(request=request, bodies=[orjson.dumps(answer)], streams=[None]))
    assert record.cache_loss_usd == pytest.approx(4000 * 1.1 * (0.75 - 0.075) / 1e6)
