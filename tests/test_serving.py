"""The request path in-process: intake, attempts, relay and the APIs, against a scripted upstream pool.

No server and no network: requests are ASGI scopes, the upstream is a fake pool that answers
each tier from a script, and metering is a list. What the client would see — status, headers,
body bytes, stream events — and what the record says are asserted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from starlette.requests import Request

from demo.world import demo_config
from metering.metrics import Metrics
from router.auth import Gatekeeper
from router.auto_mode import AutoMode
from router.config import Config
from router.errors import ProxyError
from router.response_owners import ResponseOwners
from router.serving.breaker import CircuitBreaker
from router.serving.intake import ModelResolver, deadline_s, parse_body
from router.serving.proxy import Proxy
from router.serving.relay import relay_headers
from router.upstream import FailureKind, UpstreamFailure

HELLO = [{"role": "user", "content": "Say hello."}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def chat_answer(content: str | None = "Hello.", calls: list | None = None, model: str = "gpt-5.4-nano") -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
    return orjson.dumps({"id": "c1", "object": "chat.completion", "model": model, "choices": [choice], "usage": usage})


def sse(*chunks: dict | str) -> bytes:
    return b"".join(b"data: " + (c.encode() if isinstance(c, str) else orjson.dumps(c)) + b"\n\n" for c in chunks)


def delta(content: str) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]}


class FakeUpstream:
    """An upstream answer: status, headers, a body read whole or chunk by chunk."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None, cut: bool = False) -> None:
        self.status = status
        self.headers = headers or {"x-request-id": "req-up", "x-ratelimit-remaining-requests": "9999"}
        self._chunks = [body[i : i + 40] for i in range(0, len(body), 40)] or [b""]
        self._body = body
        self._cut = cut
        self.closed = False

    async def read(self) -> bytes:
        return self._body

    async def read_chunk(self) -> bytes:
        if self._chunks:
            return self._chunks.pop(0)
        if self._cut:
            raise UpstreamFailure(FailureKind.PROTOCOL_ERROR, "cut")
        return b""

    def close(self) -> None:
        self.closed = True


class FakePool:
    """Answers each tier's requests from its script, in order (the last entry repeats)."""

    def __init__(self, script: dict[str, list[FakeUpstream | UpstreamFailure]]) -> None:
        self.script = script
        self.sent: list[tuple[str, str, dict]] = []

    async def send(self, tier: str, path: str, payload: bytes, headers: dict | None = None) -> FakeUpstream:
        self.sent.append((tier, path, orjson.loads(payload)))
        queue = self.script[tier]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, UpstreamFailure):
            raise item
        return item

    def stream(self, tier: str, response: Any) -> None:
        pass

    async def request(self, tier: str, method: str, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
        self.sent.append((tier, f"{method} {path}", {}))
        return 200, b'{"id": "resp_1"}', {"x-request-id": "r"}


class Records:
    accepting = True

    def __init__(self) -> None:
        self.records: list = []

    def __call__(self, record: Any, completion: Any) -> None:
        self.records.append(record)

    def expect(self, request_id: str, key_id: str | None) -> None:
        pass

    def quote(self, record: Any, completion: Any) -> float | None:
        return None


def config(**sections: Any) -> Config:
    data = demo_config("http://127.0.0.1:9").model_dump()
    data["resilience"] = {"max_retries": 1, **sections.pop("resilience", {})}
    data["policy"]["explore"] = {"share": 0}
    data.update(sections)
    return Config.model_validate(data)


def build(script: dict[str, list], cfg: Config | None = None) -> tuple[Proxy, FakePool, Records]:
    cfg = cfg or config()
    pool, records = FakePool(script), Records()
    breakers = {name: CircuitBreaker(**cfg.resilience.breaker.model_dump()) for name in cfg.tiers}
    gate = Gatekeeper(cfg, {}, Metrics())
    proxy = Proxy(cfg, pool, records, breakers, ResponseOwners(60), AutoMode(enabled=False), None, gate)  # type: ignore[arg-type]
    return proxy, pool, records


def request(body: Any, headers: Iterable[tuple[str, str]] = (), path: str = "/v1/chat/completions") -> Request:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)  # the client stays
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers],
        "query_string": b"",
    }
    return Request(scope, receive)


async def respond(response: Any) -> tuple[int, dict[str, str], bytes]:
    """Run a Starlette response as the server would; the status, headers and body the client gets."""
    messages: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)  # the client stays: it never disconnects while the response runs
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    await response({"type": "http", "method": "POST", "path": "/"}, receive, send)
    start = messages[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], headers, body


