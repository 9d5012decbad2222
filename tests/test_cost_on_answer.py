"""The cost on the answer, read by the official openai SDK: `x-routetax-cost-usd` (with the served tier and model)
on JSON answers, and on streams an SSE comment after the usage event — which the SDK reads past, to the end — each
equal to the cost the ledger's record carries. (The OpenAI Agents SDK reads both too: tests/test_agents_sdk.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from openai import DefaultHttpxClient, OpenAI

from router.servers import RunningServer

try:  # the HTTP client the openai SDK is built on: httpx2 in its recent versions, httpx before
    import httpx2 as sdk_http
except ImportError:
    import httpx as sdk_http

HELLO = [{"role": "user", "content": "Say hello in five words."}]
COMMENT = b": x-routetax-cost-usd: "


class TeeStream(sdk_http.SyncByteStream):
    """A response body handed to the SDK as it arrives, its bytes kept for the test."""

    def __init__(self, inner: Any, sink: list[bytes]) -> None:
        self.inner, self.sink = inner, sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.sink.append(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Tee(sdk_http.BaseTransport):
    """The SDK's own transport; every response body is also kept in `bodies`, in order."""

    def __init__(self) -> None:
        self.inner = sdk_http.HTTPTransport()
        self.bodies: list[list[bytes]] = []

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        self.bodies.append([])
        return sdk_http.Response(
            response.status_code,
            headers=response.headers,
            stream=TeeStream(response.stream, self.bodies[-1]),
            extensions=response.extensions,
            request=request,
        )


@pytest.fixture
def tee() -> Tee:
    return Tee()


@pytest.fixture
def sdk(proxy: RunningServer, tee: Tee) -> OpenAI:
    http = DefaultHttpxClient(transport=tee)
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="test-key", max_retries=0, timeout=20, http_client=http)


def record_of(proxy: RunningServer, request_id: str) -> Any:
    """The proxy's record of a request, once metering has it (it runs after the answer)."""
    deadline = time.monotonic() + 5
    while True:
        found = [r for r in proxy.app.state.metering.recent if r.request_id == request_id]  # type: ignore[attr-defined]
        if found or time.monotonic() > deadline:
            assert found, f"no record for {request_id}"
            return found[0]
        time.sleep(0.01)


def comments(body: list[bytes]) -> list[bytes]:
    return [line for line in b"".join(body).split(b"\n") if line.startswith(b":")]


def test_a_json_answer_carries_its_cost_tier_and_model(sdk: OpenAI, proxy: RunningServer) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    completion = raw.parse()
    record = record_of(proxy, raw.headers["x-routetax-request-id"])
    assert completion.usage is not None and record.cost_usd > 0
    assert float(raw.headers["x-routetax-cost-usd"]) == pytest.approx(record.cost_usd, abs=1e-10)
    assert raw.headers["x-routetax-tier"] == record.tier_path[-1]
    assert raw.headers["x-routetax-model"] == record.attempts[-1].model == completion.model


def test_the_cost_follows_the_service_tier_the_upstream_reports(sdk: OpenAI, proxy: RunningServer) -> None:
    """Flex is billed at half the standard rates: the header prices the tier the answer says it was served on."""
    costs = {}
    for tier in ("default", "flex"):
        raw = sdk.chat.completions.with_raw_response.create(model="mini", messages=HELLO, service_tier=tier)
        assert raw.parse().service_tier == tier
        record = record_of(proxy, raw.headers["x-routetax-request-id"])
        costs[tier] = float(raw.headers["x-routetax-cost-usd"])
        assert costs[tier] == pytest.approx(record.cost_usd, abs=1e-10)
    assert costs["flex"] < costs["default"]


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_stream_read_to_its_end_carries_its_cost_in_a_comment(
    sdk: OpenAI, proxy: RunningServer, tee: Tee, include_usage: bool
) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=HELLO, stream=True, **options)
    chunks = list(raw.parse())  # the SDK reads the whole stream, the comment among its events
    record = record_of(proxy, raw.headers["x-routetax-request-id"])
    assert "x-routetax-cost-usd" not in raw.headers  # a stream's headers leave before its cost is known
    assert raw.headers["x-routetax-tier"] == record.tier_path[-1]
    assert raw.headers["x-routetax-model"] == record.attempts[-1].model
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and record.outcome.value == "success"
    # the usage chunk reaches the client only when it asked for it; the cost comes either way, once
    assert (chunks[-1].usage is not None) == include_usage
    [comment] = comments(tee.bodies[-1])
    assert comment.startswith(COMMENT)
    assert float(comment.removeprefix(COMMENT)) == pytest.approx(record.cost_usd, abs=1e-10)
    assert record.cost_usd > 0
    body = b"".join(tee.bodies[-1])
    assert body.endswith(b"data: [DONE]\n\n") and body.index(comment) < body.index(b"data: [DONE]")


def test_responses_answers_carry_their_cost_too(sdk: OpenAI, proxy: RunningServer, tee: Tee) -> None:
    raw = sdk.responses.with_raw_response.create(model="auto", input="Say hello in five words.")
    assert raw.parse().usage is not None
    record = record_of(proxy, raw.headers["x-routetax-request-id"])
    assert float(raw.headers["x-routetax-cost-usd"]) == pytest.approx(record.cost_usd, abs=1e-10)

    raw = sdk.responses.with_raw_response.create(model="auto", input="Say hello in five words.", stream=True)
    events = list(raw.parse())
    assert events[-1].type == "response.completed"
    record = record_of(proxy, raw.headers["x-routetax-request-id"])
    [comment] = comments(tee.bodies[-1])
    assert float(comment.removeprefix(COMMENT)) == pytest.approx(record.cost_usd, abs=1e-10) and record.cost_usd > 0


def test_an_error_answer_carries_no_cost(sdk: OpenAI, proxy: RunningServer) -> None:
    raw = sdk.chat.completions.with_raw_response.create  # the SDK raises on 4xx; read the raw response instead
    with pytest.raises(Exception) as raised:
        raw(model="no-such-model", messages=HELLO)
    response = raised.value.response  # type: ignore[attr-defined]
    assert response.status_code == 404 and "x-routetax-cost-usd" not in response.headers
