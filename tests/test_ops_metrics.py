"""The metrics behind the routing-tax and key-budget alerts agree with the report and the key store.

`routetax_base_cost_usd` (summed over replicas) must equal the report's base spend for the same
records, and feedback never moves it (failed tasks are not overhead, docs/routing-tax.md).
`routetax_key_spend_usd` must equal the key's spend in Redis.
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

from demo.world import DETECTABLE_DEGRADE, demo_config, drive
from metering.ledger import Keys
from router.config import Config
from router.keys import HASH_INDEX, KEY_TABLE, KeyStore, hash_key
from router.servers import RunningServer
from tests.conftest import durable_config, script
from tests.redis_server import RedisServer
from tests.test_access import HELLO, sdk
from tests.test_metering_e2e import counter_total
from tests.test_proxy_acceptance import records
from tests.test_routing_tax import report_when


def base_total(*proxies: RunningServer) -> float:
    return sum(counter_total(p.url, "routetax_base_cost_usd_total") for p in proxies)


def degrade_sometimes(emulator: RunningServer) -> None:
    """Degraded answers (so some requests are redone elsewhere) as in the demo's world."""
    for model, probabilities in DETECTABLE_DEGRADE.items():
        script(emulator, model, degrade_probability=probabilities)


def test_base_spend_metric_equals_the_reports_and_feedback_never_moves_it(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    degrade_sometimes(emulator)
    base = demo_config(emulator.url).model_dump()
    base["report"] = {"router_hour_usd": 0.05, "classifier_usd_per_request": 0.0001}
    proxy = start_proxy(Config.model_validate(base))
    rows = drive(proxy.url, requests=40, agentic_share=0.5, seed=3)  # feedback right after each answer
    assert [r for r in rows if not r["success"]], "the demo world should judge some tasks failed"
    report = report_when(proxy, 40)
    measured = report["measured"]
    assert measured["requests"] == 40
    before = base_total(proxy)
    assert before == pytest.approx(measured["spend"]["base"], rel=1e-9)
    # failed tasks are the verdict's business, never the overhead's: flipping the judgement moves no dollar
    flipped = next(r for r in records(proxy, 40) if r.attempts and r.attempts[-1].cost_usd > 0)
    for success in (False, True, False):
        answer = httpx.post(f"{proxy.url}/v1/feedback", json={"request_id": flipped.request_id, "success": success})
        assert answer.status_code == 200
    assert base_total(proxy) == before
    assert report_when(proxy, 40)["measured"]["spend"]["base"] == pytest.approx(before, rel=1e-9)

    # The parts PromQL adds to billed spend to price "actual" the way the report does.
    parts = measured["overhead_parts_usd"]
    billed = measured["spend"]["actual"] - parts["infrastructure"] - parts["classifier"]
    assert counter_total(proxy.url, "routetax_cost_usd_total") == pytest.approx(billed, rel=1e-9)
    assert counter_total(proxy.url, "routetax_classifier_cost_usd_total") == pytest.approx(parts["classifier"])
    assert parts["classifier"] == pytest.approx(40 * 0.0001)
    assert counter_total(proxy.url, "routetax_router_hour_usd") == 0.05


def test_base_spend_summed_over_replicas_equals_the_ledgers_and_feedback_lands_anywhere(
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
    # a marker written by an older version (`<tier>|<class>|<usd>`) still names a known request
    redis.Redis.from_url(redis_server.url).set(Keys().seen(ids[0]), "nano|single_turn|0.001", keepttl=True)
    for request_id in ids[:4]:
        answer = httpx.post(f"{judging.url}/v1/feedback", json={"request_id": request_id, "success": False})
        assert answer.status_code == 200
    report = report_when(judging, 6)
    assert base_total(serving, judging) == pytest.approx(report["measured"]["spend"]["base"], rel=1e-9)
    assert counter_total(judging.url, "routetax_base_cost_usd_total") == 0  # it served nothing
    nano = next(c for c in report["measured"]["cells"] if c["tier"] == "nano" and c["class"] == "single_turn")
    assert nano["successes"] == 2 and nano["feedback_coverage"] == pytest.approx(4 / 6)


def metric_lines(url: str, name: str) -> list[str]:
    """Lines of one metric; with the admin key, which keys mode wants for /metrics (open mode ignores it)."""
    text = httpx.get(f"{url}/metrics", headers={"authorization": "Bearer admin-secret"}).text
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_key_spend_metric_equals_the_keys_spend_in_redis_across_replicas(keyed, redis_server: RedisServer) -> None:
    first, second, keys = keyed
    created = keys(
        "create", "--name", "search-bot", "--team", "search", "--budget-usd", "50", "--period", "day", "--json"
    )  # uncapped `auto` requests reserve $2.66 each: room for several in flight while the last one settles
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
            f'routetax_key_budget_usd{{key="search-bot",key_id="{created["id"]}",period="day",team="search"}} 50.0'
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
    from cli import main as routetax

    config = tmp_path / "routetax.yaml"
    config.write_text(f"store: {{redis_url: '{redis_server.url}'}}\n")
    assert routetax(["keys", "--config", str(config), "create", "--name", "x", "--team", 'a"b}']) == 2
