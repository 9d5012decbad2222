"""Unit tests of the HTTP client code with respx: what exactly goes upstream, and what comes back."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx
from starlette.testclient import TestClient

from router.app import create_app
from router.config import Config
from router.upstream import UpstreamFailure, UpstreamPool

UPSTREAM = "http://upstream.test/v1"
OK = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-5.4-nano-2026-03-17",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}, "x_upstream_extra": [1, 2],
}


def config() -> Config:
    tier = {"base_url": UPSTREAM, "api_key_env": "ROUTETAX_TEST_UPSTREAM_KEY"}
    return Config.model_validate({"tiers": {"nano": {"model": "gpt-5.4-nano", **tier},
                                            "mini": {"model": "gpt-5.4-mini", **tier}}})


@pytest.fixture
def app_client(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTETAX_TEST_UPSTREAM_KEY", "sk-upstream-secret")
    with TestClient(create_app(config())) as test_client:
        yield test_client


@respx.mock
def test_body_is_forwarded_as_received_except_model(app_client: TestClient) -> None:
    route = respx.post(f"{UPSTREAM}/chat/completions").mock(return_value=httpx.Response(200, json=OK))
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "x_unknown": {"deep": [1, None]},
            "temperature": 0.3, "metadata": {"team": "search"}}
    response = app_client.post("/v1/chat/completions", json=body,
                               headers={"authorization": "Bearer client-virtual-key"})
    assert response.status_code == 200
    sent = orjson.loads(route.calls.last.request.content)
    assert sent == {**body, "model": "gpt-5.4-nano"}
    assert response.json() == OK  # the upstream's answer, unknown fields and the served model intact


@respx.mock
def test_upstream_key_is_sent_and_client_authorization_is_not(app_client: TestClient) -> None:
    route = respx.post(f"{UPSTREAM}/chat/completions").mock(return_value=httpx.Response(200, json=OK))
    app_client.post("/v1/chat/completions", json={"model": "nano", "messages": [{"role": "user", "content": "x"}]},
                    headers={"authorization": "Bearer client-virtual-key"})
    sent = route.calls.last.request.headers
    assert sent["authorization"] == "Bearer sk-upstream-secret"
    assert "client-virtual-key" not in str(route.calls.last.request.headers.raw)


@respx.mock
def test_stream_asks_upstream_for_usage_and_keeps_client_options(app_client: TestClient) -> None:
    sse = (b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
           b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n')
    route = respx.post(f"{UPSTREAM}/chat/completions").mock(
        return_value=httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"}))
    response = app_client.post("/v1/chat/completions", json={
        "model": "nano", "messages": [{"role": "user", "content": "x"}], "stream": True,
        "stream_options": {"include_obfuscation": False}})
    sent = orjson.loads(route.calls.last.request.content)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert b'"usage"' not in response.content  # hidden: the client did not ask for it
    assert response.content.endswith(b"data: [DONE]\n\n")


@respx.mock
@pytest.mark.parametrize(
    ("upstream_body", "message"),
    [
        ({"error": "model 'qwen3.5:9b' not found"}, "model 'qwen3.5:9b' not found"),  # Ollama
        ({"object": "error", "message": "bad", "type": "BadRequestError", "param": None, "code": 400}, "bad"),  # vLLM
        ({"error": {"message": "bad", "type": "BadRequestError", "param": None, "code": 400}}, "bad"),  # vLLM
    ],
)
def test_dialect_errors_are_normalised_with_status_kept(app_client: TestClient, upstream_body: dict,
                                                        message: str) -> None:
    respx.post(f"{UPSTREAM}/chat/completions").mock(return_value=httpx.Response(404, json=upstream_body))
    response = app_client.post("/v1/chat/completions", json={"model": "nano", "messages": [{"role": "user",
                                                                                             "content": "x"}]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] == message and error["code"] is None
    assert error["type"] == "invalid_request_error"


@respx.mock
def test_openai_error_body_passes_through_byte_for_byte(app_client: TestClient) -> None:
    raw = b'{"error": {"message": "Rate limit", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}'
    respx.post(f"{UPSTREAM}/chat/completions").mock(return_value=httpx.Response(429, content=raw))
    response = app_client.post("/v1/chat/completions", json={"model": "nano", "messages": [{"role": "user",
                                                                                             "content": "x"}]})
    assert response.status_code == 429 and response.content == raw


@respx.mock
async def test_connect_error_and_timeout_become_upstream_failures() -> None:
    pool = UpstreamPool(config().tiers)
    respx.post(f"{UPSTREAM}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamFailure) as caught:
        await pool.send("nano", "/chat/completions", b"{}")
    assert caught.value.kind == "connect_error"
    respx.post(f"{UPSTREAM}/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamFailure) as caught:
        await pool.send("nano", "/chat/completions", b"{}")
    assert caught.value.kind == "timeout"
    await pool.aclose()


@respx.mock
def test_upstream_timeout_is_a_504(app_client: TestClient) -> None:
    respx.post(f"{UPSTREAM}/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    response = app_client.post("/v1/chat/completions", json={"model": "nano", "messages": [{"role": "user",
                                                                                             "content": "x"}]})
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
