"""The refusal path in process: `router.errors` (the closed set and its headers), `router.boundary` (the one
place that counts and answers), `router.hot_routes` (the proxy's own entry) and `router.http_limits` (the
protocol's 431, 408 and 400), each driven without a network: fakes stand in for the app, the proxy, the
transport and the event loop's timer."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from uvicorn.config import Config as UvicornConfig
from uvicorn.server import ServerState

from metering.metrics import Metrics
from router.boundary import INTERNAL_ERROR_MESSAGE, Boundary, refusal_for
from router.config import Server
from router.errors import (
    SHOULD_RETRY_HEADER,
    ProxyError,
    Refusal,
    error_body,
    error_code_of,
    error_type_for,
)
from router.hot_routes import HotRoutes
from router.http_limits import GuardedHttpTools, guarded_protocol
from router.secrets import Scrubber
from tests.in_process import FakeTransport


def rejections(metrics: Metrics, status: int, code: str) -> float:
    value = metrics.registry.get_sample_value("routetax_rejections_total", {"status": str(status), "reason": code})
    return value or 0.0


def error_of(response: Response | httpx.Response) -> dict[str, Any]:
    return orjson.loads(response.body if isinstance(response, Response) else response.content)["error"]


# -- router.errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (429, "rate_limit_error"),
        (418, "invalid_request_error"),
        (503, "server_error"),
    ],
)
def test_an_error_type_follows_its_status_as_openai_names_it(status: int, expected: str) -> None:
    assert error_type_for(status) == expected


def test_every_refusal_has_a_unique_code_an_error_status_and_an_openai_type() -> None:
    codes = [refusal.code for refusal in Refusal]
    assert len(codes) == len(set(codes))
    for refusal in Refusal:
        assert 400 <= refusal.status < 600 and isinstance(refusal.final, bool)
        assert refusal.error_type == error_type_for(refusal.status)
    assert Refusal.RATE_LIMIT_EXCEEDED.final is False and Refusal.BUDGET_EXCEEDED.final is True


def test_a_final_refusal_tells_the_sdk_not_to_retry_and_a_passing_one_says_when_to() -> None:
    final = ProxyError(Refusal.MODEL_NOT_FOUND, "no such model", param="model")
    assert (final.status, final.code) == (404, "model_not_found")
    assert final.headers() == {SHOULD_RETRY_HEADER: "false"}
    passing = ProxyError(Refusal.RATE_LIMIT_EXCEEDED, "slow down", retry_after_s=2.2)
    passing.context["x-routetax-request-id"] = "abc"
    assert passing.headers() == {"x-routetax-request-id": "abc", "retry-after": "3"}
    assert ProxyError(Refusal.KEY_STORE_UNAVAILABLE, "down", retry_after_s=0.01).headers()["retry-after"] == "1"


def test_a_refusal_answers_in_openais_shape_with_its_headers() -> None:
    response = ProxyError(Refusal.INVALID_VALUE, "window must be 1h", param="window").response()
    assert response.status_code == 400 and response.media_type == "application/json"
    assert error_of(response) == {
        "message": "window must be 1h",
        "type": "invalid_request_error",
        "param": "window",
        "code": "invalid_value",
    }
    assert response.headers[SHOULD_RETRY_HEADER] == "false"


def test_an_error_body_names_its_type_explicitly_when_asked() -> None:
    body = orjson.loads(error_body("gone", status=500, type_="insufficient_quota"))
    assert body == {"error": {"message": "gone", "type": "insufficient_quota", "param": None, "code": None}}


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b'{"error": {"code": "x"}}', "x"), (b'{"error": {"code": 7}}', None), (b"not json", None), (b"[1]", None)],
)
def test_the_code_of_an_error_body_is_read_or_none(raw: bytes, code: str | None) -> None:
    assert error_code_of(raw) == code


def test_key_material_is_scrubbed_and_a_clean_body_is_returned_as_it_was() -> None:
    scrub = Scrubber(["sk-configured-secret-1", ""])
    dirty = b'{"error": {"message": "bad key sk-configured-secret-1, Bearer abc.def and rt-0123456789abcdef0"}}'
    assert scrub(dirty) == b'{"error": {"message": "bad key [redacted], [redacted] and [redacted]"}}'
    clean = b'{"error": {"message": "a risk-free answer"}}'
    assert scrub(clean) is clean or scrub(clean) == clean


def test_the_readmes_refusal_table_is_the_enum() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \|", readme, re.M)
    assert rows == [(refusal.code, str(refusal.status), "yes" if refusal.final else "no") for refusal in Refusal]


# -- router.boundary -----------------------------------------------------------------------------------------


def test_a_refusal_is_counted_once_and_answered_with_its_own_headers() -> None:
    metrics = Metrics()
    refused = ProxyError(Refusal.RATE_LIMIT_EXCEEDED, "slow down", retry_after_s=1)
    response = Boundary(metrics).answer(refused)
    assert response.status_code == 429 and error_of(response)["code"] == "rate_limit_exceeded"
    assert response.headers["retry-after"] == "1" and SHOULD_RETRY_HEADER not in response.headers
    assert rejections(metrics, 429, "rate_limit_exceeded") == 1


@pytest.mark.parametrize(
    ("exc", "refusal", "headers"),
    [
        (HTTPException(404), Refusal.UNKNOWN_URL, {}),
        (HTTPException(405, headers={"Allow": "POST"}), Refusal.METHOD_NOT_ALLOWED, {"allow": "POST"}),
        (HTTPException(400, "Bad multipart"), Refusal.INVALID_REQUEST, {}),
    ],
)
def test_starlettes_routing_errors_become_refusals_and_keep_their_headers(
    exc: HTTPException, refusal: Refusal, headers: dict[str, str]
) -> None:
    metrics = Metrics()
    response = Boundary(metrics).answer(exc)
    assert response.status_code == refusal.status and error_of(response)["code"] == refusal.code
    assert headers.items() <= dict(response.headers).items()
    assert rejections(metrics, refusal.status, refusal.code) == 1


def test_a_validation_error_names_the_parameter_it_is_about() -> None:
    error = {"type": "int_parsing", "loc": ("query", "count"), "msg": "not an integer", "input": "many"}
    refused = refusal_for(RequestValidationError([error]))
    assert refused.refusal is Refusal.INVALID_REQUEST and refused.param == "count"
    assert "not an integer" in refused.message
    assert refusal_for(RequestValidationError([])).param is None


def test_a_bug_is_logged_with_its_traceback_and_answered_as_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        bug = exc
    with caplog.at_level(logging.ERROR, logger="routetax"):
        response = Boundary(metrics).answer(bug)
    assert response.status_code == 500
    assert error_of(response) == {
        "message": INTERNAL_ERROR_MESSAGE,
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert SHOULD_RETRY_HEADER not in response.headers  # a 500 may pass on a retry
    assert caplog.records[-1].exc_info is not None and "a bug" in caplog.text
    assert rejections(metrics, 500, "internal_error") == 1


def test_the_protocols_answer_is_whole_http_with_the_refusals_headers_and_closes() -> None:
    metrics = Metrics()
    raw = Boundary(metrics).raw(ProxyError(Refusal.HEADERS_TOO_LARGE, "too many"))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers == {
        "content-type": "application/json",
        "content-length": str(len(body)),
        SHOULD_RETRY_HEADER: "false",
        "connection": "close",
    }
    assert orjson.loads(body)["error"]["code"] == "headers_too_large"
    assert rejections(metrics, 431, "headers_too_large") == 1


def asgi_get(app: Any, method: str, path: str) -> httpx.Response:
    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://routetax") as client:
            return await client.request(method, path)

    return asyncio.run(ask())


def test_an_installed_boundary_answers_everything_fastapi_raises() -> None:
    metrics = Metrics()
    app = FastAPI()
    Boundary(metrics).install(app)

    @app.get("/refuse")
    async def refuse() -> None:
        raise ProxyError(Refusal.INVALID_VALUE, "no")

    @app.get("/typed")
    async def typed(count: int) -> dict[str, int]:
        return {"count": count}

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    answers = {
        Refusal.INVALID_VALUE: asgi_get(app, "GET", "/refuse"),
        Refusal.INVALID_REQUEST: asgi_get(app, "GET", "/typed?count=many"),
        Refusal.UNKNOWN_URL: asgi_get(app, "GET", "/nope"),
        Refusal.METHOD_NOT_ALLOWED: asgi_get(app, "POST", "/refuse"),
        Refusal.INTERNAL_ERROR: asgi_get(app, "GET", "/bug"),
    }
    for refusal, answered in answers.items():
        assert answered.status_code == refusal.status and error_of(answered)["code"] == refusal.code
        assert rejections(metrics, refusal.status, refusal.code) == 1
    assert answers[Refusal.METHOD_NOT_ALLOWED].headers["allow"] == "GET"


# -- router.hot_routes ---------------------------------------------------------------------------------------


class FakeProxy:
    """Answers a hot route with what it is told: a response, or an exception to raise."""

    def __init__(self, outcome: Response | BaseException) -> None:
        self.outcome = outcome
        self.asked: list[str] = []

    async def handle(self, request: Request, api: str) -> Response:
        self.asked.append(api)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def hot_routes(outcome: Response | BaseException) -> tuple[HotRoutes, FakeProxy, Metrics]:
    app = FastAPI()
    app.state.marker = "fastapi"

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    metrics, proxy = Metrics(), FakeProxy(outcome)
    return HotRoutes(app, proxy, Boundary(metrics)), proxy, metrics  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "api"), [("/v1/chat/completions", "chat"), ("/v1/responses", "responses")])
def test_a_hot_route_goes_straight_to_the_proxy(path: str, api: str) -> None:
    routes, proxy, _ = hot_routes(Response(b"{}", media_type="application/json"))
    assert asgi_get(routes, "POST", path).status_code == 200
    assert proxy.asked == [api]


def test_everything_else_goes_to_fastapi_and_attributes_reach_it() -> None:
    routes, proxy, _ = hot_routes(RuntimeError("not called"))
    assert asgi_get(routes, "GET", "/healthz").json() == {"status": "ok"}
    assert asgi_get(routes, "GET", "/v1/chat/completions").status_code == 404  # not POST: this bare FastAPI decides
    assert proxy.asked == [] and routes.state.marker == "fastapi"


@pytest.mark.parametrize(
    ("raised", "refusal"),
    [(ProxyError(Refusal.MODEL_NOT_FOUND, "no"), Refusal.MODEL_NOT_FOUND), (KeyError("bug"), Refusal.INTERNAL_ERROR)],
)
def test_a_hot_routes_failure_is_answered_and_counted_by_the_boundary(raised: Exception, refusal: Refusal) -> None:
    routes, _, metrics = hot_routes(raised)
    answered = asgi_get(routes, "POST", "/v1/chat/completions")
    assert answered.status_code == refusal.status and error_of(answered)["code"] == refusal.code
    assert rejections(metrics, refusal.status, refusal.code) == 1


# -- router.http_limits --------------------------------------------------------------------------------------


class FakeTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTask:
    def add_done_callback(self, _callback: Callable[[Any], None]) -> None: ...


class FakeLoop:
    """Timers that fire when the test says so; tasks (a complete request's app call) are only recorded."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, FakeTimer]] = []
        self.tasks = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        self.timers.append((delay, timer))
        return timer

    def create_task(self, coro: Any, **_: object) -> FakeTask:
        coro.close()
        self.tasks += 1
        return FakeTask()


async def no_app(scope: Any, receive: Any, send: Any) -> None: ...


def connection(
    **limits: Any,
) -> tuple[GuardedHttpTools, FakeTransport, FakeLoop, Metrics]:
    metrics, loop, transport = Metrics(), FakeLoop(), FakeTransport()
    protocol_class = guarded_protocol(Server(**limits), Boundary(metrics))
    protocol = protocol_class(UvicornConfig(app=no_app), ServerState(), {}, _loop=loop)
    protocol.connection_made(transport)
    return protocol, transport, loop, metrics


def answer_of(transport: FakeTransport) -> tuple[int, dict[str, Any]]:
    head, _, body = transport.written.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)["error"]