async def serve(proxy: Proxy, body: Any, api: str = "chat", **kw: Any) -> tuple[int, dict[str, str], bytes]:
    return await respond(await proxy.handle(request(body, **kw), api))


# -- intake -----------------------------------------------------------------------------------


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    with pytest.raises(ProxyError) as caught:
        parse_body(b"[1]")
    assert caught.value.code == "invalid_json"
    with pytest.raises(ProxyError):
        parse_body(b"{nope")
    assert parse_body(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(("header", "seconds"), [(None, 300.0), ("1500", 1.5), ("999999999", 300.0)])
def test_the_client_may_only_shorten_the_deadline(header: str | None, seconds: float) -> None:
    assert deadline_s(300.0, header) == seconds


@pytest.mark.parametrize("header", ["soon", "nan", "0", "-5"])
def test_an_unreadable_deadline_header_is_a_400(header: str) -> None:
    with pytest.raises(ProxyError) as caught:
        deadline_s(300.0, header)
    assert caught.value.code == "invalid_header" and caught.value.param == "x-routetax-deadline-ms"


def test_models_resolve_to_tiers_and_unknown_ones_are_404() -> None:
    from classifier import Decision

    resolver = ModelResolver(config(), AutoMode(enabled=False))
    agentic = Decision("agentic", 0.99, ())
    assert resolver.resolve("auto", agentic) == ("mini", False)
    assert resolver.resolve("auto", Decision("single_turn", 0.99, ())) == ("nano", False)
    assert resolver.resolve("auto", Decision("single_turn", 0.3, ())) == ("mini", False)  # unsure: safer tier
    assert resolver.resolve("gpt-5.4-mini", agentic) == ("mini", True)
    assert resolver.resolve("nano", agentic) == ("nano", True)
    with pytest.raises(ProxyError) as caught:
        resolver.resolve("gpt-9", agentic)
    assert caught.value.status == 404 and caught.value.code == "model_not_found"


async def test_a_body_over_the_limit_is_413_with_the_request_id() -> None:
    proxy, pool, _ = build({"nano": [FakeUpstream(200, chat_answer())]}, config(server={"max_body_bytes": 1024}))
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request({"model": "auto", "messages": HELLO * 60}), "chat")
    assert caught.value.status == 413 and "x-routetax-request-id" in caught.value.headers()
    assert pool.sent == []


# -- answers ------------------------------------------------------------------------------------


async def test_a_json_answer_reaches_the_client_as_the_upstream_s_bytes() -> None:
    answer = chat_answer()
    proxy, pool, records = build({"nano": [FakeUpstream(200, answer)]})
    status, headers, body = await serve(proxy, {"model": "auto", "messages": HELLO, "extra_field": 1})
    assert (status, body) == (200, answer)
    assert headers["x-routetax-tier"] == "nano" and headers["x-routetax-class"] == "single_turn"
    assert headers["x-request-id"] == "req-up" and headers["x-ratelimit-remaining-requests"] == "9999"
    assert "x-should-retry" not in headers
    tier, path, sent = pool.sent[0]
    assert (tier, path, sent["model"], sent["extra_field"]) == ("nano", "/chat/completions", "gpt-5.4-nano", 1)
    [record] = records.records
    assert record.outcome == "success" and record.tier_path == ["nano"] and record.status == 200


async def test_a_failing_tier_is_retried_then_fallen_back_and_the_record_says_so() -> None:
    error = orjson.dumps({"error": {"message": "down", "type": "server_error", "code": None}})
    proxy, pool, records = build(
        {"nano": [FakeUpstream(500, error)], "mini": [FakeUpstream(200, chat_answer(model="gpt-5.4-mini"))]},
        config(resilience={"max_retries": 1, "retry_after_cap_s": 5}),
    )
    status, headers, _ = await serve(
        proxy, {"model": "auto", "messages": HELLO}, headers=[("x-routetax-deadline-ms", "60000")]
    )
    assert status == 200 and headers["x-routetax-tier"] == "mini"
    [record] = records.records
    assert [(a.tier, a.ended_by, a.reason) for a in record.attempts] == [
        ("nano", "retry", "server_error"),
        ("nano", "fallback", "server_error"),
        ("mini", "ok", None),
    ]
    assert (record.retries, record.fallbacks, record.tier_path) == (1, 1, ["nano", "mini"])


