"""The metrics behind the routing-tax and key-budget alerts agree with the report and the key store.

`routetax_ideal_cost_usd` minus `routetax_ideal_cost_withdrawn_usd` (summed over replicas) must equal
the report's ideal spend for the same records, failure feedback included — wherever the feedback
lands and whenever it arrives. `routetax_key_spend_usd` must equal the key's spend in Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio

from metering.ledger import Keys
from router.config import Config
from router.demo import DETECTABLE_DEGRADE, demo_config, drive
from router.keys import HASH_INDEX, KEY_TABLE, KeyStore, hash_key
from router.servers import RunningServer
from tests.conftest import durable_config, script
from tests.redis_server import RedisServer
from tests.test_access import HELLO, sdk
from tests.test_metering_e2e import counter_total
from tests.test_proxy_acceptance import records
from tests.test_routing_tax import report_when


def ideal_net(*proxies: RunningServer) -> float:
    return sum(
        counter_total(p.url, "routetax_ideal_cost_usd_total")
        - counter_total(p.url, "routetax_ideal_cost_withdrawn_usd_total")
        for p in proxies
    )


def degrade_sometimes(emulator: RunningServer) -> None:
    """Degraded answers (so some requests are not served ok) as in the demo's world."""
    for model, probabilities in DETECTABLE_DEGRADE.items():
        script(emulator, model, degrade_probability=probabilities)


