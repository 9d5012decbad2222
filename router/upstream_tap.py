"""The rest of a streamed upstream body, handed on from the connection's `data_received`, without a task per event.

Read through aiohttp's stream layer, each upstream event costs a future resolved in `feed_data`, a task
wake-up, a `readany()` and an async generator step before the relay sees it (py-spy at 1,000 streams:
≈ 22 % of the proxy's samples, beside the system calls). Once a stream's first visible event has been read
(router/serving/attempt.py), nothing about it needs to wait on anything: the relay only splits, filters and
writes. So for the rest of the body a `BodyTap` stands in as the connection transport's protocol: each
`data_received` goes first to aiohttp's own protocol, which keeps the HTTP framing, chunked decoding,
decompression and its connection pool bookkeeping, and its parser hands each piece of the body to the tap
instead of buffering it (`_TappedReader`: the reader's class swapped while the tap stands in), which hands it to
the relay in the same callback, which writes it to the client's transport (router/client_transport.py).

Flow control is by hand: when the client's side is full (`Sink.paused`), the upstream transport stops
reading, and the relay task — waiting on one future for the whole stream, not one per event — awaits the
client's drain once and resumes it. At the body's end aiohttp releases the connection to its pool inside
its `data_received`; the tap puts aiohttp's protocol back on the transport before that callback returns, so
the next request on the connection reaches aiohttp again.

What this relies on in aiohttp (3.14, pinned by tests/test_upstream_tap.py): `Connection.protocol` /
`.transport`, `ResponseHandler.data_received` / `connection_lost` / `eof_received`, that its parser gives the
body to its `StreamReader`'s `feed_data` / `begin_http_chunk_receiving` / `end_http_chunk_receiving` /
`feed_eof` (a `StreamReader` with slots, so a same-slots subclass can stand in), `read_nowait` / `is_eof`, and
that the response's end (`feed_eof`) happens inside `data_received` or `connection_lost`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp.streams import StreamReader

from router.stream_response import Sink
from router.upstream import UPSTREAM_ERRORS, FailureKind, UpstreamFailure, UpstreamResponse, failure_from

# The taps whose body reader is a `_TappedReader` now, by the reader's id (aiohttp's reader has slots and no
# weak references, so nothing can hang off it): added when a tap takes its reader over, removed when it lets go.
_TAPS: dict[int, BodyTap] = {}


class _TappedReader(StreamReader):
    """aiohttp's body reader while a tap stands in: the parser's body bytes go to the tap as it hands them over.

    aiohttp's parser gives each piece of the body to `feed_data` (after decoding the chunked framing and any
    gzip); a `StreamReader` would buffer it, count it, wake a waiter and check its marks, and the tap would then
    take it out again with `read_nowait` (five Python calls an event). Same slots, so a reader's class can be
    swapped to this one and back; nothing is buffered while it is.
    """

    __slots__ = ()

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        if data:
            _TAPS[id(self)].received(data)
        return False  # no decoded data held back (aiohttp's parser asks, for decompression)

    def begin_http_chunk_receiving(self) -> None:
        """Chunk boundaries matter to `readchunk()`, which nobody calls on a tapped body."""

    def end_http_chunk_receiving(self) -> None:
        """As `begin_http_chunk_receiving`."""


class BodyTap(asyncio.Protocol):
    """Stands in for aiohttp's protocol on one upstream connection until its response's body has ended."""

    __slots__ = (
        "_upstream",
        "_handler",
        "_transport",
        "_content",
        "_on_body",
        "_sink",
        "_installed",
        "_reading",
        "_paused",
        "_ended",
        "_error",
        "_waiter",
    )

    def __init__(
        self, upstream: UpstreamResponse, source: tuple[Any, Any, Any], on_body: Callable[[bytes], None], sink: Sink
    ) -> None:
        self._upstream = upstream
        self._handler, self._transport, self._content = source
        self._on_body = on_body
        self._sink = sink
        self._installed = False
        self._reading = False  # the body reader is a `_TappedReader` handing its pieces to `received`
        self._paused = False  # the upstream transport stopped reading for the client's sake
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Relay the rest of the body; returns at its end, raises UpstreamFailure if the upstream broke it off."""
        self._transport.set_protocol(self)
        self._installed = True
        self._take()  # what aiohttp read before the tap went in (past its high-water mark it paused the connection)
        # From here the parser hands each piece of the body to `received` (`_TappedReader`), in the callback that
        # read it. Only a reader of aiohttp's own class is swapped: anything else is read as above, per callback.
        content = self._content
        if not self._ended and type(content) is StreamReader:
            _TAPS[id(content)] = self
            content.__class__ = _TappedReader
            self._reading = True
        loop = asyncio.get_running_loop()
        try:
            while not self._ended:
                if self._paused:
                    await self._sink.drain()
                    self._paused = False
                    if not self._ended:
                        self._transport.resume_reading()
                    continue
                self._waiter = loop.create_future()
                await self._waiter
        finally:
            self._waiter = None
            if not self._ended:  # cancelled (the client left, or shutdown): aiohttp gets its connection back
                self._ended = True
                self._restore()
        if self._error is not None:
            raise self._error

    # -- the transport's side: asyncio.Protocol ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)  # the body's pieces reach `received` from inside aiohttp's parser
        self._upstream.last_read = time.monotonic()
        if self._reading:
            if self._content.is_eof():
                self._end(None)
            elif self._sink.paused and not self._paused:
                self._pause()
        else:
            self._take()

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._installed = False  # nothing to give back: the transport is gone
        self._handler.connection_lost(exc)
        if not self._ended:
            self._take()
            if not self._ended:
                self._end(UpstreamFailure(FailureKind.PROTOCOL_ERROR, "the upstream connection was lost"))

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    # -- the relay's side ---------------------------------------------------------------------------------------

    def received(self, piece: bytes) -> None:
        """One piece of the body, from aiohttp's parser (`_TappedReader.feed_data`)."""
        if self._ended:
            return
        try:
            self._on_body(piece)
        except UpstreamFailure as failure:
            self._end(failure)
        except Exception as exc:  # a bug on our side: the relay task raises it, as the read loop would have
            self._end(exc)

    def _take(self) -> None:
        """Hand on all aiohttp holds now; at the body's end give the connection back; pause if the client is full.

        Read until a read brings nothing: a read below the reader's low-water mark resumes a paused connection
        and parser, which may refill the reader in that same call."""
        if self._ended:
            return
        content = self._content
        try:
            while piece := content.read_nowait():
                self._on_body(piece)
        except UpstreamFailure as failure:
            self._end(failure)
            return
        except UPSTREAM_ERRORS as exc:
            self._end(self._timed_out() or failure_from(exc))
            return
        except Exception as exc:  # a bug on our side: the relay task raises it, as the read loop would have
            self._end(exc)
            return
        if content.is_eof():
            self._end(None)
        elif self._sink.paused and not self._paused:
            self._pause()

    def _pause(self) -> None:
        """The client is full: stop reading the upstream until the relay task has awaited its drain."""
        self._paused = True
        self._transport.pause_reading()
        self._wake()

    def _timed_out(self) -> UpstreamFailure | None:
        if self._upstream.timed_out:
            return UpstreamFailure(FailureKind.TIMEOUT, f"no data for {self._upstream.idle_s:g} s")
        return None

    def _end(self, error: BaseException | None) -> None:
        self._ended = True
        self._error = error
        self._restore()
        self._wake()

    def _restore(self) -> None:
        """aiohttp's protocol and reader back, reading: before the callback that ended the body returns."""
        if self._reading:
            self._reading = False
            self._content.__class__ = StreamReader
            del _TAPS[id(self._content)]
        if self._installed:
            self._installed = False
            self._transport.set_protocol(self._handler)
            if self._paused:
                self._paused = False
                self._transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def pump(upstream: Any, on_body: Callable[[bytes], None], sink: Sink) -> None:
    """Hand the rest of `upstream`'s body to `on_body` as it arrives, holding the upstream while `sink` is full.

    A pooled aiohttp response still arriving is tapped (`BodyTap`); anything else — a body already whole in
    aiohttp's buffer, a test's stand-in upstream — is read with `read_chunk()`, the same hand-off in a loop.
    Raises UpstreamFailure when the upstream breaks the stream off or goes idle past its timeout.
    """
    if sink.paused:
        await sink.drain()
    source = upstream.body_source() if isinstance(upstream, UpstreamResponse) else None
    if source is not None:
        await BodyTap(upstream, source, on_body, sink).run()
        return
    while chunk := await upstream.read_chunk():
        on_body(chunk)
        if sink.paused:
            await sink.drain()