async def test_spent_attempts_answer_the_last_error_and_tell_the_client_not_to_retry() -> None:
    error = orjson.dumps({"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}})
    busy = FakeUpstream(429, error, {"retry-after": "120", "x-ratelimit-remaining-requests": "0"})
    proxy, _, records = build({"mini": [busy]})
    status, headers, body = await serve(
        proxy, {"model": "mini", "messages": HELLO}, headers=[("x-routetax-fallback", "off")]
    )
    assert status == 429 and headers["x-should-retry"] == "false" and headers["retry-after"] == "120"
    assert orjson.loads(body)["error"]["code"] == "rate_limit_exceeded"
    [record] = records.records
    assert record.outcome == "failed" and [a.ended_by for a in record.attempts] == ["error"]


async def test_an_upstream_error_is_scrubbed_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTETAX_UNIT_SECRET", "sk-unit-secret-0123456789")
    cfg = config().model_dump()
    cfg["tiers"]["nano"]["api_key_env"] = "ROUTETAX_UNIT_SECRET"
    leak = orjson.dumps(
        {"error": {"message": "bad key sk-unit-secret-0123456789", "type": "x", "code": "invalid_api_key"}}
    )
    proxy, _, _ = build({"nano": [FakeUpstream(403, leak)]}, Config.model_validate(cfg))
    status, _, body = await serve(proxy, {"model": "nano", "messages": HELLO})
    assert status == 403 and b"sk-unit-secret" not in body
    proxy, _, _ = build({"nano": [FakeUpstream(401, leak)]}, Config.model_validate(cfg))
    status, _, body = await serve(proxy, {"model": "nano", "messages": HELLO})  # routetax's own key: said so
    assert status == 502 and b"sk-unit-secret" not in body and b"upstream_credential_error" in body


async def test_a_degraded_answer_is_redone_on_the_next_tier() -> None:
    broken = chat_answer(None, [{"id": "1", "type": "function", "function": {"name": "lookup", "arguments": "{"}}])
    good = chat_answer("done", model="gpt-5.4-mini")
    proxy, _, records = build({"nano": [FakeUpstream(200, broken)], "mini": [FakeUpstream(200, good)]})
    status, headers, body = await serve(proxy, {"model": "nano", "messages": HELLO, "tools": TOOLS})
    assert (status, body, headers["x-routetax-tier"]) == (200, good, "mini")
    [record] = records.records
    assert [(a.tier, a.ended_by, a.reason) for a in record.attempts][0] == ("nano", "redo", "bad_tool_json")


async def test_a_degraded_answer_on_the_last_tier_is_answered_and_marked() -> None:
    empty = chat_answer("")
    proxy, _, records = build({"mini": [FakeUpstream(200, empty)]})
    status, _, body = await serve(proxy, {"model": "mini", "messages": HELLO}, headers=[("x-routetax-fallback", "off")])
    assert (status, body) == (200, empty)
    [record] = records.records
    assert (record.outcome, record.degraded_reason) == ("degraded", "empty")


async def test_a_2xx_that_is_not_json_is_an_upstream_error() -> None:
    page = FakeUpstream(200, b"<html>gateway</html>")
    proxy, _, records = build({"mini": [page]})
    status, headers, body = await serve(
        proxy, {"model": "mini", "messages": HELLO}, headers=[("x-routetax-fallback", "off")]
    )
    assert status == 502 and orjson.loads(body)["error"]["code"] == "upstream_bad_response"
    assert headers["x-should-retry"] == "false"
    assert records.records[0].attempts[0].error_type == "bad_response"


async def test_no_http_answer_is_a_502_naming_the_failure_not_the_host() -> None:
    proxy, _, _ = build({"mini": [UpstreamFailure(FailureKind.CONNECT_ERROR, "10.0.0.7:443 refused")]})
    status, _, body = await serve(proxy, {"model": "mini", "messages": HELLO}, headers=[("x-routetax-fallback", "off")])
    assert status == 502 and b"10.0.0.7" not in body
    assert orjson.loads(body)["error"]["code"] == "upstream_connect_error"


async def test_every_tier_behind_an_open_breaker_is_a_503_with_retry_after() -> None:
    proxy, pool, records = build({"mini": [FakeUpstream(200, chat_answer())]})
    proxy.breakers["mini"].force_open(time.monotonic() + 12)
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request({"model": "mini", "messages": HELLO}, [("x-routetax-fallback", "off")]), "chat")
    assert caught.value.code == "no_tier_available" and caught.value.headers()["retry-after"] in ("12", "11")
    assert "x-should-retry" not in caught.value.headers() and pool.sent == []
    assert records.records[0].skipped_tiers == {"mini": "breaker_open"} and records.records[0].status == 503


# -- streams --------------------------------------------------------------------------------------


async def test_a_stream_is_relayed_event_by_event_and_the_usage_chunk_kept_from_the_client() -> None:
    usage = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    stream = sse(delta("Hel"), delta("lo"), usage, "[DONE]")
    proxy, pool, records = build({"nano": [FakeUpstream(200, stream)]})
    status, headers, body = await serve(proxy, {"model": "auto", "messages": HELLO, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert b"Hel" in body and b"lo" in body and b'"usage"' not in body and body.endswith(b"data: [DONE]\n\n")
    assert pool.sent[0][2]["stream_options"] == {"include_usage": True}  # asked for metering
    [record] = records.records
    assert record.outcome == "success" and record.stream


async def test_a_stream_without_done_gets_one_for_the_sdk() -> None:
    proxy, _, _ = build({"nano": [FakeUpstream(200, sse(delta("Hi")))]})
    _, _, body = await serve(proxy, {"model": "auto", "messages": HELLO, "stream": True})
    assert body.endswith(b"data: [DONE]\n\n")


async def test_a_stream_cut_after_the_first_event_ends_with_an_error_event() -> None:
    proxy, _, records = build({"nano": [FakeUpstream(200, sse(delta("Hi"), delta(" there")), cut=True)]})
    _, _, body = await serve(proxy, {"model": "auto", "messages": HELLO, "stream": True})
    assert b"upstream_stream_broken" in body and body.endswith(b"data: [DONE]\n\n")
    [record] = records.records
    assert record.outcome == "failed" and record.attempts[-1].error_type == "stream_protocol_error"


async def test_a_stream_failing_before_its_first_event_falls_back() -> None:
    error = orjson.dumps({"error": {"message": "down", "type": "server_error", "code": None}})
    proxy, _, _ = build(
        {"nano": [FakeUpstream(503, error)], "mini": [FakeUpstream(200, sse(delta("Hi"), "[DONE]"))]},
        config(resilience={"max_retries": 0}),
    )
    status, headers, body = await serve(proxy, {"model": "auto", "messages": HELLO, "stream": True})
    assert status == 200 and headers["x-routetax-tier"] == "mini" and b"Hi" in body


async def test_a_held_broken_tool_call_stream_is_redone() -> None:
    cfg = config().model_dump()
    cfg["tiers"]["nano"]["hold_tool_calls"] = True
    call = {"index": 0, "id": "t", "type": "function", "function": {"name": "lookup", "arguments": "{"}}
    broken = sse(
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        "[DONE]",
    )
    proxy, _, records = build(
        {"nano": [FakeUpstream(200, broken)], "mini": [FakeUpstream(200, sse(delta("fine"), "[DONE]"))]},
        Config.model_validate(cfg),
    )
    _, headers, body = await serve(proxy, {"model": "nano", "messages": HELLO, "tools": TOOLS, "stream": True})
    assert headers["x-routetax-tier"] == "mini" and b"fine" in body
    assert records.records[0].attempts[0].ended_by == "redo"


# -- the Responses API and embeddings --------------------------------------------------------------


async def test_a_responses_answer_remembers_its_tier_for_continuations() -> None:
    answer = orjson.dumps(
        {"id": "resp_42", "object": "response", "output": [], "usage": {"input_tokens": 3, "output_tokens": 2}}
    )
    proxy, pool, _ = build({"nano": [FakeUpstream(200, answer)]})
    status, _, _ = await serve(proxy, {"model": "nano", "input": "hi"}, api="responses")
    assert status == 200 and pool.sent[0][1] == "/responses"
    status, headers, _ = await serve(
        proxy, {"model": "auto", "input": "more", "previous_response_id": "resp_42"}, api="responses"
    )
    assert headers["x-routetax-tier"] == "nano"
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request({"model": "auto", "input": "x", "previous_response_id": "resp_nope"}), "responses")
    assert caught.value.code == "previous_response_not_found"


async def test_stored_responses_are_reached_at_their_tier() -> None:
    answer = orjson.dumps({"id": "resp_7", "object": "response", "output": []})
    proxy, pool, _ = build({"mini": [FakeUpstream(200, answer)]})
    await serve(proxy, {"model": "mini", "input": "hi"}, api="responses")
    response = await proxy.response_operation(request(b""), "GET", "resp_7")
    assert response.status_code == 200 and pool.sent[-1][:2] == ("mini", "GET /responses/resp_7")
    with pytest.raises(ProxyError):
        await proxy.response_operation(request(b""), "DELETE", "resp_unknown")


def test_a_virtual_key_s_client_never_sees_the_upstream_organisation_s_rate_limits() -> None:
    upstream = {"x-request-id": "r", "x-ratelimit-remaining-requests": "9999", "retry-after": "3", "connection": "x"}
    open_mode: dict[str, str] = {}
    relay_headers(upstream, open_mode, 429)
    assert open_mode == {"x-request-id": "r", "x-ratelimit-remaining-requests": "9999", "retry-after": "3"}
    keyed: dict[str, str] = {}
    relay_headers(upstream, keyed, 200, rate_limits=False)
    assert keyed == {"x-request-id": "r"}


async def test_an_embeddings_request_goes_to_its_tier_as_asked_and_unclassified() -> None:
    vectors = orjson.dumps(
        {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [],
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    )
    proxy, pool, records = build({"nano": [FakeUpstream(200, vectors)]})
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"}
    status, headers, answer = await serve(proxy, body, api="embeddings")
    assert (status, answer) == (200, vectors) and "x-routetax-class" not in headers
    assert pool.sent == [("nano", "/embeddings", body)]  # the client's model and fields, untouched
    [record] = records.records
    assert (record.api, record.label, record.attempts[0].model) == ("embeddings", "embedding", "text-embedding-3-small")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "text-embedding-9", "input": "x"}, "model_not_found"),
        ({"model": "text-embedding-3-small"}, "missing_required_parameter"),
        ({"model": "text-embedding-3-small", "input": []}, "invalid_type"),
        ({"model": "text-embedding-3-small", "input": "x", "stream": True}, "invalid_value"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "invalid_value"),
    ],
)
async def test_embeddings_the_router_cannot_serve_are_refused(body: dict, code: str) -> None:
    proxy, pool, _ = build({"nano": [FakeUpstream(200, b"{}")]})
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request(body, path="/v1/embeddings"), "embeddings")
    assert caught.value.code == code and pool.sent == []


