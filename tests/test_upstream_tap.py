"""The upstream tap (router/upstream_tap.py) against a real HTTP upstream, on asyncio's loop and on uvloop.

The tap takes the rest of a streamed body from the connection's parser (router/upstream_wire.py), so its own
risks are about that connection: it must go back to the pool able to serve the next request (JSON or stream,
on the same keep-alive connection), decoding (gzip) must still happen under it, a client that stops reading
must stop the upstream's reading (nothing lost, the stream completes), and a connection broken mid-body must
still read as an `UpstreamFailure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from router.config import Tier
from router.stream_response import AsgiSink
from router.upstream import FailureKind, UpstreamFailure, UpstreamPool
from router.upstream_tap import BodyTap, pump

EVENTS = 300


def event(i: int, pad: int = 0) -> bytes:
    return b'data: {"choices":[{"delta":{"content":"tok %d%b"}}]}\n\n' % (i, b"x" * pad)


def upstream_app(ports: list[int], gate: threading.Event | None = None) -> Starlette:
    """/stream: EVENTS events (`?events=N`: N; `?gzip=1`: gzip-encoded, flushed per event; `?pad=N`: N more bytes
    each; `?cut=1`: the connection dropped half way); /json: a JSON answer. Every request's client port is kept.
    `gate`: a stream holds its rest after the first event until the test sets (then clears) it, so the body is
    still arriving when the relay looks, however late a loaded machine lets it read."""

    async def stream(request: Request) -> StreamingResponse:
        assert request.client is not None
        ports.append(request.client.port)
        gzip, pad, cut = (request.query_params.get(name) for name in ("gzip", "pad", "cut"))
        count = int(request.query_params.get("events", EVENTS))
        compressor = zlib.compressobj(wbits=31) if gzip else None

        async def body():
            for i in range(count):
                if cut and i == count // 2:
                    raise RuntimeError("the upstream breaks off")  # uvicorn closes the connection mid-body
                data = event(i, int(pad or 0))
                if compressor is not None:
                    data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
                yield data
                if gate is not None and i == 0:
                    await asyncio.to_thread(gate.wait, 30)
                    gate.clear()
                if i % 10 == 0:
                    await asyncio.sleep(0)  # let some events reach the socket on their own
            if compressor is not None:
                yield compressor.flush()

        headers = {"content-encoding": "gzip"} if gzip else None
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    async def json(request: Request) -> JSONResponse:
        assert request.client is not None
        ports.append(request.client.port)
        return JSONResponse({"object": "chat.completion", "id": "c1"})

    return Starlette(routes=[Route("/v1/stream", stream, methods=["POST"]), Route("/v1/json", json)])


class Sink:
    """The client's side as the relay sees it; `hold_after`: full after that many writes until `release`."""

    def __init__(self, hold_after: int | None = None) -> None:
        self.body = bytearray()
        self.writes = 0
        self.hold_after = hold_after
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    def write(self, body: bytes) -> None:
        self.body += body
        self.writes += 1

    @property
    def paused(self) -> bool:
        return self.hold_after is not None and self.writes >= self.hold_after and not self.release.is_set()

    async def drain(self) -> None:
        self.held.set()
        await self.release.wait()


@contextlib.asynccontextmanager
async def pool_at(url: str) -> AsyncIterator[UpstreamPool]:
    """The proxy's pool for one upstream, with one connection: every request reuses it while it stays open."""
    pool = UpstreamPool({"up": Tier(model="m", base_url=f"{url}/v1", pool_size=1)})
    await pool.start()
    try:
        yield pool
    finally:
        await pool.aclose()


