"""Who gets in, on which tiers, within which budget and rate — the gatekeeper's answers, code by code.

The key store runs its scripts on an in-process Lua-capable store, and the test's clock stands in for time,
so budgets' resets and rates' refills are asserted to the second without waiting.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from metering.metrics import Metrics
from metering.prices import Price, Rates
from metering.record import Record, Usage
from router import auth as auth_module
from router import keys as keys_module
from router.auth import Gatekeeper, bearer
from router.config import Config
from router.errors import ProxyError, Refusal
from router.keys import VirtualKey
from tests.in_process import Clock, InProcessStore
from tests.waiting import async_wait_until

MAY_14_NOON = datetime(2026, 5, 14, 12, tzinfo=UTC).timestamp()
JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
PRICES: dict[str, Price | None] = {
    "nano": Price("nano-model", Rates(input=1e-6, cached_input=1e-7, output=4e-6)),
    "mini": Price("mini-model", Rates(input=2e-6, cached_input=2e-7, output=8e-6)),
    "qwen": None,  # self-hosted without a price: costs nothing to reserve
    "full": Price("full-model", Rates(input=1e-5, cached_input=1e-6, output=4e-5)),
}
HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}

MakeGate = Callable[..., Gatekeeper]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(MAY_14_NOON).install(monkeypatch, keys_module, auth_module)


@pytest.fixture
def store() -> InProcessStore:
    return InProcessStore.open()


@pytest.fixture
async def make_gate(store: InProcessStore, clock: Clock) -> AsyncIterator[MakeGate]:
    """A started gatekeeper in keys mode (unless `mode` says otherwise) on the in-process store."""
    gates: list[Gatekeeper] = []

    def make(mode: str | None = "keys", **auth: Any) -> Gatekeeper:
        config = Config.model_validate({"auth": {"mode": mode, "admin_key_env": "RT_TEST_ADMIN", **auth}})
        gate = Gatekeeper(config, PRICES, Metrics())
        gate.start(store.redis)
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        await gate.aclose()


def refused(exc: pytest.ExceptionInfo[ProxyError]) -> tuple[int, str, str]:
    """(status, code, message) as the client reads them."""
    error = orjson.loads(exc.value.body())["error"]
    return exc.value.status, error["code"], error["message"]


async def new_key(gate: Gatekeeper, name: str = "ci", **limits: Any) -> tuple[VirtualKey, dict[str, str]]:
    """A key in the store, and the headers that present it."""
    assert gate.keys is not None
    key, secret = await gate.keys.create(name, **limits)
    return key, {"authorization": f"Bearer {secret}"}


def test_the_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer({"authorization": "Bearer rt-abc"}) == "rt-abc"
    assert bearer({"authorization": "bearer  rt-abc "}) == "rt-abc"
    for headers in ({}, {"authorization": "Basic dXNlcg=="}, {"authorization": "Bearer   "}):
        assert bearer(headers) is None


def test_keys_mode_is_the_default_with_a_durable_store_and_open_mode_without() -> None:
    assert Gatekeeper(Config(), PRICES, Metrics()).mode == "open"
    durable = Config.model_validate({"store": {"redis_url": "redis://127.0.0.1:1/0"}})
    assert Gatekeeper(durable, PRICES, Metrics()).mode == "keys"


async def test_open_mode_lets_everyone_in_and_meters_nothing_per_key(make_gate: MakeGate) -> None:
    gate = make_gate(mode="open")
    assert await gate.authenticate({}) is None
    record = Record(request_id="req_1")
    await gate.admit(None, record, ["nano"], HELLO, 100)
    gate.settle(record)
    assert record.key_id is None and gate.keys is None


async def test_a_request_without_a_key_or_with_an_unknown_one_is_a_401(make_gate: MakeGate) -> None:
    gate = make_gate()
    with pytest.raises(ProxyError) as missing:
        await gate.authenticate({"authorization": "Basic dXNlcg=="})
    assert refused(missing)[:2] == (401, "missing_api_key")
    with pytest.raises(ProxyError) as unknown:
        await gate.authenticate({"authorization": "Bearer rt-nobody"})
    assert refused(unknown)[:2] == (401, "invalid_api_key")
    key, headers = await new_key(gate)
    assert (await gate.authenticate(headers) or VirtualKey("", "")).id == key.id


async def test_an_unseen_key_while_the_key_store_is_down_is_a_503_to_retry(
    make_gate: MakeGate, store: InProcessStore
) -> None:
    gate = make_gate()
    _, headers = await new_key(gate)
    store.down()
    with pytest.raises(ProxyError) as caught:
        await gate.authenticate(headers)
    assert refused(caught)[:2] == (503, "key_store_unavailable")
    assert caught.value.headers()["retry-after"] == "1" and "x-should-retry" not in caught.value.headers()


def test_a_key_limited_to_some_tiers_is_routed_within_them() -> None:
    gate = Gatekeeper(Config(), PRICES, Metrics())
    anywhere = VirtualKey("key_1", "any")
    assert gate.allowed_plan(None, ["mini", "full"], pinned=True) == (["mini", "full"], None)
    assert gate.allowed_plan(anywhere, ["mini", "full"], pinned=True) == (["mini", "full"], None)
    nano_full = VirtualKey("key_2", "nf", tiers=["nano", "full"])
    assert gate.allowed_plan(nano_full, ["mini", "full"], pinned=False) == (["full"], "mini")
    nano_only = VirtualKey("key_3", "n", tiers=["nano"])
    # The class's tier and its fallbacks are all forbidden: the key's own tier serves, and the refusal is named.
    assert gate.allowed_plan(nano_only, ["mini", "full"], pinned=False) == (["nano"], "mini")


def test_a_pinned_request_for_a_forbidden_tier_is_a_403_naming_the_allowed_tiers() -> None:
    gate = Gatekeeper(Config(), PRICES, Metrics())
    with pytest.raises(ProxyError) as pinned:
        gate.allowed_plan(VirtualKey("key_1", "n", tiers=["nano", "qwen"]), ["mini", "full"], pinned=True)
    status, code, message = refused(pinned)
    assert (status, code, pinned.value.param) == (403, "tier_not_allowed", "model")
    assert "`mini`" in message and "nano, qwen" in message
    with pytest.raises(ProxyError) as nowhere:
        gate.allowed_plan(VirtualKey("key_2", "gone", tiers=["retired"]), ["mini"], pinned=False)
    assert refused(nowhere) == (403, "tier_not_allowed", "This key may not use any configured tier.")


async def test_a_spent_budget_is_a_429_saying_when_it_resets(make_gate: MakeGate, clock: Clock) -> None:
    gate = make_gate()
    key, _ = await new_key(gate, "capped", budget_usd=1.0)
    first = Record(request_id="req_1", started_at=clock.now)
    await gate.admit(key, first, ["nano"], HELLO, 100)
    assert first.key_id == key.id
    first.cost_usd = 1.25  # what the upstream really charged
    gate.settle(first)
    await gate.aclose()  # waits for the settlement
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="req_2"), ["nano"], HELLO, 100)
    assert refused(caught) == (
        429,
        "budget_exceeded",
        "Key `capped` has used its monthly budget of $1; it resets at 2026-06-01T00:00:00+00:00.",
    )
    headers = caught.value.headers()
    assert (headers["retry-after"], headers["x-should-retry"]) == (str(math.ceil(JUNE_1 - clock.now)), "false")


async def test_a_daily_budget_names_its_period(make_gate: MakeGate, clock: Clock) -> None:
    gate = make_gate()
    key, _ = await new_key(gate, "daily", budget_usd=0.5, period="day")
    assert gate.keys is not None
    await gate.keys.settle(key, clock.now, "", 0.5, 0)
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="req_1"), ["nano"], HELLO, 100)
    assert "its daily budget of $0.5; it resets at 2026-05-15T00:00:00+00:00" in refused(caught)[2]
    assert caught.value.headers()["retry-after"] == str(12 * 3600)


@pytest.mark.parametrize(("limits", "what"), [({"rpm": 1}, "1 requests"), ({"tpm": 300}, "300 tokens")])
async def test_a_rate_limit_is_a_429_to_retry_when_the_window_has_room(
    make_gate: MakeGate, clock: Clock, limits: dict[str, int], what: str
) -> None:
    gate = make_gate()
    key, _ = await new_key(gate, "rated", **limits)
    used = Usage(prompt_tokens=100, completion_tokens=150)
    first = Record(request_id="req_1", started_at=clock.now, usage=used)
    capped = {**HELLO, "max_tokens": 150}  # 100 bytes and 150 out: 250 tokens reserved
    await gate.admit(key, first, ["nano"], capped, 100)
    gate.settle(first)
    await gate.aclose()
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="req_2"), ["nano"], capped, 100)
    assert refused(caught) == (429, "rate_limit_exceeded", f"Key `rated` reached its limit of {what} per minute.")
    headers = caught.value.headers()
    assert headers["retry-after"] == "60" and "x-should-retry" not in headers  # the SDK may retry after the wait
    assert {name for name in headers if name.startswith("x-ratelimit-")}  # and its pacing is the key's own


async def test_a_request_that_alone_may_use_more_than_the_tpm_is_told_to_lower_its_cap(
    make_gate: MakeGate, clock: Clock
) -> None:
    gate = make_gate()
    key, _ = await new_key(gate, "small", tpm=1000)
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="req_1"), ["nano"], HELLO, 100)  # no cap: the model's limit
    status, code, message = refused(caught)
    assert (status, code) == (429, "request_too_large")
    assert "up to 128,100 tokens" in message and "limit of 1000 tokens per minute" in message
    assert caught.value.headers()["x-should-retry"] == "false" and "retry-after" not in caught.value.headers()
    await gate.admit(key, Record(request_id="req_2"), ["nano"], {**HELLO, "max_tokens": 900}, 100)


async def test_a_request_reserves_what_every_attempt_of_its_plan_can_cost(make_gate: MakeGate) -> None:
    """Every tier of the plan may be billed once (a redo moves on), a stream once per attempt: prompt bytes in,
    the output cap × n out — without a cap, the model's output limit (on main: 512 tokens, so long answers
    spent far past the budget)."""
    gate = make_gate()
    assert gate.keys is not None
    key, _ = await new_key(gate, "budgeted", budget_usd=10.0)
    body = {**HELLO, "max_tokens": 10, "n": 2}
    await gate.admit(key, Record(request_id="req_1"), ["nano", "qwen", "mini"], body, 400)
    per_tier = [400 * 1e-6 + 10 * 2 * 4e-6, 0.0, 400 * 2e-6 + 10 * 2 * 8e-6]
    assert await gate.keys.reserved(key) == pytest.approx(sum(per_tier))
    await gate.admit(key, Record(request_id="req_2"), ["nano"], {**HELLO, "max_tokens": "many", "n": True}, 400)
    uncapped = 400 * 1e-6 + 128_000 * 4e-6  # no model limit in this price: the most metering believes
    assert await gate.keys.reserved(key) == pytest.approx(sum(per_tier) + uncapped)
    streamed = {**HELLO, "max_tokens": 10, "stream": True}  # a stream cut before its first event is billed too
    await gate.admit(key, Record(request_id="req_3"), ["nano"], streamed, 400)
    assert await gate.keys.reserved(key) == pytest.approx(sum(per_tier) + uncapped + 3 * (400 * 1e-6 + 10 * 4e-6))


async def test_a_request_the_budget_left_cannot_cover_is_refused_with_nothing_in_flight(
    make_gate: MakeGate, clock: Clock
) -> None:
    """On main a lone request was admitted whatever it could cost: `model: full, max_tokens: 128000` spent $1.50
    of a fresh $0.01 key."""
    gate = make_gate()
    key, _ = await new_key(gate, "tiny", budget_usd=0.01)
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="huge"), ["full"], {**HELLO, "max_tokens": 128_000}, 100)
    status, code, message = refused(caught)
    assert (status, code) == (429, "request_over_budget")
    assert "could cost up to $5.1210" in message and "more than the $0.0100 left" in message
    assert "max_tokens" in message and "used" not in message
    assert caught.value.headers()["x-should-retry"] == "false"
    await gate.admit(key, Record(request_id="small"), ["full"], {**HELLO, "max_tokens": 100}, 100)


async def test_a_budget_held_by_requests_in_flight_is_not_called_used(make_gate: MakeGate, clock: Clock) -> None:
    """On main a fresh $0.02 key with one slow request in flight answered the next "has used its monthly budget",
    with a Retry-After of weeks."""
    gate = make_gate()
    key, _ = await new_key(gate, "fresh", budget_usd=0.02)
    body = {**HELLO, "max_tokens": 1000}  # $0.0082 on mini: two fit in $0.02, not three
    await gate.admit(key, Record(request_id="slow"), ["mini"], body, 100, deadline_s=30)
    await gate.admit(key, Record(request_id="slower"), ["mini"], body, 100, deadline_s=300)
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="next"), ["mini"], body, 100)
    status, code, message = refused(caught)
    assert (status, code) == (429, "budget_held")
    assert "held by its requests in flight" in message and "used" not in message
    headers = caught.value.headers()
    assert headers["retry-after"] == "35" and "x-should-retry" not in headers  # `slow`'s deadline, and a margin


async def test_the_settlement_charges_the_real_cost_releases_the_reservation_and_is_exported(
    make_gate: MakeGate, clock: Clock
) -> None:
    gate = make_gate()
    assert gate.keys is not None
    key, _ = await new_key(gate, "ci", budget_usd=2.0, team="platform")
    record = Record(request_id="req_1", started_at=clock.now)
    await gate.admit(key, record, ["full"], {**HELLO, "max_tokens": 1000}, 4000)
    assert await gate.keys.reserved(key) > 0
    record.cost_usd = 0.003
    gate.settle(record)
    gate.settle(record)  # a second settlement of the same request charges nothing more
    await gate.aclose()
    assert (await gate.keys.reserved(key), await gate.keys.spent(key)) == (0.0, pytest.approx(0.003))
    sample = gate.metrics.registry.get_sample_value
    labels = {"key_id": key.id, "key": "ci", "team": "platform"}
    assert sample("routetax_key_spend_usd_total", labels) == pytest.approx(0.003)
    assert sample("routetax_key_budget_usd", {**labels, "period": "month"}) == 2.0


async def test_a_key_without_limits_is_served_and_charged_with_no_store_round_trip_to_admit(
    make_gate: MakeGate, store: InProcessStore, clock: Clock
) -> None:
    gate = make_gate()
    assert gate.keys is not None
    key, headers = await new_key(gate, "free")
    assert await gate.authenticate(headers) is not None
    store.down()
    record = Record(request_id="req_1", started_at=clock.now)
    await gate.authenticate(headers)  # seen a moment ago: still accepted
    await gate.admit(key, record, ["nano"], HELLO, 100)  # nothing to enforce: the store is not asked
    store.up()
    record.cost_usd = 0.01
    gate.settle(record)
    await gate.aclose()
    assert await gate.keys.spent(key) == pytest.approx(0.01)


async def test_with_the_store_down_a_limited_key_is_refused_when_closed(
    make_gate: MakeGate, store: InProcessStore
) -> None:
    gate = make_gate(on_store_error="closed")
    key, _ = await new_key(gate, "capped", budget_usd=1.0)
    store.down()
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="req_1"), ["nano"], HELLO, 100)
    status, code, message = refused(caught)
    assert (status, code) == (503, "limit_store_unavailable") and "`capped`" in message
    assert caught.value.headers() == {"retry-after": "1"}


async def test_with_the_store_down_a_limited_key_is_served_when_open_and_charged_when_the_store_returns(
    make_gate: MakeGate,
    store: InProcessStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = make_gate(on_store_error="open")
    assert gate.unsettled is not None
    monkeypatch.setattr(gate.unsettled, "_retry_s", 0.01)  # tried again every 10 ms, not every second
    keys = gate.keys
    assert keys is not None
    key, _ = await new_key(gate, "capped", budget_usd=1.0)
    store.down()
    record = Record(request_id="req_1", started_at=clock.now)
    await gate.admit(key, record, ["nano"], HELLO, 100)  # served unchecked
    record.cost_usd = 0.4
    clock.advance(auth_module.LOG_EVERY_S)  # past the log's rate limit: the failed settlement is logged
    gate.settle(record)  # refused by the store: kept, and tried again

    async def logged() -> bool:
        return "settlement failed" in caplog.text

    async def charged() -> bool:
        return await keys.spent(key) == pytest.approx(0.4)

    await async_wait_until(logged, "the failed settlement to be logged")
    store.up()
    await async_wait_until(charged, "the settlement kept through the outage to be charged")
    assert "1 settlement(s) from the outage charged" in caplog.text


async def test_the_management_surface_needs_the_admin_key(make_gate: MakeGate, monkeypatch: pytest.MonkeyPatch) -> None:
    keys_without_admin = make_gate()
    with pytest.raises(ProxyError) as unset:
        keys_without_admin.check_admin({"authorization": "Bearer anything"})
    assert refused(unset)[:2] == (403, "admin_key_not_configured")
    assert "RT_TEST_ADMIN" in refused(unset)[2]
    make_gate(mode="open").check_admin({})  # open mode without an admin key: open

    monkeypatch.setenv("RT_TEST_ADMIN", "admin-secret")
    gate = make_gate()
    gate.check_admin({"authorization": "Bearer admin-secret"})
    assert gate.is_admin({"authorization": "Bearer admin-secret"})
    for headers in ({}, {"authorization": "Bearer admin-secre"}):
        assert not gate.is_admin(headers)
        with pytest.raises(ProxyError) as wrong:
            gate.check_admin(headers)
        assert refused(wrong)[:2] == (401, "invalid_admin_key")
    assert not keys_without_admin.is_admin({"authorization": "Bearer admin-secret"})


async def test_metrics_need_a_token_in_keys_mode(make_gate: MakeGate, monkeypatch: pytest.MonkeyPatch) -> None:
    make_gate(mode="open").check_metrics({})
    make_gate(metrics_open=True).check_metrics({})
    with pytest.raises(ProxyError) as unset:
        make_gate().check_metrics({"authorization": "Bearer anything"})
    assert refused(unset)[:2] == (403, "metrics_token_not_configured")

    monkeypatch.setenv("RT_TEST_ADMIN", "admin-secret")
    admin_only = make_gate()
    admin_only.check_metrics({"authorization": "Bearer admin-secret"})  # without a metrics token: the admin key

    monkeypatch.setenv("RT_TEST_METRICS", "scraper-secret")
    gate = make_gate(metrics_token_env="RT_TEST_METRICS")
    gate.check_metrics({"authorization": "Bearer scraper-secret"})
    for headers in ({}, {"authorization": "Bearer admin-secret"}):
        with pytest.raises(ProxyError) as wrong:
            gate.check_metrics(headers)
        assert refused(wrong)[:2] == (401, Refusal.INVALID_METRICS_TOKEN.code)
    open_with_token = make_gate(mode="open", metrics_token_env="RT_TEST_METRICS")
    with pytest.raises(ProxyError):
        open_with_token.check_metrics({})  # a configured token is asked for in open mode too


async def test_a_request_running_past_its_deadline_keeps_its_reservation_and_an_orphan_does_not(
    make_gate: MakeGate, clock: Clock
) -> None:
    """A stream is relayed to its end, past its deadline: its reservation is renewed while it runs. One nobody
    renews (its process was killed) expires by its request's deadline, and the budget is free again."""
    gate = make_gate()
    assert gate.keys is not None
    key, _ = await new_key(gate, "streams", budget_usd=0.01)
    body = {**HELLO, "max_tokens": 1000}  # $0.0041 on nano: two fit
    await gate.admit(key, Record(request_id="long", started_at=clock.now), ["nano"], body, 100, deadline_s=20)
    orphan_gate = make_gate()
    await orphan_gate.admit(key, Record(request_id="orphan"), ["nano"], body, 100, deadline_s=20)
    orphan_gate._pending.clear()  # killed -9: nothing renews or settles it any more
    assert await gate.renew() == 0  # far from its expiry: nothing to do
    clock.advance(20)
    assert await gate.renew() == 1 and await orphan_gate.renew() == 0
    clock.advance(6)  # past both deadlines and their margin: the orphan is gone, the stream still holds its own
    await gate.admit(key, Record(request_id="next"), ["nano"], body, 100)
    with pytest.raises(ProxyError) as caught:
        await gate.admit(key, Record(request_id="one-too-many"), ["nano"], body, 100)
    assert refused(caught)[1] == "budget_held"


async def test_a_keys_default_output_cap_is_set_on_requests_without_one_and_reserved(
    make_gate: MakeGate, clock: Clock
) -> None:
    """Without one, an uncapped request reserves the model's output limit, which a small budget cannot cover."""
    gate = make_gate()
    assert gate.keys is not None
    key, _ = await new_key(gate, "small", budget_usd=0.01, max_output_tokens=200)
    chat = {**HELLO}
    await gate.admit(key, Record(request_id="chat"), ["nano"], chat, 100)
    assert chat["max_completion_tokens"] == 200  # what the upstream is asked for
    assert await gate.keys.reserved(key) == pytest.approx(100 * 1e-6 + 200 * 4e-6)
    responses = {"model": "auto", "input": "hi"}
    await gate.admit(key, Record(request_id="resp", api="responses"), ["nano"], responses, 100)
    assert responses["max_output_tokens"] == 200
    own = {**HELLO, "max_tokens": 50}
    await gate.admit(key, Record(request_id="own"), ["nano"], own, 100)
    assert "max_completion_tokens" not in own  # the client's own cap stands