async def test_embeddings_switched_off_are_not_configured() -> None:
    proxy, _, _ = build({"nano": [FakeUpstream(200, b"{}")]}, config(embeddings={"enabled": False}))
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request({"model": "text-embedding-3-small", "input": "x"}), "embeddings")
    assert caught.value.code == "embeddings_not_configured" and caught.value.status == 404


async def test_a_plan_with_no_tier_serving_responses_is_refused() -> None:
    cfg = config().model_dump()
    for tier in cfg["tiers"].values():
        tier["responses"] = False
    proxy, _, _ = build({}, Config.model_validate(cfg))
    with pytest.raises(ProxyError) as caught:
        await proxy.handle(request({"model": "nano", "input": "hi"}), "responses")
    assert caught.value.code == "responses_not_supported"


async def test_a_responses_stream_is_visible_after_response_created_and_its_owner_remembered() -> None:
    created = {"type": "response.created", "response": {"id": "resp_s", "object": "response"}}
    delta_event = {"type": "response.output_text.delta", "delta": "Hi"}
    stream = b"event: response.created\n" + sse(created) + b"event: response.output_text.delta\n" + sse(delta_event)
    proxy, _, _ = build({"mini": [FakeUpstream(200, stream)]})
    status, _, body = await serve(proxy, {"model": "mini", "input": "hi", "stream": True}, api="responses")
    assert status == 200 and b"response.output_text.delta" in body and not body.endswith(b"[DONE]\n\n")
    assert await proxy.responses.owner("resp_s", None) == "mini"