def test_ideal_spend_metric_equals_the_reports_with_feedback_both_ways(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    degrade_sometimes(emulator)
    base = demo_config(emulator.url).model_dump()
    base["report"] = {"router_hour_usd": 0.05, "classifier_usd_per_request": 0.0001}
    proxy = start_proxy(Config.model_validate(base))
    # drive() posts feedback right after each answer, as an application would: some of it lands
    # before the record is finished (the in-flight path), some after.
    rows = drive(proxy.url, requests=40, agentic_share=0.5, seed=3)
    failed = [r for r in rows if not r["success"]]
    assert failed, "the demo world should judge some tasks failed"
    # one verdict flipped back and forth, ending on success: its ideal spend comes back
    recent = records(proxy, 40)
    flipped = next(r for r in recent if r.outcome == "success" and r.attempts and r.attempts[-1].cost_usd > 0)
    for verdict in (False, True, False, True):
        answer = httpx.post(f"{proxy.url}/v1/feedback", json={"request_id": flipped.request_id, "success": verdict})
        assert answer.status_code == 200
    report = report_when(proxy, 40)
    measured = report["measured"]
    assert measured["requests"] == 40

    withdrawn = counter_total(proxy.url, "routetax_ideal_cost_withdrawn_usd_total")
    assert withdrawn > 0  # failure feedback really took spend back
    assert ideal_net(proxy) == pytest.approx(measured["spend"]["ideal"], rel=1e-9)
    assert counter_total(proxy.url, "routetax_feedback_unmatched_total") == 0

    # The parts PromQL adds to billed spend to price "actual" the way the report does.
    parts = measured["overhead_parts_usd"]
    billed = measured["spend"]["actual"] - parts["infrastructure"] - parts["classifier"]
    assert counter_total(proxy.url, "routetax_cost_usd_total") == pytest.approx(billed, rel=1e-9)
    assert counter_total(proxy.url, "routetax_classifier_cost_usd_total") == pytest.approx(parts["classifier"])
    assert parts["classifier"] == pytest.approx(40 * 0.0001)
    assert counter_total(proxy.url, "routetax_router_hour_usd") == 0.05


def test_feedback_on_another_replica_withdraws_through_the_ledger_marker(
    redis_server: RedisServer,
    emulator: RunningServer,
    start_proxy: Callable[[Config], RunningServer],
    tmp_path: Path,
) -> None:
    serving = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "a"))
    judging = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "b"))
    ids = []
    for _ in range(6):
        raw = httpx.post(f"{serving.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO}, timeout=20)
        ids.append(raw.headers["x-routetax-request-id"])
    report_when(serving, 6)
    # A marker written before markers carried ideal spend: the withdrawal is impossible, and counted as such.
    legacy = ids[0]
    redis.Redis.from_url(redis_server.url).set(Keys().seen(legacy), "1", keepttl=True)
    for request_id in ids[:4]:
        answer = httpx.post(f"{judging.url}/v1/feedback", json={"request_id": request_id, "success": False})
        assert answer.status_code == 200
    recent = {r.request_id: r for r in serving.app.state.metering.recent}  # type: ignore[attr-defined]
    assert counter_total(judging.url, "routetax_ideal_cost_usd_total") == 0  # it served nothing
    assert counter_total(judging.url, "routetax_ideal_cost_withdrawn_usd_total") == pytest.approx(
        sum(recent[i].attempts[-1].cost_usd for i in ids[1:4]), rel=1e-9
    )
    assert counter_total(judging.url, "routetax_feedback_unmatched_total") == 1
    ideal = report_when(serving, 6)["measured"]["spend"]["ideal"]
    # the gap is exactly the legacy record's final cost, and nothing else
    assert ideal_net(serving, judging) - ideal == pytest.approx(recent[legacy].attempts[-1].cost_usd, rel=1e-9)


def test_failure_feedback_during_a_stream_is_applied_when_the_record_finishes(
    emulator: RunningServer, proxy: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", chunk_delay_ms=40)
    body = {"model": "auto", "messages": HELLO, "stream": True}
    with httpx.stream("POST", f"{proxy.url}/v1/chat/completions", json=body, timeout=20) as response:
        request_id = response.headers["x-routetax-request-id"]
        answer = httpx.post(f"{proxy.url}/v1/feedback", json={"request_id": request_id, "success": False})
        assert answer.status_code == 200
        assert counter_total(proxy.url, "routetax_ideal_cost_withdrawn_usd_total") == 0  # still streaming
        for _ in response.iter_bytes():
            pass
    deadline = time.monotonic() + 5
    while counter_total(proxy.url, "routetax_ideal_cost_withdrawn_usd_total") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    withdrawn = counter_total(proxy.url, "routetax_ideal_cost_withdrawn_usd_total")
    assert withdrawn > 0
    assert withdrawn == pytest.approx(counter_total(proxy.url, "routetax_ideal_cost_usd_total"))
    assert report_when(proxy, 1)["measured"]["spend"]["ideal"] == 0


def metric_lines(url: str, name: str) -> list[str]:
    """Lines of one metric; with the admin key, which keys mode wants for /metrics (open mode ignores it)."""
    text = httpx.get(f"{url}/metrics", headers={"authorization": "Bearer admin-secret"}).text
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_key_spend_metric_equals_the_keys_spend_in_redis_across_replicas(keyed, redis_server: RedisServer) -> None:
    first, second, keys = keyed
    created = keys(
        "create", "--name", "search-bot", "--team", "search", "--budget-usd", "5", "--period", "day", "--json"
    )
    plain = keys("create", "--name", "no-team", "--json")
    for index in range(6):
        sdk(first if index % 2 else second, created["key"]).chat.completions.create(model="auto", messages=HELLO)
    sdk(first, plain["key"]).chat.completions.create(model="auto", messages=HELLO)

    async def spent() -> float:
        store = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            found = {k.id: k for k in await KeyStore(store).list()}
            return await KeyStore(store).spent(found[created["id"]])
        finally:
            await store.aclose()

    deadline = time.monotonic() + 5
    while True:  # settlements reach Redis in the background
        in_redis = asyncio.run(spent())
        exported = counter_total(first.url, "routetax_key_spend_usd_total", "admin-secret") + counter_total(
            second.url, "routetax_key_spend_usd_total", "admin-secret"
        )
        plain_spend = sum(
            float(line.rsplit(" ", 1)[1])
            for p in (first, second)
            for line in metric_lines(p.url, "routetax_key_spend_usd_total")
            if 'key="no-team"' in line
        )
        if abs(exported - plain_spend - in_redis) < 1e-12 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert in_redis > 0
    assert exported - plain_spend == pytest.approx(in_redis, rel=1e-9)
    for proxy in (first, second):
        spend = metric_lines(proxy.url, "routetax_key_spend_usd_total")
        assert any(f'key="search-bot",key_id="{created["id"]}",team="search"' in line for line in spend), spend
        budgets = metric_lines(proxy.url, "routetax_key_budget_usd")
        assert (
            f'routetax_key_budget_usd{{key="search-bot",key_id="{created["id"]}",period="day",team="search"}} 5.0'
            in budgets
        )
        assert not any("no-team" in line for line in budgets)  # no budget, no budget series
        text = httpx.get(f"{proxy.url}/metrics", headers={"authorization": "Bearer admin-secret"}).text
        assert created["key"] not in text and hash_key(created["key"]) not in text
    listed = {k["name"]: k for k in keys("list", "--json")}
    assert listed["search-bot"]["team"] == "search" and listed["no-team"]["team"] is None


def test_a_key_stored_before_teams_existed_still_works(keyed, redis_server: RedisServer) -> None:
    first, _second, _keys = keyed
    secret = "rt-legacy-key-without-a-team-0123456789"
    legacy = {
        "id": "key_legacy000000000",
        "name": "legacy",
        "budget_usd": None,
        "period": "month",
        "rpm": None,
        "tpm": None,
        "tiers": None,
        "revoked": False,
        "created_at": 1.0,
        "key_hash": hash_key(secret),
    }
    client = redis.Redis.from_url(redis_server.url)
    client.hset(KEY_TABLE, legacy["id"], json.dumps(legacy))
    client.hset(HASH_INDEX, legacy["key_hash"], legacy["id"])
    assert sdk(first, secret).chat.completions.create(model="auto", messages=HELLO).choices
    deadline = time.monotonic() + 5
    while not metric_lines(first.url, "routetax_key_spend_usd_total") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(
        'key="legacy"' in line and 'team=""' in line for line in metric_lines(first.url, "routetax_key_spend_usd_total")
    )


def test_keys_create_refuses_a_team_that_is_not_a_plain_label(tmp_path: Path, redis_server: RedisServer) -> None:
    from router.keys_cli import main as keys_main

    config = tmp_path / "routetax.yaml"
    config.write_text(f"store: {{redis_url: '{redis_server.url}'}}\n")
    with pytest.raises(SystemExit) as caught:
        keys_main(["--config", str(config), "create", "--name", "x", "--team", 'a"b}'])
    assert caught.value.code == 2