def test_the_protocol_class_carries_the_configured_limits() -> None:
    protocol, _, loop, _ = connection(max_header_bytes=2048, max_headers=8, header_timeout_s=2.5)
    assert (protocol.max_header_bytes, protocol.max_headers) == (2048, 8)
    assert [delay for delay, _ in loop.timers] == [2.5]


def test_too_many_headers_are_refused_431_counted_and_the_connection_closed() -> None:
    protocol, transport, _, metrics = connection(max_headers=8)
    protocol.data_received(b"GET / HTTP/1.1\r\n" + b"x-h: v\r\n" * 9 + b"\r\n")
    status, error = answer_of(transport)
    assert status == 431 and error["code"] == "headers_too_large" and transport.closed
    assert rejections(metrics, 431, "headers_too_large") == 1
    assert transport.written.count(b"HTTP/1.1") == 1  # the parser's own complaint about the stop is not answered


def test_too_large_headers_are_refused_431() -> None:
    protocol, transport, _, metrics = connection(max_header_bytes=1024)
    protocol.data_received(b"GET / HTTP/1.1\r\nx-big: " + b"a" * 2000 + b"\r\n\r\n")
    assert answer_of(transport)[0] == 431 and rejections(metrics, 431, "headers_too_large") == 1


def test_headers_not_complete_in_time_are_refused_408_once() -> None:
    protocol, transport, loop, metrics = connection(header_timeout_s=1.0)
    protocol.data_received(b"GET / HTTP/1.1\r\nx-partial: still typ")
    loop.timers[0][1].callback()
    status, error = answer_of(transport)
    assert status == 408 and error["code"] == "header_timeout" and transport.closed
    assert b"x-should-retry" not in transport.written  # a slow network may do better next time
    protocol.send_400_response("Invalid HTTP request received.")  # whatever follows on the closed connection
    assert rejections(metrics, 408, "header_timeout") == 1 and rejections(metrics, 400, "invalid_http") == 0


