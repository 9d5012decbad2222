"""The relay's fast path to the client: routetax's uvicorn protocol gives every request its `ClientTransport`.

If a uvicorn upgrade changed what `router.client_transport` relies on, streams would silently fall back to
ASGI `send` (slower, still correct): these tests run uvicorn's real protocol — the class `routetax serve`
uses — so that change fails here instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config as UvicornConfig
from uvicorn.server import ServerState

from demo.world import demo_config
from metering.metrics import Metrics
from router.app import create_app
from router.boundary import Boundary
from router.client_transport import EXTENSION, ClientTransport, ExposesClientTransport, client_transport
from router.config import Server
from router.http_limits import guarded_protocol
from router.json_response import JsonAnswer
from router.stream_response import AsgiSink, RelayResponse, Sink
from tests.in_process import FakeTransport

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"


async def serve_one(app: Any) -> bytes:
    """One request through the protocol class `routetax serve` runs (router.app sets it as `http=`)."""
    wire = FakeTransport()
    protocol_class = guarded_protocol(Server(), Boundary(Metrics()))
    protocol = protocol_class(UvicornConfig(app=app), ServerState(), {}, _loop=asyncio.get_running_loop())
    protocol.connection_made(wire)
    protocol.data_received(REQUEST)
    await asyncio.gather(*protocol.tasks)
    return bytes(wire.written)


def events(count: int):
    async def produce(sink: Sink) -> None:
        sinks.append(sink)
        for i in range(count):
            sink.write(b"data: %d\n\n" % i)
            if sink.paused:
                await sink.drain()

    sinks: list[Sink] = []
    return produce, sinks


async def test_a_stream_under_routetax_serve_is_written_to_the_clients_transport_framed_as_uvicorn_frames_it() -> None:
    produce, sinks = events(3)
    written = await serve_one(RelayResponse(produce, media_type="text/event-stream"))
    assert isinstance(sinks[0], ClientTransport)  # the fast path, not ASGI send
    head, _, body = written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in head
    assert body == b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"


async def test_the_same_stream_through_asgi_send_is_the_same_bytes() -> None:
    produce, sinks = events(3)
    response = RelayResponse(produce, media_type="text/event-stream")

    async def without_extension(scope: dict, receive: Any, send: Any) -> None:
        scope["extensions"].pop(EXTENSION)  # as under another ASGI server
        await response(scope, receive, send)

    written = await serve_one(without_extension)
    assert isinstance(sinks[0], AsgiSink)
    assert written.partition(b"\r\n\r\n")[2] == b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"


async def test_no_fast_path_before_the_response_started_or_without_chunked_framing() -> None:
    seen: list[Any] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        seen.append(client_transport(scope))  # nothing started yet: no framing decided
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        seen.append(client_transport(scope))  # a sized body is uvicorn's to count
        await send({"type": "http.response.body", "body": b"{}"})

    assert (await serve_one(app)).endswith(b"\r\n\r\n{}")
    assert seen == [None, None]


def test_routetax_serves_with_the_protocol_that_exposes_the_client_transport() -> None:
    app = create_app(demo_config("http://127.0.0.1:9"))
    assert issubclass(app.http_protocol, ExposesClientTransport)  # what cli/serve.py passes uvicorn as `http=`


@pytest.mark.parametrize("kind", ["stream", "json"])
async def test_a_sent_response_lets_go_of_the_client_transport_so_the_request_is_freed_without_the_collector(
    kind: str,
) -> None:
    """The transport refers to uvicorn's cycle, which refers to the scope holding the transport: kept past the
    response, every request's cycle, scope and transport waited for a young collection (~16 objects a request)."""
    produce, _ = events(2)

    async def after() -> None:
        pass

    response = (
        RelayResponse(produce, media_type="text/event-stream")
        if kind == "stream"
        else JsonAnswer(b"{}", 200, {}, after)
    )
    scopes: list[dict] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        scopes.append(scope)
        assert isinstance(scope["extensions"][EXTENSION], ClientTransport)  # set for the response to use
        await response(scope, receive, send)

    written = await serve_one(app)
    assert written.startswith(b"HTTP/1.1 200 OK")
    assert EXTENSION not in scopes[0]["extensions"]
