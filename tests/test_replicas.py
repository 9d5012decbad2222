"""Two routetax replicas sharing one real Redis: breakers, response owners and the ledger are shared."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
from openai import OpenAI

from router.config import Config
from router.servers import RunningServer, bind_socket
from router.shared_state import OWNER_PREFIX
from tests.conftest import durable_config
from tests.redis_server import RedisServer
from tests.test_metering_e2e import ledger_records, wait_for_stream_length
from tests.test_proxy_acceptance import records
from tests.test_responses_api import FUNCTION_TOOLS
from tests.waiting import wait_until

HELLO = [{"role": "user", "content": "Say hello."}]


def replica(emulator: RunningServer, start_proxy, redis_url: str, spool: Path, nano_url: str | None = None):
    config = durable_config(
        emulator.url,
        redis_url,
        spool,
        resilience={"max_retries": 0, "breaker": {"consecutive_failures": 1, "cooldown_s": 30}},
    )
    if nano_url:
        tiers = config.model_dump()["tiers"]
        tiers["nano"]["base_url"] = nano_url
        config = Config.model_validate({**config.model_dump(), "tiers": tiers})
    proxy = start_proxy(config)
    return proxy, OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)


def test_an_open_breaker_on_one_replica_is_adopted_by_the_other(
    redis_server: RedisServer, emulator: RunningServer, start_proxy, tmp_path: Path
) -> None:
    dead = bind_socket()
    nano_url = f"http://127.0.0.1:{dead.getsockname()[1]}/v1"
    dead.close()
    first, client_a = replica(emulator, start_proxy, redis_server.url, tmp_path / "a", nano_url)
    second, client_b = replica(emulator, start_proxy, redis_server.url, tmp_path / "b", nano_url)
    client_a.chat.completions.create(model="auto", messages=HELLO)  # nano refused once: A's breaker opens
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if redis.Redis.from_url(redis_server.url).hexists("routetax:{breakers}", "nano"):
            break
        time.sleep(0.1)
    wait_until(  # B's sync loop (every second) copies A's open breaker
        lambda: httpx.get(f"{second.url}/readyz").json()["breakers"]["nano"] == "open", "B to see nano's breaker open"
    )
    raw = client_b.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.headers["x-routetax-tier"] == "mini"
    [record] = records(second, 1)
    assert record.skipped_tiers == {"nano": "breaker_open"}  # B never tried nano itself


def test_a_continuation_sent_to_another_replica_reaches_the_owning_tier_and_both_are_in_the_ledger(
    redis_server: RedisServer, emulator: RunningServer, start_proxy, tmp_path: Path
) -> None:
    _a, client_a = replica(emulator, start_proxy, redis_server.url, tmp_path / "a")
    _b, client_b = replica(emulator, start_proxy, redis_server.url, tmp_path / "b")
    first = client_a.responses.with_raw_response.create(model="auto", input="Weather in Oslo?", tools=FUNCTION_TOOLS)
    call = next(item for item in first.parse().output if item.type == "function_call")
    store = redis.Redis.from_url(redis_server.url)
    wait_until(lambda: store.exists(OWNER_PREFIX + first.parse().id), "the response's owner in the store")
    second = client_b.responses.with_raw_response.create(
        model="auto",
        previous_response_id=first.parse().id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 4}'}],
    )
    assert second.headers["x-routetax-tier"] == first.headers["x-routetax-tier"] == "mini"
    assert wait_for_stream_length(redis_server.url, 2) == 2
    records = {r.request_id: r for r in ledger_records(redis_server.url)}
    for raw in (first, second):
        record = records[raw.headers["x-routetax-request-id"]]
        assert record.api == "responses" and record.usage.prompt_tokens > 0 and not record.estimated
