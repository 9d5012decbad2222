"""Issue 4 acceptance: real traffic, a real redis-server killed mid-run, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import redis
from openai import OpenAI

from metering.ledger import read_records
from metering.store import open_store
from router.servers import RunningServer
from tests.conftest import durable_config, script
from tests.redis_server import RedisServer
from tests.waiting import wait_until

HELLO = [{"role": "user", "content": "Say hello."}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def ledger_records(url: str) -> list:
    async def collect() -> list:
        store = open_store(url)
        try:
            return [record async for record in read_records(store)]
        finally:
            await store.aclose()

    return asyncio.run(collect())


def wait_for_stream_length(url: str, n: int, timeout: float = 20.0) -> int:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    length = 0
    while time.monotonic() < deadline:
        try:
            length = client.xlen("routetax:{ledger}:records")
        except redis.ConnectionError:
            length = 0
        if length >= n:
            break
        time.sleep(0.1)
    client.close()
    return length


def counter_total(url: str, name: str, token: str | None = None) -> float:
    """A metric summed over all its label sets, as scraped from one proxy's /metrics (keys mode: with `token`)."""
    total = 0.0
    headers = {"authorization": f"Bearer {token}"} if token else {}
    for line in httpx.get(f"{url}/metrics", headers=headers).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric_total(proxy: RunningServer, name: str) -> float:
    return counter_total(proxy.url, name)


def send(client: OpenAI, i: int) -> str:
    kind = i % 3
    if kind == 0:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
        raw.parse()
    elif kind == 1:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, stream=True)
        for _chunk in raw.parse():
            pass
    else:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, tools=TOOLS)
        raw.parse()
    return raw.headers["x-routetax-request-id"]


def test_redis_killed_mid_traffic_loses_and_doubles_nothing(
    redis_server: RedisServer,
    emulator: RunningServer,
    start_proxy,
    tmp_path: Path,
) -> None:
    proxy = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "spool"))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    sent = [send(client, i) for i in range(12)]
    assert wait_for_stream_length(redis_server.url, 12) == 12
    redis.Redis.from_url(redis_server.url).save()  # what Redis had is on its disk; the crash loses nothing else

    redis_server.kill()
    sent += [send(client, i) for i in range(12, 24)]  # clients never notice
    wait_until(lambda: metric_total(proxy, "routetax_ledger_spool_depth") > 0, "records spooled to disk")
    assert metric_total(proxy, "routetax_ledger_spool_depth") > 0
    assert httpx.get(f"{proxy.url}/readyz").json()["store"]["ok"] is False

    redis_server.start()  # loads its snapshot; the spool is replayed into it
    assert wait_for_stream_length(redis_server.url, 24) == 24
    # the spool replayed whole: no record can still arrive (a duplicate would land before this)
    wait_until(lambda: metric_total(proxy, "routetax_ledger_spool_depth") == 0, "the spool to be replayed")
    records = ledger_records(redis_server.url)
    assert sorted(r.request_id for r in records) == sorted(sent)  # exactly one record per request
    assert metric_total(proxy, "routetax_ledger_spool_depth") == 0

    # Prometheus counters agree with the ledger's totals
    assert metric_total(proxy, "routetax_requests_total") == len(records)
    assert metric_total(proxy, "routetax_cost_usd_total") == pytest.approx(sum(r.cost_usd for r in records))
    prompt = sum(a.usage.prompt_tokens for r in records for a in r.attempts if a.billed and a.usage)
    assert metric_total(proxy, "routetax_tokens_total") >= prompt
    assert all(r.cost_usd > 0 for r in records)


def test_streamed_request_cut_by_the_client_is_metered_and_marked(
    emulator: RunningServer, proxy: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", chunk_delay_ms=40)
    with httpx.stream(
        "POST", f"{proxy.url}/v1/chat/completions", json={"model": "nano", "messages": HELLO, "stream": True}
    ) as response:
        for index, _line in enumerate(response.iter_lines()):
            if index >= 6:
                break
    recent = proxy.app.state.metering.recent  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while not recent and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = list(recent)
    assert record.outcome == "client_cancelled" and record.estimated
    assert record.usage.prompt_tokens > 0 and record.usage.completion_tokens > 0
    assert record.cost_usd > 0  # estimated tokens are priced, not dropped to $0
