"""A virtual key's own `x-ratelimit-*`: the numbers the gate script reports, their headers, and that the upstream's
never reach a client served with a key. In-process: the gate's Lua runs on fakeredis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import fakeredis
import pytest

import router.keys as keys_module
from demo.world import demo_config
from metering.metrics import Metrics
from metering.record import Record
from router.auth import Gatekeeper
from router.config import Config
from router.errors import ProxyError
from router.keys import Admission, KeyStore, RateWindow, VirtualKey
from router.rate_headers import openai_duration
from router.serving.relay import relay_headers
from tests.in_process import Clock

START = 1_800_000_000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(START)
    monkeypatch.setattr(keys_module, "time", fake)
    return fake


def run(body: Callable[[KeyStore], Awaitable[Any]]) -> Any:
    """Run `body` against a KeyStore on a fresh in-process store (fakeredis runs the Lua scripts)."""

    async def main() -> Any:
        return await body(KeyStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())))

    return asyncio.run(main())


# -- OpenAI's duration format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "written"),
    [
        (0.0, "0s"),
        (-1.0, "0s"),
        (0.059, "59ms"),
        (0.0001, "1ms"),  # rounded up: a client waiting this long never arrives early
        (1.0, "1s"),
        (8.64, "8.64s"),
        (20.0, "20s"),
        (59.9996, "1m0s"),
        (86.4, "1m26.4s"),
        (360.0, "6m0s"),
        (3600.0, "1h0m0s"),
    ],
)
def test_resets_are_written_as_openai_writes_them(seconds: float, written: str) -> None:
    assert openai_duration(seconds) == written


# -- the numbers, from the gate's one round trip --------------------------------------------------------------


def test_each_admission_reports_the_requests_left_and_when_the_window_is_empty(clock: Clock) -> None:
    key = VirtualKey(id="key_rpm", name="rpm", rpm=3)

    async def body(store: KeyStore) -> list[Any]:
        answers = []
        for index in range(4):
            answers.append(await store.admit(key, 0.0, f"r{index}"))
            clock.now += 10
        clock.now = START + 60.001  # the first has left the window
        answers.append(await store.admit(key, 0.0, "later"))
        return answers

    answers = run(body)
    assert [a.admission for a in answers] == [Admission.OK] * 3 + [Admission.RPM, Admission.OK]
    assert [a.requests for a in answers] == [
        RateWindow(3, 2, pytest.approx(60.0)),  # empty again once the newest has been in it for 60 s
        RateWindow(3, 1, pytest.approx(60.0)),
        RateWindow(3, 0, pytest.approx(60.0)),
        RateWindow(3, 0, pytest.approx(50.0)),  # refused: nothing left, nothing taken
        RateWindow(3, 0, pytest.approx(60.0)),  # the first's place, taken at once
    ]
    assert answers[3].wait_s == pytest.approx(30.0)  # the first leaves 60 s after it came
    assert all(a.tokens is None for a in answers)  # no tpm: no token window


def test_the_token_window_holds_reservations_then_what_was_used_and_refuses_past_the_limit(clock: Clock) -> None:
    key = VirtualKey(id="key_tpm", name="tpm", tpm=1000)

    async def body(store: KeyStore) -> list[Any]:
        first = await store.admit(key, 0.0, "a", tokens=600)
        await store.settle(key, START, first.member, 0.0, 300, tokens_member=first.tokens_member)
        clock.now += 10
        second = await store.admit(key, 0.0, "b", tokens=500)
        clock.now += 10
        return [first, second, await store.admit(key, 0.0, "c", tokens=300)]

    first, second, refused = run(body)
    assert first.tokens == RateWindow(1000, 400, pytest.approx(60.0)) and first.requests is None
    assert second.tokens == RateWindow(1000, 200, pytest.approx(60.0))  # 300 used by `a`, 500 held by `b`
    assert refused.admission is Admission.TPM
    assert refused.tokens == RateWindow(1000, 200, pytest.approx(50.0))
    assert refused.wait_s == pytest.approx(40.0)  # `a` leaves the window at 60 s: then 500 + 300 fit


def test_a_budget_refusal_still_reports_the_rates_and_takes_no_request(clock: Clock) -> None:
    key = VirtualKey(id="key_both", name="both", budget_usd=0.01, rpm=10, tpm=500)

    async def body(store: KeyStore) -> list[Any]:
        spend = await store.admit(key, 0.01, "spend", tokens=100)
        await store.settle(key, START, spend.member, 0.02, 0, tokens_member=spend.tokens_member)
        return [spend, await store.admit(key, 0.001, "over", tokens=100)]

    spend, over = run(body)
    assert spend.admission is Admission.OK and spend.requests == RateWindow(10, 9, pytest.approx(60.0))
    assert over.admission is Admission.BUDGET
    assert over.requests == RateWindow(10, 9, pytest.approx(60.0))
    assert over.tokens == RateWindow(500, 500, pytest.approx(60.0))  # `spend` used none


# -- the gatekeeper's headers ---------------------------------------------------------------------------------


def gatekeeper() -> Gatekeeper:
    base = demo_config("http://127.0.0.1:9").model_dump()
    base["auth"] = {"mode": "keys"}
    return Gatekeeper(Config.model_validate(base), {}, Metrics())


def admit(gate: Gatekeeper, key: VirtualKey, times: int) -> list[dict[str, str] | ProxyError]:
    """Admit `times` requests of `key`; each gives the headers it was admitted with or the refusal raised."""

    async def main() -> list[dict[str, str] | ProxyError]:
        gate.keys = KeyStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
        outcomes: list[dict[str, str] | ProxyError] = []
        for index in range(times):
            record = Record(request_id=f"req-{index}", api="chat", started_at=START)
            try:
                outcomes.append(await gate.admit(key, record, ["nano"], {"messages": []}, 64))
            except ProxyError as refused:
                outcomes.append(refused)
        return outcomes

    return asyncio.run(main())


def test_an_rpm_key_gets_the_requests_trio_and_its_429_carries_it(clock: Clock) -> None:
    first, second, refused = admit(gatekeeper(), VirtualKey(id="key_g", name="g", rpm=2), 3)
    assert first == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "1m0s",
    }
    assert second["x-ratelimit-remaining-requests"] == "0" and second["x-ratelimit-reset-requests"] == "1m0s"
    assert isinstance(refused, ProxyError) and refused.code == "rate_limit_exceeded"
    headers = refused.headers()
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["retry-after"] == "60" and not any("tokens" in name for name in headers)


def test_a_budget_refusal_carries_the_keys_rate_headers(clock: Clock) -> None:
    key = VirtualKey(id="key_zero", name="zero", budget_usd=0.0, tpm=900)
    (refused,) = admit(gatekeeper(), key, 1)
    assert isinstance(refused, ProxyError) and refused.code == "budget_exceeded"
    assert refused.context["x-ratelimit-limit-tokens"] == "900"
    assert refused.context["x-ratelimit-remaining-tokens"] == "900"
    assert refused.context["x-ratelimit-reset-tokens"] == "0s"
    assert "x-ratelimit-limit-requests" not in refused.context


def test_keys_without_rates_and_open_mode_get_no_rate_headers(clock: Clock) -> None:
    assert admit(gatekeeper(), VirtualKey(id="key_free", name="free"), 1) == [{}]
    assert admit(gatekeeper(), VirtualKey(id="key_budget", name="budget", budget_usd=5.0), 1) == [{}]

    async def open_mode() -> dict[str, str]:
        return await gatekeeper().admit(None, Record(request_id="open", api="chat"), ["nano"], {}, 0)

    assert asyncio.run(open_mode()) == {}


# -- relaying -------------------------------------------------------------------------------------------------

UPSTREAM = {
    "x-request-id": "req_upstream",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "retry-after": "2",
}


def test_behind_a_key_the_upstreams_rate_headers_are_not_relayed() -> None:
    own = {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "4"}
    headers = dict(own)
    relay_headers(UPSTREAM, headers, 429, rate_limits=False)
    assert headers == {**own, "x-request-id": "req_upstream", "retry-after": "2"}


def test_in_open_mode_the_upstreams_rate_headers_are_relayed() -> None:
    headers: dict[str, str] = {}
    relay_headers(UPSTREAM, headers, 200)
    assert headers == {
        "x-request-id": "req_upstream",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
    }
