"""The rest of a streamed upstream body, handed on from the connection's `data_received`, without a task per event.

Read through a stream layer, each upstream event costs a future resolved, a task wake-up, a read call and an
async generator step before the relay sees it (py-spy at 1,000 streams: ≈ 22 % of the proxy's samples, beside the
system calls). Once a stream's first visible event has been read (router/serving/attempt.py), nothing about it
needs to wait on anything: the relay only splits, filters and writes. So for the rest of the body a `BodyTap` is
the connection's tap (router/upstream_wire.py): httptools' parser hands each piece of the body (chunked framing
and any gzip undone) to it in the callback that read it, and it hands the piece to the relay, which writes it to
the client's transport (router/client_transport.py).

Flow control is by hand: when the client's side is full (`Sink.paused`), the upstream transport stops reading,
and the relay task — waiting on one future for the whole stream, not one per event — awaits the client's drain
once and resumes it. At the body's end the tap lets go of the connection in that same callback, so the
connection can go back to its pool for the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from router.stream_response import Sink
from router.upstream import UpstreamFailure, UpstreamResponse
from router.upstream_wire import Connection


class BodyTap:
    """The relay's end of one upstream connection until its answer's body has ended."""

    __slots__ = ("_connection", "_on_body", "_sink", "_paused", "_ended", "_error", "_waiter")

    def __init__(self, connection: Connection, on_body: Callable[[bytes], None], sink: Sink) -> None:
        self._connection = connection
        self._on_body = on_body
        self._sink = sink
        self._paused = False  # the upstream transport stopped reading for the client's sake
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Relay the rest of the body; returns at its end, raises UpstreamFailure if the upstream broke it off."""
        connection = self._connection
        if connection.body:  # what arrived before the tap went in goes first (and reading resumes if held)
            self.received(connection.take_body(), None)
        if not self._ended:
            if connection.failure is not None:
                self._end(connection.failure)
            elif connection.complete:
                self._end(None)
            else:
                connection.tap = self.received
        loop = asyncio.get_running_loop()
        try:
            while not self._ended:
                if self._paused:
                    await self._sink.drain()
                    self._paused = False
                    if not self._ended and connection.transport is not None and not connection.closed:
                        connection.transport.resume_reading()
                    continue
                self._waiter = loop.create_future()
                await self._waiter
        finally:
            self._waiter = None
            connection.tap = None  # cancelled (the client left, or shutdown): the caller drops the connection
            self._ended = True
        if self._error is not None:
            raise self._error

    def received(self, piece: bytes | None, failure: UpstreamFailure | None) -> None:
        """One piece of the body from the connection's parser; None at its end, with the failure that ended it."""
        if self._ended:
            return
        if piece is None:
            self._end(failure)
            return
        try:
            self._on_body(piece)
        except Exception as exc:  # an UpstreamFailure of the relay's, or a bug: the relay task raises it
            self._end(exc)
            return
        if self._sink.paused and not self._paused:
            self._pause()

    def _pause(self) -> None:
        """The client is full: stop reading the upstream until the relay task has awaited its drain."""
        self._paused = True
        transport = self._connection.transport
        if transport is not None and not self._connection.closed:
            transport.pause_reading()
        self._wake()

    def _end(self, error: BaseException | None) -> None:
        self._ended = True
        self._error = error
        self._connection.tap = None
        if self._paused:
            self._paused = False
            transport = self._connection.transport
            if transport is not None and not self._connection.closed:
                transport.resume_reading()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def pump(upstream: Any, on_body: Callable[[bytes], None], sink: Sink) -> None:
    """Hand the rest of `upstream`'s body to `on_body` as it arrives, holding the upstream while `sink` is full.

    A pooled response still arriving is tapped (`BodyTap`); anything else — a body already whole, a test's
    stand-in upstream — is read with `read_chunk()`, the same hand-off in a loop.
    Raises UpstreamFailure when the upstream breaks the stream off or goes idle past its timeout.
    """
    if sink.paused:
        await sink.drain()
    source = upstream.body_source() if isinstance(upstream, UpstreamResponse) else None
    if source is not None:
        await BodyTap(source, on_body, sink).run()
        return
    while chunk := await upstream.read_chunk():
        on_body(chunk)
        if sink.paused:
            await sink.drain()
