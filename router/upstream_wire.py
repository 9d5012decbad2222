"""HTTP/1.1 to the upstream tiers on asyncio protocols: keep-alive connections, each answer parsed by httptools.

Why not aiohttp's `ClientSession` any more: a POST and the read of its answer cost ~354,000 instructions in aiohttp
3.14 (the session's `_request`, `ClientRequest` and `ClientResponse`, its writer, the timer context, the stream
reader), against ~65,000 here (`bench/upstream_instructions.py`, 2026-12-08). What a proxy needs from its client is
small: one method, a body it already serialised, a few headers, keep-alive, a connection limit per tier, TLS,
timeouts, and the answer's status, headers and body as they arrive. Here a request is one `write` of bytes made once
per tier plus the request's own headers, and the answer goes from httptools' callbacks straight to the waiting read
— or, for the rest of a stream, to the relay's tap (router/upstream_tap.py) in the callback that read it.

Failures come in three kinds (`FailureKind`, the client's `upstream_<kind>`): a connection that cannot be made
(refused, unresolvable, TLS refused) is a connect error; no byte for the read timeout, a timeout; an answer that is
not HTTP or a connection lost before its end, a protocol error. A request written on a kept-alive connection that
the upstream closes without answering a byte (the race every keep-alive client meets: it closed the connection idle
as the request went out) is sent once more, on a new connection. Cookies are never kept: every request carries only
what routetax sets, whoever's answer came before it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import httptools


class FailureKind(StrEnum):
    """How an upstream failed to answer; the client's error code is `upstream_<kind>`."""

    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"  # the connection broke, or what came back was not HTTP


@dataclass(frozen=True, slots=True)
class UpstreamFailure(Exception):
    """No usable HTTP answer came back: the connection failed, timed out or broke."""

    kind: FailureKind
    detail: str


KEEPALIVE_S = 60.0  # an idle connection older than this is closed rather than reused
HIGH_WATER = 256 * 1024  # a stream's body bytes held unread before the connection stops reading until they are
_NO_BODY_STATUSES = frozenset({204, 304})


