"""Unit tests of the upstream HTTP client code against a scriptable upstream on loopback.

What exactly goes upstream (body, key, headers) and how each kind of answer comes back.
The upstream here is a real HTTP server that records what it receives and answers what
the test tells it to, so the upstream client is exercised exactly as in production.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from router.config import Config
from router.dialects import DIALECTS
from router.servers import RunningServer, bind_socket
from router.upstream import UpstreamFailure, UpstreamPool
from tests.running import Servers
from tests.test_dialects import TGI_OVERFLOW, tgi_dialect

OK = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-5.4-nano-2026-03-17",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    "x_upstream_extra": [1, 2],
}
HI = {"model": "nano", "messages": [{"role": "user", "content": "x"}]}


@dataclass
class Scripted:
    """What the fake upstream answers next, and what it has received."""

    status: int = 200
    body: bytes = orjson.dumps(OK)
    content_type: str = "application/json"
    delay_s: float = 0.0
    abort: bool = False
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


class _Abort(Exception):
    pass


def recording_upstream(scripted: Scripted) -> Starlette:
    async def chat(request: Request) -> Response:
        scripted.received.append((await request.body(), dict(request.headers)))
        if scripted.delay_s:
            await asyncio.sleep(scripted.delay_s)  # a slow upstream is the behaviour scripted here
        if scripted.abort:

            async def cut():
                yield scripted.body[:5]
                raise _Abort()

            return StreamingResponse(cut(), media_type=scripted.content_type)
        return Response(scripted.body, status_code=scripted.status, media_type=scripted.content_type)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def upstream(scripted: Scripted, serve_in_thread: Servers) -> RunningServer:
    return serve_in_thread(recording_upstream(scripted), name="recording-upstream")


def config(base_url: str, read_timeout: float = 5.0) -> Config:
    tier = {
        "base_url": f"{base_url}/v1",
        "api_key_env": "ROUTETAX_TEST_UPSTREAM_KEY",
        "timeouts": {"connect": 1.0, "read": read_timeout},
    }
    return Config.model_validate(
        {"tiers": {"nano": {"model": "gpt-5.4-nano", **tier}, "mini": {"model": "gpt-5.4-mini", **tier}}}
    )


@pytest.fixture
def proxy(upstream: RunningServer, start_proxy, monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    monkeypatch.setenv("ROUTETAX_TEST_UPSTREAM_KEY", "sk-upstream-secret")
    return start_proxy(config(upstream.url, read_timeout=0.5))


def post(proxy: RunningServer, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/chat/completions", json=body, timeout=10, **kwargs)


def test_body_is_forwarded_as_received_except_model(proxy: RunningServer, scripted: Scripted) -> None:
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "hi"}],
        "x_unknown": {"deep": [1, None]},
        "temperature": 0.3,
        "metadata": {"team": "search"},
    }
    response = post(proxy, body)
    assert response.status_code == 200
    [(sent, _headers)] = scripted.received
    assert orjson.loads(sent) == {**body, "model": "gpt-5.4-nano"}
    assert response.content == orjson.dumps(OK)  # the upstream's bytes, unknown fields and served model intact


def test_upstream_key_is_sent_and_client_headers_are_not(proxy: RunningServer, scripted: Scripted) -> None:
    post(proxy, HI, headers={"authorization": "Bearer client-virtual-key", "x-client-secret": "s3"})
    [(_sent, headers)] = scripted.received
    assert headers["authorization"] == "Bearer sk-upstream-secret"
    assert "client-virtual-key" not in str(headers) and "x-client-secret" not in headers


def test_stream_asks_upstream_for_usage_and_keeps_client_options(proxy: RunningServer, scripted: Scripted) -> None:
    scripted.body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n'
    )
    scripted.content_type = "text/event-stream"
    response = post(proxy, {**HI, "stream": True, "stream_options": {"include_obfuscation": False}})
    [(sent, _)] = scripted.received
    assert orjson.loads(sent)["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert b'"usage"' not in response.content  # hidden: the client did not ask for it
    assert response.content.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("upstream_body", "message"),
    [
        ({"error": "model 'qwen3.5:9b' not found"}, "model 'qwen3.5:9b' not found"),  # Ollama
        ({"object": "error", "message": "bad", "type": "BadRequestError", "param": None, "code": 400}, "bad"),  # vLLM
        ({"error": {"message": "bad", "type": "BadRequestError", "param": None, "code": 400}}, "bad"),  # vLLM
    ],
)
def test_dialect_errors_are_normalised_with_status_kept(
    proxy: RunningServer, scripted: Scripted, upstream_body: dict, message: str
) -> None:
    scripted.status, scripted.body = 404, orjson.dumps(upstream_body)
    response = post(proxy, HI)
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] == message and error["code"] is None
    assert error["type"] == "invalid_request_error"


def test_each_tier_reads_its_errors_with_its_own_dialect(
    upstream: RunningServer, scripted: Scripted, start_proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DIALECTS, "tgi", tgi_dialect())  # a dialect added by registering its module
    tiers = config(upstream.url).model_dump()["tiers"]
    tiers["nano"]["dialect"] = "tgi"
    proxy = start_proxy(Config.model_validate({"tiers": tiers}))
    scripted.status, scripted.body = 422, TGI_OVERFLOW
    for model, code in (("nano", "context_length_exceeded"), ("mini", None)):  # mini: the default openai dialect
        response = post(proxy, {**HI, "model": model}, headers={"x-routetax-fallback": "off"})
        assert response.status_code == 422 and response.json()["error"]["code"] == code
        assert response.headers["x-routetax-tier"] == model


def test_html_error_page_becomes_an_openai_error(proxy: RunningServer, scripted: Scripted) -> None:
    scripted.status, scripted.body, scripted.content_type = 502, b"<html>Bad Gateway</html>", "text/html"
    response = post(proxy, HI)
    assert response.status_code == 502
    assert response.json()["error"] == {
        "message": "<html>Bad Gateway</html>",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_openai_error_body_passes_through_byte_for_byte(proxy: RunningServer, scripted: Scripted) -> None:
    raw = b'{"error": {"message": "Rate limit", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}'
    scripted.status, scripted.body = 429, raw
    response = post(proxy, HI)
    assert response.status_code == 429 and response.content == raw


def test_upstream_slower_than_the_read_timeout_is_a_504(proxy: RunningServer, scripted: Scripted) -> None:
    scripted.delay_s = 1.5  # the tier's read timeout is 0.5 s
    response = post(proxy, HI)
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"


def test_upstream_cutting_its_answer_is_a_502(proxy: RunningServer, scripted: Scripted) -> None:
    scripted.abort = True
    response = post(proxy, HI)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_protocol_error"


async def test_pool_reports_each_failure_kind(upstream: RunningServer, scripted: Scripted) -> None:
    dead = bind_socket()
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    pool = UpstreamPool(config(dead_url).tiers)
    await pool.start()
    with pytest.raises(UpstreamFailure) as caught:
        await pool.send("nano", "/chat/completions", b"{}")
    assert caught.value.kind == "connect_error"
    assert await pool.probe("nano") is False
    await pool.aclose()

    pool = UpstreamPool(config(upstream.url, read_timeout=0.2).tiers)
    await pool.start()
    scripted.delay_s = 1.0
    with pytest.raises(UpstreamFailure) as caught:
        await pool.send("nano", "/chat/completions", b"{}")
    assert caught.value.kind == "timeout"
    await pool.aclose()
