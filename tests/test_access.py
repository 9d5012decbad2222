"""Issue 9 acceptance with a real Redis: keys, revocation across replicas, racing budgets, rate limits, no leaks."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI

from router.servers import RunningServer
from tests.conftest import UPSTREAM_SECRET, key_spent_usd, wait_for_settlements

HELLO = [{"role": "user", "content": "Say hello."}]


def sdk(proxy: RunningServer, key: str) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0)


def test_no_key_or_a_wrong_key_is_a_401(keyed) -> None:
    first, _second, _keys = keyed
    response = httpx.post(f"{first.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO})
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.AuthenticationError):
        sdk(first, "rt-not-a-key").chat.completions.create(model="auto", messages=HELLO)


def test_a_key_works_on_every_replica_and_revocation_reaches_them_all(keyed) -> None:
    first, second, keys = keyed
    created = keys("create", "--name", "search-team", "--json")
    assert created["key"].startswith("rt-") and created["id"].startswith("key_")
    for proxy in (first, second):
        assert sdk(proxy, created["key"]).chat.completions.create(model="auto", messages=HELLO).choices
    keys("revoke", created["id"])
    import time

    # Not a wait for background work: the lookup cache's TTL (0.5 s here, 2 s by default) must elapse.
    time.sleep(0.6)
    with pytest.raises(openai.AuthenticationError):
        sdk(second, created["key"]).chat.completions.create(model="auto", messages=HELLO)
    listed = keys("list", "--json")
    assert listed[0]["revoked"] is True and "key_hash" not in listed[0] and created["key"] not in json.dumps(listed)


def test_a_key_not_allowed_a_tier_gets_403(keyed) -> None:
    first, _second, keys = keyed
    created = keys("create", "--name", "cheap-only", "--tiers", "nano", "--json")
    client = sdk(first, created["key"])
    assert (
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO).headers["x-routetax-tier"]
        == "nano"
    )
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="mini", messages=HELLO)
    assert caught.value.code == "tier_not_allowed"


def test_a_tiny_budget_is_never_overspent_even_when_requests_race_on_two_replicas(keyed) -> None:
    first, second, keys = keyed
    created = keys("create", "--name", "tiny", "--budget-usd", "0.0005", "--period", "day", "--json")
    # 40 output tokens on mini alone: each request may cost about $0.00024, so two fit in the budget at a time
    body = {"model": "mini", "messages": HELLO, "max_tokens": 40}
    headers = {"authorization": f"Bearer {created['key']}", "x-routetax-fallback": "off"}

    def call(index: int) -> httpx.Response:
        proxy = first if index % 2 else second
        return httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(40)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(429) > 0 and statuses.count(200) > 0
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} <= {
        "budget_held",
        "request_over_budget",
    }
    wait_for_settlements(first.app.state.config.store.redis_url, created["id"])
    assert key_spent_usd(first.app.state.config.store.redis_url, created["id"]) <= 0.0005  # never past it
    refused = httpx.post(f"{first.url}/v1/chat/completions", json=body, headers=headers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "request_over_budget"
    message = refused.json()["error"]["message"]
    assert "of key `tiny`'s daily budget of $0.0005" in message and "left" in message and "max_tokens" in message
    assert refused.headers["x-should-retry"] == "false"


def test_rpm_limit_is_a_429_with_retry_after(keyed) -> None:
    first, _second, keys = keyed
    created = keys("create", "--name", "slow", "--rpm", "3", "--json")
    headers = {"authorization": f"Bearer {created['key']}"}
    statuses = [
        httpx.post(f"{first.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO}, headers=headers)
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 60


def test_a_key_sees_its_own_rate_limit_headers_never_the_upstreams(keyed) -> None:
    first, _second, keys = keyed
    created = keys("create", "--name", "paced", "--rpm", "3", "--json")
    client = sdk(first, created["key"])
    answers = [client.chat.completions.with_raw_response.create(model="auto", messages=HELLO) for _ in range(2)]
    streamed = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed.parse() if chunk.choices)
    answers.append(streamed)
    assert [a.headers["x-ratelimit-limit-requests"] for a in answers] == ["3"] * 3
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    for answer in answers:  # the emulator's organisation (10000 requests, 9999 left) never shows through
        assert not any(name.endswith("-tokens") for name in answer.headers if name.startswith("x-ratelimit-"))
        assert answer.headers["x-ratelimit-reset-requests"].endswith("s")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    refused = caught.value.response
    assert caught.value.code == "rate_limit_exceeded"
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 60  # when the first of the three leaves the window


def test_without_a_key_the_upstreams_rate_limit_headers_are_relayed(client) -> None:
    answer = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert answer.headers["x-ratelimit-limit-requests"] == "10000"
    assert answer.headers["x-ratelimit-remaining-requests"] == "9999"


def test_the_admin_key_guards_the_management_surface(keyed) -> None:
    first, _second, _keys = keyed
    assert httpx.get(f"{first.url}/v1/routing-tax").status_code == 401
    assert httpx.get(f"{first.url}/v1/routing-tax", headers={"authorization": "Bearer admin-secret"}).status_code == 200


def test_the_upstream_key_never_leaks(keyed, caplog: pytest.LogCaptureFixture) -> None:
    first, _second, keys = keyed
    caplog.set_level(logging.DEBUG)
    created = keys("create", "--name", "leak-check", "--json")
    headers = {"authorization": f"Bearer {created['key']}"}
    seen = []
    for body in (
        {"model": "auto", "messages": HELLO},
        {"model": "nope", "messages": HELLO},
        {"model": "auto"},
        {"model": "auto", "messages": HELLO, "stream": True},
    ):
        response = httpx.post(f"{first.url}/v1/chat/completions", json=body, headers=headers)
        seen.append(response.text + str(response.headers))
    seen.append(httpx.get(f"{first.url}/metrics").text)
    seen.append(httpx.get(f"{first.url}/readyz").text)
    seen.append(httpx.get(f"{first.url}/v1/routing-tax", headers={"authorization": "Bearer admin-secret"}).text)
    for text in seen + [record.getMessage() for record in caplog.records]:
        assert UPSTREAM_SECRET not in text