def run(loop: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if loop == "uvloop":
        uvloop.run(scenario())
    else:
        asyncio.run(scenario())


async def relayed(
    pool: UpstreamPool,
    query: str = "",
    sink: Sink | None = None,
    taps: list[int] | None = None,
    gate: threading.Event | None = None,
    before_pump: Callable[[Any], Coroutine[Any, Any, None]] | None = None,
) -> bytes:
    """What the relay does after the attempt: read up to a first chunk, then pump the rest.

    `taps`: whether the body was still arriving (so tapped) is appended; `gate`: set once that was looked at;
    `before_pump`: awaited with the upstream response just before the pump."""
    upstream = await pool.send("up", "/stream" + query, b"{}")
    pool.stream("up", upstream)
    first = await upstream.read_chunk()
    if taps is not None:
        taps.append(int(upstream.body_source() is not None))
    if gate is not None:
        gate.set()  # the upstream may send the rest
    if before_pump is not None:
        await before_pump(upstream)
    sink = sink or Sink()
    try:
        await pump(upstream, sink.write, sink)
    finally:
        upstream.close()
    return first + bytes(sink.body)


def whole_stream(pad: int = 0, events: int = EVENTS) -> bytes:
    return b"".join(event(i, pad) for i in range(events))


LOOPS = ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_tapped_connection_goes_back_to_the_pool_and_serves_json_then_a_stream(serve_in_thread, loop: str) -> None:
    ports: list[int] = []
    gate = threading.Event()
    server = serve_in_thread(upstream_app(ports, gate), name="tap-upstream")

    async def scenario() -> None:
        taps: list[int] = []
        async with pool_at(server.url) as pool:
            assert await relayed(pool, taps=taps, gate=gate) == whole_stream()
            status, body, _ = await pool.request("up", "GET", "/json")
            assert (status, body) == (200, b'{"object":"chat.completion","id":"c1"}')
            assert await relayed(pool, taps=taps, gate=gate) == whole_stream()
        assert taps == [1, 1]  # both streams were tapped, not read chunk by chunk

    run(loop, scenario)
    assert len(ports) == 3 and len(set(ports)) == 1  # one keep-alive connection served all three


@pytest.mark.parametrize("loop", LOOPS)
def test_the_parser_hands_the_body_to_the_tap_piece_by_piece_and_the_tap_lets_go_at_its_end(
    serve_in_thread, loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the tap each piece of the body goes from the connection's parser to the tap, not into a buffer read
    back out; at the end the connection has no tap left and is back in the pool, idle."""
    gate = threading.Event()
    server = serve_in_thread(upstream_app([], gate), name="tap-upstream")
    pieces: list[int] = []
    received = BodyTap.received

    def counted(tap: BodyTap, piece: bytes | None, failure: Any) -> None:
        pieces.append(len(piece or b""))
        received(tap, piece, failure)

    monkeypatch.setattr(BodyTap, "received", counted)
    connections: list[Any] = []

    async def keep_connection(upstream: Any) -> None:
        connections.append(upstream.body_source())

    async def scenario() -> None:
        async with pool_at(server.url) as pool:
            assert await relayed(pool, gate=gate, before_pump=keep_connection) == whole_stream()
            connection = connections[0]
            assert connection.tap is None and connection.complete and not connection.body
            assert pool._connections["up"]._idle == [connection]

    run(loop, scenario)
    assert len([n for n in pieces if n]) > 1


@pytest.mark.parametrize("loop", LOOPS)
def test_a_gzip_encoded_stream_is_decoded_under_the_tap(serve_in_thread, loop: str) -> None:
    server = serve_in_thread(upstream_app([]), name="tap-upstream")

    async def scenario() -> None:
        async with pool_at(server.url) as pool:
            assert await relayed(pool, "?gzip=1") == whole_stream()
            assert await relayed(pool) == whole_stream()  # and the connection still works after it

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_client_that_stops_reading_stops_the_upstreams_reading_and_loses_nothing(
    serve_in_thread, loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve_in_thread(upstream_app([]), name="tap-upstream")
    paused_reading: list[bool] = []
    run_tap = BodyTap.run

    async def watched(tap: BodyTap) -> None:  # what the upstream connection does while the client is full
        relaying = asyncio.ensure_future(run_tap(tap))
        held = asyncio.ensure_future(sink.held.wait())
        await asyncio.wait({relaying, held}, return_when=asyncio.FIRST_COMPLETED)
        if held.done():  # the relay waits for the client: is the upstream still being read?
            paused_reading.append(not tap._connection.transport.is_reading())
        held.cancel()
        sink.release.set()
        await relaying

    monkeypatch.setattr(BodyTap, "run", watched)
    sink: Sink

    async def scenario() -> None:
        nonlocal sink
        sink = Sink(hold_after=1)  # full from the tap's first write: the body is far larger than the socket's buffers
        async with pool_at(server.url) as pool:
            assert await relayed(pool, "?pad=2000", sink) == whole_stream(pad=2000)

    run(loop, scenario)
    assert paused_reading == [True]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_stream_held_back_before_the_tap_went_in_still_flows(serve_in_thread, loop: str) -> None:
    """Events pile up unread while the relay is busy before its tap goes in (a slow first write): past its
    high-water mark the connection stops reading. The tap takes what is held and reading resumes, or the stream
    stalls."""
    server = serve_in_thread(upstream_app([]), name="tap-upstream")

    async def until_held(upstream: Any) -> None:
        connection = upstream.body_source()
        for _ in range(200):  # until the unread bytes are over the high-water mark and the connection held back
            if connection.held:
                break
            await asyncio.sleep(0.01)
        assert connection.held and not connection.transport.is_reading()

    async def scenario() -> None:
        async with pool_at(server.url) as pool:
            relaying = relayed(pool, "?pad=100000&events=12", before_pump=until_held)
            assert await asyncio.wait_for(relaying, 30) == whole_stream(pad=100_000, events=12)

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_connection_broken_mid_body_is_a_protocol_error(serve_in_thread, loop: str) -> None:
    server = serve_in_thread(upstream_app([]), name="tap-upstream")

    async def scenario() -> None:
        async with pool_at(server.url) as pool:
            with pytest.raises(UpstreamFailure) as broken:
                await relayed(pool, "?cut=1")
            assert broken.value.kind is FailureKind.PROTOCOL_ERROR
            assert await relayed(pool) == whole_stream()  # a new connection serves the next stream

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_through_asgi_send_every_event_arrives_in_order(serve_in_thread, loop: str) -> None:
    """Another ASGI server (no client transport): the tap hands each piece to `send` through an AsgiSink."""
    server = serve_in_thread(upstream_app([]), name="tap-upstream")

    async def scenario() -> None:
        sent: list[bytes] = []

        async def send(message: dict) -> None:
            sent.append(message["body"])
            await asyncio.sleep(0)  # a server's send yields to the loop

        sink = AsgiSink(send)
        async with pool_at(server.url) as pool:
            upstream = await pool.send("up", "/stream", b"{}")
            pool.stream("up", upstream)
            first = await upstream.read_chunk()
            await pump(upstream, sink.write, sink)
            await sink.drain()
            upstream.close()
            assert first + b"".join(sent) == whole_stream()
            assert await relayed(pool) == whole_stream()  # the connection went back to the pool

    run(loop, scenario)