def test_a_request_that_is_not_http_is_refused_in_openais_shape() -> None:
    protocol, transport, _, metrics = connection()
    protocol.data_received(b"\x16\x03\x01 not http\r\n\r\n")
    status, error = answer_of(transport)
    assert status == 400 and error["code"] == "invalid_http" and transport.closed
    assert rejections(metrics, 400, "invalid_http") == 1


def header_clocks(loop: FakeLoop) -> list[FakeTimer]:
    return [timer for delay, timer in loop.timers if delay == Server().header_timeout_s]


def test_complete_headers_stop_the_clock_and_a_kept_alive_request_restarts_it() -> None:
    protocol, transport, loop, _ = connection()
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert header_clocks(loop)[0].cancelled and loop.tasks == 1 and transport.written == b""
    protocol.on_message_begin()  # the next request on the same connection
    assert len(header_clocks(loop)) == 2 and not header_clocks(loop)[1].cancelled
    protocol.on_message_begin()  # still waiting for that one: the same clock runs on
    assert len(header_clocks(loop)) == 2
    protocol.connection_lost(None)
    assert header_clocks(loop)[1].cancelled


def test_a_body_not_complete_in_time_is_refused_408_and_a_complete_one_stops_its_clock() -> None:
    protocol, transport, loop, metrics = connection(body_timeout_s=5.0)
    protocol.data_received(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n{}")
    body_clock = [timer for delay, timer in loop.timers if delay == 5.0]
    assert len(body_clock) == 1 and not body_clock[0].cancelled  # two bytes of four: still waiting
    protocol.data_received(b"{}")
    assert body_clock[0].cancelled and transport.written == b""  # complete: nothing refused

    protocol, transport, loop, metrics = connection(body_timeout_s=5.0)
    protocol.data_received(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")  # the rest trickles
    [timer for delay, timer in loop.timers if delay == 5.0][0].callback()
    status, error = answer_of(transport)
    assert status == 408 and error["code"] == "body_timeout" and transport.closed
    assert rejections(metrics, 408, "body_timeout") == 1
