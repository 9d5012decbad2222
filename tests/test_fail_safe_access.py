"""Issue 17, access and budgets: every surface authorised, budgets and rates that hold when Redis can't write.

Real Redis, real HTTP, the emulator upstream; two virtual keys in keys mode (the `keyed` fixture
of test_access: two replicas on one Redis).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from router import keys as keys_module
from router.keys import KeyStore, VirtualKey
from tests.conftest import script
from tests.test_access import HELLO


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def make_key(keys, name: str, *options: str) -> dict:
    return keys("create", "--name", name, *options, "--json")


# -- 1. stored responses belong to the key that created them ----------------------------------------------


def test_stored_responses_are_only_readable_deletable_and_continuable_by_their_key(keyed) -> None:
    first, second, keys = keyed
    alice, bob = make_key(keys, "alice"), make_key(keys, "bob")
    created = httpx.post(
        f"{first.url}/v1/responses", json={"model": "mini", "input": "Remember 42."}, headers=bearer(alice["key"])
    )
    assert created.status_code == 200, created.text
    response_id = created.json()["id"]
    url = f"{second.url}/v1/responses/{response_id}"  # the other replica: ownership travels through Redis

    assert httpx.get(url).status_code == 401  # no key: no read
    assert httpx.delete(url).status_code == 401
    for method in (httpx.get, httpx.delete):  # another key: as if it did not exist
        refused = method(url, headers=bearer(bob["key"]))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "response_not_found"
    hijack = httpx.post(
        f"{second.url}/v1/responses",
        json={"model": "mini", "input": "What did I say?", "previous_response_id": response_id},
        headers=bearer(bob["key"]),
    )
    assert hijack.status_code == 404 and hijack.json()["error"]["code"] == "previous_response_not_found"

    assert httpx.get(url, headers=bearer(alice["key"])).json()["id"] == response_id
    continued = httpx.post(
        f"{second.url}/v1/responses",
        json={"model": "mini", "input": "What did I say?", "previous_response_id": response_id},
        headers=bearer(alice["key"]),
    )
    assert continued.status_code == 200
    assert httpx.delete(url, headers=bearer(alice["key"])).status_code == 200


# -- 2. feedback only from the key that made the request ----------------------------------------------------


def test_feedback_is_accepted_only_from_the_requests_own_key_or_the_admin(keyed) -> None:
    first, second, keys = keyed
    alice, bob = make_key(keys, "alice-fb"), make_key(keys, "bob-fb")
    answered = httpx.post(
        f"{first.url}/v1/chat/completions", json={"model": "nano", "messages": HELLO}, headers=bearer(alice["key"])
    )
    request_id = answered.headers["x-routetax-request-id"]
    time.sleep(0.3)  # the ledger marker (read by the other replica) is written in the background
    for proxy in (first, second):
        foreign = httpx.post(
            f"{proxy.url}/v1/feedback", json={"request_id": request_id, "success": False}, headers=bearer(bob["key"])
        )
        assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "request_not_found"
    for proxy, who in ((first, alice["key"]), (second, alice["key"]), (second, "admin-secret")):
        own = httpx.post(
            f"{proxy.url}/v1/feedback", json={"request_id": request_id, "success": False}, headers=bearer(who)
        )
        assert own.status_code == 200, own.text


# -- 6. budgets and rates hold when Redis can't take writes -----------------------------------------------


def _spent(redis_url: str, key_id: str) -> float:
    client = redis.Redis.from_url(redis_url)
    total = 0.0
    for name in client.scan_iter(f"routetax:{{keys}}:budget:{key_id}:*"):
        total += float(client.hget(name, "spent") or 0)
    return total


def test_a_limited_key_is_refused_while_redis_refuses_writes_and_an_open_one_is_charged_afterwards(
    keyed, redis_server, emulator, start_proxy, tmp_path, monkeypatch
) -> None:
    first, _second, keys = keyed
    limited = make_key(keys, "capped", "--budget-usd", "0.01", "--rpm", "100")
    free = make_key(keys, "free")
    from router.config import Config

    base = first.app.state.config.model_dump()
    base["auth"]["on_store_error"] = "open"
    base["store"]["spool_dir"] = str(tmp_path / "open")
    lenient = start_proxy(Config.model_validate(base))
    for proxy in (first, lenient):  # warm the key caches while Redis still answers
        httpx.post(
            f"{proxy.url}/v1/chat/completions",
            json={"model": "mini", "messages": HELLO},
            headers=bearer(limited["key"]),
        )
    time.sleep(0.5)
    before = _spent(redis_server.url, limited["id"])
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory", "1")  # Redis at maxmemory: reads work, every write is refused (OOM)
    try:
        refused = httpx.post(
            f"{first.url}/v1/chat/completions",
            json={"model": "mini", "messages": HELLO},
            headers=bearer(limited["key"]),
        )
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "limit_store_unavailable"
        assert "retry-after" in refused.headers
        unlimited = httpx.post(
            f"{first.url}/v1/chat/completions", json={"model": "mini", "messages": HELLO}, headers=bearer(free["key"])
        )
        assert unlimited.status_code == 200  # nothing to enforce on a key without limits
        served = [
            httpx.post(
                f"{lenient.url}/v1/chat/completions",
                json={"model": "mini", "messages": HELLO},
                headers=bearer(limited["key"]),
            ).status_code
            for _ in range(3)
        ]
        assert served == [200, 200, 200]  # on_store_error: open serves, unchecked
        time.sleep(1.5)
        assert _spent(redis_server.url, limited["id"]) == pytest.approx(before)  # nothing could be charged yet
    finally:
        admin.config_set("maxmemory", "0")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _spent(redis_server.url, limited["id"]) <= before:
        time.sleep(0.2)
    assert _spent(redis_server.url, limited["id"]) > before  # the outage's spend was charged when Redis returned
    metrics = httpx.get(f"{lenient.url}/metrics", headers=bearer("admin-secret")).text
    assert f'routetax_key_spend_usd_total{{key="capped",key_id="{limited["id"]}"' in metrics


# -- 7. reservations expire, and every path after admission releases them ---------------------------------


def test_a_request_that_fails_after_admission_releases_its_reservation(keyed, redis_server) -> None:
    first, _second, keys = keyed
    capped = make_key(keys, "nested", "--budget-usd", "1")
    deep: object = "leaf"
    for _ in range(300):  # orjson reads up to 1024 levels but writes only 255
        deep = [deep]
    answered = httpx.post(
        f"{first.url}/v1/chat/completions",
        json={"model": "nano", "messages": HELLO, "metadata_deep": deep},
        headers=bearer(capped["key"]),
    )
    assert answered.status_code == 400 and answered.json()["error"]["type"] == "invalid_request_error"
    time.sleep(0.5)
    store = KeyStore(redis.asyncio.Redis.from_url(redis_server.url))
    key = VirtualKey(id=capped["id"], name="nested", budget_usd=1)
    assert asyncio.run(store.reserved(key)) == 0.0


def test_an_unsettled_reservation_expires(redis_server, monkeypatch) -> None:
    clock = FakeClock(1_800_000_000.0)
    monkeypatch.setattr(keys_module, "time", clock)

    async def run() -> tuple[str, str, float]:
        store = KeyStore(redis.asyncio.Redis.from_url(redis_server.url))
        key = VirtualKey(id="key_crash", name="crash", budget_usd=0.01)
        first = (await store.admit(key, 0.02, "req-1", hold_s=360))[0]  # the process dies: never settled
        clock.now += 60
        blocked = (await store.admit(key, 0.001, "req-2", hold_s=360))[0]
        clock.now += 400  # past the first request's longest life
        later = (await store.admit(key, 0.001, "req-3", hold_s=360))[0]
        return first, blocked, later, await store.reserved(key)

    first, blocked, later, reserved = asyncio.run(run())
    assert (first, blocked, later) == ("ok", "budget", "ok")
    assert reserved == pytest.approx(0.001)


# -- 8. the reservation covers the whole plan ---------------------------------------------------------------


def test_a_redo_chain_cannot_spend_far_past_a_budget(keyed, emulator, redis_server) -> None:
    first, _second, keys = keyed
    budget = 0.01  # one request here costs ~$0.0016 (nano and mini answers billed, then full)
    capped = make_key(keys, "redo-chain", "--budget-usd", str(budget), "--period", "day")
    for model in ("gpt-5.4-nano", "gpt-5.4-mini"):  # every cheap answer is empty: redone up to the full tier
        script(emulator, model, outcomes=["empty"] * 40)
    body = {"model": "nano", "messages": HELLO, "max_tokens": 200}

    def call(_: int) -> int:
        return httpx.post(
            f"{first.url}/v1/chat/completions", json=body, headers=bearer(capped["key"]), timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(16)))
    assert statuses.count(200) >= 1
    time.sleep(0.5)
    spent = _spent(redis_server.url, capped["id"])
    assert spent <= budget, f"spent ${spent:.5f} on a ${budget} budget ({statuses.count(200)} served)"


# -- 9. rpm is a sliding limit: no minute boundary lets twice the rate through -----------------------------


class FakeClock:
    """Stands in for the `time` module inside router.keys: the gate script gets `now` from the client."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_rpm_holds_across_a_minute_boundary(redis_server, monkeypatch) -> None:
    boundary = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 60
    clock = FakeClock(boundary - 0.5)
    monkeypatch.setattr(keys_module, "time", clock)

    async def run() -> list[str]:
        store = KeyStore(redis.asyncio.Redis.from_url(redis_server.url))
        key = VirtualKey(id="key_rpm", name="rpm", rpm=6)
        verdicts = [(await store.admit(key, 0.0, f"a{i}"))[0] for i in range(6)]
        clock.now = boundary + 0.5  # one second later, in the next calendar minute
        verdicts += [(await store.admit(key, 0.0, f"b{i}"))[0] for i in range(6)]
        clock.now = boundary + 10.5  # 6 per minute refill one every 10 s
        verdicts += [(await store.admit(key, 0.0, f"c{i}"))[0] for i in range(2)]
        return verdicts

    verdicts = asyncio.run(run())
    assert verdicts[:6] == ["ok"] * 6
    assert verdicts[6:12] == ["rpm"] * 6  # a fixed window let all six through here
    assert verdicts[12:] == ["ok", "rpm"]
