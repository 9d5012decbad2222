"""The retry contract with clients: the openai SDK, at its default retries, never multiplies routetax's own.

Once routetax's attempts are spent its answer says `x-should-retry: false`, so a persistent failure
reaches the upstream exactly as often as routetax's attempt budget allows — not (1 + the SDK's
retries) times that. An open breaker's 503 says when to come back (Retry-After) and may be retried.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from demo.world import demo_config
from router.config import Config
from router.servers import RunningServer
from tests.conftest import script
from tests.test_proxy_acceptance import HELLO, records

MAX_RETRIES = 2  # routetax's default: 3 attempts per tier


def upstream_requests(emulator: RunningServer) -> dict[str, int]:
    return httpx.get(f"{emulator.url}/_mock/stats").json()["requests"]


def sdk_with_default_retries(proxy: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="x", timeout=60)  # max_retries: the SDK's default, 2


def rejections(proxy: RunningServer, code: str) -> float:
    for line in httpx.get(f"{proxy.url}/metrics").text.splitlines():
        if line.startswith("routetax_rejections_total{") and f'reason="{code}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_persistent_429_reaches_the_upstream_only_routetax_s_attempts(
    proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-mini", outcomes=["429"] * 20)
    before = upstream_requests(emulator).get("gpt-5.4-mini", 0)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk_with_default_retries(proxy).chat.completions.create(
            model="mini", messages=HELLO, extra_headers={"x-routetax-fallback": "off"}
        )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert upstream_requests(emulator)["gpt-5.4-mini"] - before == 1 + MAX_RETRIES


def test_a_persistent_500_with_fallbacks_reaches_the_upstream_only_routetax_s_attempts(
    proxy: RunningServer, emulator: RunningServer
) -> None:
    chain = ["gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4"]  # nano's fallbacks: mini, then full
    for model in chain:
        script(emulator, model, outcomes=["500"] * 20)
    before = upstream_requests(emulator)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk_with_default_retries(proxy).chat.completions.create(model="nano", messages=HELLO)
    assert caught.value.response.headers["x-should-retry"] == "false"
    after = upstream_requests(emulator)
    sent = {model: after.get(model, 0) - before.get(model, 0) for model in chain}
    assert sent == {model: 1 + MAX_RETRIES for model in chain}
    [record] = records(proxy, 1)
    assert record.retries == 3 * MAX_RETRIES and record.fallbacks == 2


def test_an_open_breaker_s_503_says_when_to_come_back(emulator: RunningServer, start_proxy) -> None:
    config = demo_config(emulator.url).model_dump()
    config["resilience"] = {"max_retries": 0, "breaker": {"consecutive_failures": 1, "cooldown_s": 30}}
    proxy = start_proxy(Config.model_validate(config))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0, timeout=30)
    script(emulator, "gpt-5.4-mini", outcomes=["500"])
    pinned = {"x-routetax-fallback": "off"}
    with pytest.raises(openai.InternalServerError):  # the failure that opens mini's breaker
        client.chat.completions.create(model="mini", messages=HELLO, extra_headers=pinned)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="mini", messages=HELLO, extra_headers=pinned)
    response = caught.value.response
    assert response.status_code == 503 and caught.value.code == "no_tier_available"
    assert 29 <= int(response.headers["retry-after"]) <= 30  # the breaker's cooldown left
    assert "x-should-retry" not in response.headers  # after the cooldown a retry can succeed
    assert rejections(proxy, "no_tier_available") == 1


def test_upstream_429s_never_open_the_breaker(emulator: RunningServer, start_proxy) -> None:
    config = demo_config(emulator.url).model_dump()
    config["resilience"] = {"max_retries": 0, "breaker": {"consecutive_failures": 2, "cooldown_s": 30}}
    proxy = start_proxy(Config.model_validate(config))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0, timeout=30)
    script(emulator, "gpt-5.4-mini", outcomes=["429"] * 4 + ["ok"])
    pinned = {"x-routetax-fallback": "off"}
    for _ in range(4):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="mini", messages=HELLO, extra_headers=pinned)
    answer = client.chat.completions.with_raw_response.create(model="mini", messages=HELLO, extra_headers=pinned)
    assert answer.http_response.status_code == 200 and answer.headers["x-routetax-tier"] == "mini"