class Connection(asyncio.Protocol):
    """One keep-alive connection to a tier: one request at a time, its answer parsed as it arrives.

    The answer's body goes to `tap` when one is set (the relay's, for the rest of a stream), else into `body`
    for `read` / `read_chunk`. `reusable` says whether it can go back to its pool once the answer has ended.
    """

    __slots__ = (
        "pool",
        "transport",
        "parser",
        "status",
        "raw_headers",
        "body",
        "complete",
        "reusable",
        "failure",
        "tap",
        "last_read",
        "read_timeout",
        "idle_since",
        "received_any",
        "closed",
        "counted",
        "streaming",
        "buffered",
        "held",
        "_head",
        "_waiter",
        "_timer",
        "_decoder",
        "_framed",
    )

    def __init__(self, pool: TierConnections) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.reusable = False
        self.failure: UpstreamFailure | None = None
        self.tap: Callable[[bytes | None, UpstreamFailure | None], None] | None = None
        self.last_read = 0.0
        self.read_timeout: float | None = None
        self.idle_since = 0.0
        self.received_any = False
        self.closed = False
        self.counted = True  # one of its pool's open connections until it is counted out
        self.streaming = False  # read as a stream: held back (`held`) past HIGH_WATER unread bytes
        self.buffered = 0
        self.held = False
        self._head: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._decoder: zlib._Decompress | None = None
        self._framed = True

    # -- the request ---------------------------------------------------------------------------------------------

    async def exchange(self, request: bytes) -> None:
        """Send `request` (head and body, whole) and return once the answer's status line and headers are in."""
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.raw_headers, self.body = 0, [], []
        self.complete = self.reusable = self.received_any = self.streaming = self.held = False
        self.buffered = 0
        self.failure, self.tap, self._decoder, self._framed = None, None, None, True
        loop = asyncio.get_running_loop()
        self._head = loop.create_future()
        self.last_read = time.monotonic()
        self.read_timeout = self.pool.read_timeout
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():  # closed while it waited in the pool
            self.fail(UpstreamFailure(FailureKind.PROTOCOL_ERROR, "the upstream closed the connection"))
        else:
            self._arm()
            transport.write(request)
        try:
            await self._head
        finally:
            self._head = None

    def unwatch(self) -> None:
        """The body is read as a long stream: its idleness is the pool's sweeper's to time, not this timer's, and
        what arrives faster than it is read is held back at the socket past HIGH_WATER bytes."""
        self.streaming = True
        self.read_timeout = None
        self._disarm()

    def take_body(self) -> bytes:
        """The body bytes received and not yet taken; reading resumes if it was held back for them."""
        body = self.body
        self.body, self.buffered = [], 0
        if self.held:
            self.held = False
            if not self.closed:
                self.transport.resume_reading()  # type: ignore[union-attr]
        return body[0] if len(body) == 1 else b"".join(body)

    async def wait_body(self, whole: bool = False) -> None:
        """Until more of the body (`whole`: all of it), its end or a failure has arrived."""
        if (self.body and not whole) or self.complete or self.failure is not None:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        self.received_any = True
        if self.parser is None or self.complete:  # bytes nobody asked for: this connection cannot be trusted again
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(UpstreamFailure(FailureKind.PROTOCOL_ERROR, f"not an HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # the transport closes itself; `connection_lost` follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        if self._head is not None or not self.complete:
            if self.status and not self._framed and self.failure is None:  # a body that ends with its connection
                self.on_message_complete()
            elif self.parser is not None and self.failure is None:
                detail = "the upstream closed the connection" + (f" ({exc})" if exc else "")
                self.fail(UpstreamFailure(FailureKind.PROTOCOL_ERROR, detail))
        self.reusable = False
        self.pool.lost(self)

    # -- httptools' callbacks ------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: nothing more of this connection can be trusted
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete:
            self.raw_headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        parser = self.parser
        status = self.status = parser.get_status_code()  # type: ignore[union-attr]
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self.raw_headers = []
            self.status = 0
            return
        length = encoding = chunked = None
        for name, value in self.raw_headers:
            if name == b"content-length":
                length = value
            elif name == b"content-encoding":
                encoding = value.strip().lower()
            elif name == b"transfer-encoding":
                chunked = value
        self._framed = length is not None or chunked is not None or status in _NO_BODY_STATUSES
        if encoding and encoding != b"identity":
            if encoding not in (b"gzip", b"x-gzip", b"deflate"):
                self.fail(UpstreamFailure(FailureKind.PROTOCOL_ERROR, f"content-encoding {encoding.decode('latin-1')}"))
                self.close()
                return
            self._decoder = zlib.decompressobj(47)  # a gzip or a zlib header, whichever the body starts with
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, piece: bytes) -> None:
        if self.status == 0 or self.failure is not None or self.complete:
            return
        if self._decoder is not None:
            try:
                piece = self._decoder.decompress(piece)
            except zlib.error as exc:
                self.fail(UpstreamFailure(FailureKind.PROTOCOL_ERROR, f"a body that does not decode: {exc}"))
                self.close()
                return
            if not piece:
                return
        if self.tap is not None:
            self.tap(piece, None)
            return
        self.body.append(piece)
        if self.streaming:
            self.buffered += len(piece)
            if self.buffered > HIGH_WATER and not self.held and not self.closed:
                self.held = True
                self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0 or self.failure is not None or self.complete:  # an interim answer's end, a failed
            return  # one's, or a second answer's
        if self._decoder is not None:  # the decoder's tail is body too, before the answer ends
            rest = self._decoder.flush()
            if rest:
                self.on_body(rest)
            self._decoder = None
        self.complete = True
        self.reusable = self._framed and self.parser is not None and self.parser.should_keep_alive() and not self.closed
        self._disarm()
        if self.tap is not None:
            self.tap(None, None)
        self._wake()

    # -- failures and timing -------------------------------------------------------------------------------------

    def fail(self, failure: UpstreamFailure) -> None:
        if self.failure is not None or self.complete:
            return
        self.failure = failure
        self.reusable = False
        head = self._head
        if head is not None and not head.done():
            head.set_exception(failure)
        if self.tap is not None:
            self.tap(None, failure)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm(self) -> None:
        """Time the answer's silence: a timer at the last byte plus the read timeout, moved on (not re-armed per
        byte) when it finds that bytes came since."""
        timeout = self.read_timeout
        if timeout is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(self.last_read + timeout, self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        timeout = self.read_timeout
        if timeout is None or self.complete or self.failure is not None:
            return
        if time.monotonic() - self.last_read >= timeout:
            self.fail(UpstreamFailure(FailureKind.TIMEOUT, f"no data for {timeout:g} s"))
            self.close()
        else:
            self._arm()


class TierConnections:
    """One tier's connections: at most `limit` open, idle ones reused newest first, callers past the limit queued."""

    def __init__(
        self, base_url: str, limit: int, connect_timeout: float | None, read_timeout: float | None, headers: bytes
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address in brackets
        authority = host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"
        self.fixed_headers = b"host: %s\r\n%s" % (authority.encode("ascii"), headers)  # checked ASCII at start
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None
        self._idle: list[Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def request(self, method: bytes, path: str, extra: dict[str, str] | None, payload: bytes | None) -> bytes:
        """The bytes of one request: its line, the tier's fixed headers, the caller's, and the body."""
        line = b"%s %s HTTP/1.1\r\n" % (method, (self.path + path).encode("ascii"))
        parts = [line, self.fixed_headers]
        if extra:
            for name, value in extra.items():
                if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                    raise ValueError(f"header {name!r} cannot be sent: a line break or a colon in it")
                parts.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
        if payload is not None:
            parts.append(b"content-length: %d\r\n\r\n" % len(payload))
            parts.append(payload)
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    async def exchange(self, request: bytes) -> Connection:
        """`request` sent on a connection of this tier; returns that connection once the answer's head is in.

        A reused connection that the upstream closes without answering a byte is replaced by a new one, once: the
        keep-alive race, in which the upstream closed it idle as the request went out.
        """
        for attempt in (0, 1):
            connection, reused = await self._acquire()
            try:
                await connection.exchange(request)
                return connection
            except UpstreamFailure as failure:
                self.discard(connection)
                if attempt or not reused or connection.received_any or failure.kind is not FailureKind.PROTOCOL_ERROR:
                    raise
            except BaseException:
                self.discard(connection)
                raise
        raise AssertionError("unreachable")

    async def _acquire(self) -> tuple[Connection, bool]:
        while True:
            if self._closed:
                raise UpstreamFailure(FailureKind.CONNECT_ERROR, "the upstream pool is closed")
            now = time.monotonic()
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed and now - connection.idle_since < KEEPALIVE_S:
                    return connection, True
                self.discard(connection)  # idle too long (or already gone): closed, not reused
            if self._open < self.limit:
                self._open += 1
                try:
                    return await self._connect(), False
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # it was woken for a connection it will not take: the next caller may
                else:
                    self._waiters.remove(waiter)
                raise

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        where = f"{self.host}:{self.port}" + (" (TLS)" if self.tls else "")
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            detail = f"connecting to {where} took over {self.connect_timeout:g} s"
            raise UpstreamFailure(FailureKind.TIMEOUT, detail) from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamFailure(FailureKind.CONNECT_ERROR, f"cannot connect to {where}: {exc}") from exc
        return connection

    def release(self, connection: Connection) -> None:
        """The answer has been read to its end: keep the connection for the next request, if it can serve one."""
        if connection.reusable and not connection.closed and not self._closed and connection.tap is None:
            if connection.held:  # held back for a reader who has taken everything since: read again
                connection.take_body()
            connection.parser = None
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            self._wake_one()
        else:
            self.discard(connection)

    def discard(self, connection: Connection) -> None:
        """The connection will not be used again (a cut answer, a failure, a `Connection: close`)."""
        connection.reusable = False
        connection.close()
        self._forget(connection)

    def lost(self, connection: Connection) -> None:
        """The transport is gone (either side closed it): an idle connection leaves the pool."""
        if connection in self._idle:
            self._idle.remove(connection)
            self._forget(connection)

    def _forget(self, connection: Connection) -> None:
        if connection.counted:  # counted out once, however many of discard / lost / a stale pop see it
            connection.counted = False
            self._open -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self._closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # it finds the pool closed