# -- streams checked like JSON answers ---------------------------------------------------------------------


def finish(reason: str = "stop") -> dict:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
    }


EMPTY_STREAM = sse(
    {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": ""}}]},
    finish(),
    "[DONE]",
)


async def test_an_empty_stream_is_redone_before_the_client_sees_a_byte_of_it() -> None:
    proxy, _, records = build(
        {
            "nano": [FakeUpstream(200, EMPTY_STREAM)],
            "mini": [FakeUpstream(200, sse(delta("Hello"), finish(), "[DONE]"))],
        }
    )
    status, headers, body = await serve(proxy, {"model": "nano", "messages": HELLO, "stream": True})
    assert status == 200 and headers["x-routetax-tier"] == "mini" and b"Hello" in body
    assert body.count(b"finish_reason") == 1  # nano's empty answer never reached the client
    [record] = records.records
    assert [(a.tier, a.ended_by, a.reason) for a in record.attempts] == [
        ("nano", "redo", "empty"),
        ("mini", "ok", None),
    ]
    assert record.outcome == "success"


async def test_an_empty_stream_on_the_last_tier_is_relayed_and_marked_degraded() -> None:
    proxy, _, records = build({"mini": [FakeUpstream(200, EMPTY_STREAM)]})
    status, _, body = await serve(
        proxy, {"model": "mini", "messages": HELLO, "stream": True}, headers=[("x-routetax-fallback", "off")]
    )
    assert status == 200 and body.endswith(b"data: [DONE]\n\n")
    [record] = records.records
    assert (record.outcome, record.degraded_reason) == ("degraded", "empty")


async def test_a_tool_call_broken_after_text_was_sent_is_recorded_as_degraded() -> None:
    call = {"index": 0, "id": "t", "type": "function", "function": {"name": "lookup", "arguments": '{"q": '}}
    chunks = [delta(f"step {i} ") for i in range(80)]  # past a fold: the call must outlive it
    broken = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}
    proxy, _, records = build({"nano": [FakeUpstream(200, sse(*chunks, broken, finish("tool_calls"), "[DONE]"))]})
    _, headers, body = await serve(proxy, {"model": "nano", "messages": HELLO, "tools": TOOLS, "stream": True})
    assert headers["x-routetax-tier"] == "nano" and b"step 0" in body  # already sent: relayed as it is
    [record] = records.records
    assert (record.outcome, record.degraded_reason) == ("degraded", "bad_tool_json")


def response_event(kind: str, **data: Any) -> bytes:
    return f"event: {kind}\n".encode() + sse({"type": kind, **data})


def response_stream(text: str, response_id: str = "resp_e") -> bytes:
    item = {"type": "message", "id": "m", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    done = {
        "id": response_id,
        "object": "response",
        "status": "completed",
        "output": [item],
        "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
    }
    return b"".join(
        [
            response_event("response.created", response={"id": response_id, "status": "in_progress", "output": []}),
            response_event("response.output_item.added", output_index=0, item={**item, "content": []}),
            response_event("response.output_text.delta", output_index=0, delta=text),
            response_event("response.completed", response=done),
        ]
    )


async def test_an_empty_responses_stream_is_redone_on_the_next_tier() -> None:
    proxy, _, records = build(
        {"nano": [FakeUpstream(200, response_stream(""))], "mini": [FakeUpstream(200, response_stream("Hi", "resp_m"))]}
    )
    status, headers, body = await serve(proxy, {"model": "nano", "input": "hi", "stream": True}, api="responses")
    assert status == 200 and headers["x-routetax-tier"] == "mini"
    assert b"resp_e" not in body and b'"delta":"Hi"' in body
    assert records.records[0].attempts[0].ended_by == "redo"


async def test_an_empty_responses_json_answer_is_redone_like_a_chat_one() -> None:
    empty = orjson.dumps({"id": "r", "object": "response", "status": "completed", "output": []})
    good = orjson.dumps(
        {
            "id": "r2",
            "object": "response",
            "status": "completed",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
        }
    )
    proxy, _, records = build({"nano": [FakeUpstream(200, empty)], "mini": [FakeUpstream(200, good)]})
    status, headers, body = await serve(proxy, {"model": "nano", "input": "hi"}, api="responses")
    assert (status, body, headers["x-routetax-tier"]) == (200, good, "mini")
    assert records.records[0].attempts[0].reason == "empty"


async def test_a_client_that_leaves_mid_body_gets_no_500_and_leaves_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fastapi import FastAPI

    from router.boundary import Boundary
    from router.hot_routes import HotRoutes

    proxy, _, records = build({})
    metrics = Metrics()
    routes = HotRoutes(FastAPI(), proxy, Boundary(metrics))
    parts = [
        {"type": "http.request", "body": b'{"model": "nano", "mess', "more_body": True},
        {"type": "http.disconnect"},  # the client is gone before the rest of its body
    ]

    async def receive() -> dict:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
        "query_string": b"",
    }
    caplog.set_level(logging.INFO)
    await routes(scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [499])
    counted = metrics.registry.get_sample_value(
        "routetax_rejections_total", {"status": "500", "reason": "internal_error"}
    )
    assert not counted and records.records == []  # not admitted: nothing was asked upstream, nothing to meter
