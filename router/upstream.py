"""The upstream tiers' connections as the request path uses them: send a request, read its answer.

One `TierConnections` per tier (router/upstream_wire.py), created at start inside the serving loop, so every
request reuses warm keep-alive connections, at most the tier's `pool_size` of them. The router sends bytes it
already serialised and reads bytes back; nothing here parses JSON. Upstream keys come from the environment at
start and travel only in the upstream `Authorization`.

Why not a general HTTP client: measured with `bench/http_clients.py` against a fixed-response upstream on this
2-core machine, httpx's pool contends under concurrency (c=10: 1.7k req/s, p99 27 ms; c=50: 1.1k req/s, p99
205 ms), and aiohttp's session, which held (c=10: 16.7k req/s, p99 0.7 ms), still cost ~354,000 instructions a
request (`bench/upstream_instructions.py`); the wire costs a tenth of that. A proxy whose budget is "under a
millisecond" cannot spend it in its client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from starlette.datastructures import Headers

from router import upstream_credentials
from router.config import Tier
from router.upstream_wire import Connection, FailureKind, TierConnections, UpstreamFailure

__all__ = ["FailureKind", "UpstreamFailure", "UpstreamPool", "UpstreamResponse"]


class UpstreamResponse:
    """An upstream answer whose headers have arrived and whose body is still to be read."""

    __slots__ = ("_connection", "_tier", "status", "headers", "idle_s", "_watch", "_closed")

    def __init__(self, connection: Connection, tier: TierConnections) -> None:
        self._connection = connection
        self._tier = tier
        self.status = connection.status
        self.headers = Headers(raw=connection.raw_headers)
        self.idle_s = 0.0
        self._watch: set[UpstreamResponse] | None = None
        self._closed = False

    @property
    def last_read(self) -> float:
        """When the connection last received bytes (monotonic seconds): the pool's sweeper times streams by it."""
        return self._connection.last_read

    async def read(self) -> bytes:
        """The whole body (what is left of it). The connection goes back to its pool then (or, if the body
        broke off, is dropped): a caller that reads an answer whole need not `close` it."""
        if self._closed:
            return b""
        connection = self._connection
        try:
            while not connection.complete:
                if connection.failure is not None:
                    raise connection.failure
                await connection.wait_body(whole=True)
            return connection.take_body()
        finally:
            self.close()

    async def read_chunk(self) -> bytes:
        """The next body bytes as they arrive, in whatever pieces the network delivers (b"" at the end)."""
        if self._closed:  # its connection may already serve another request
            return b""
        connection = self._connection
        while True:
            if connection.body:
                return connection.take_body()
            if connection.failure is not None:
                raise connection.failure
            if connection.complete:
                self.close()  # read to its end: the connection serves the next request
                return b""
            await connection.wait_body()

    def stream(self, watch: set[UpstreamResponse], idle_s: float) -> None:
        """Read the body as a long stream: its idle timeout moves from the connection's timer to the pool's sweeper,
        which looks at every open stream once a second (precise enough for a 120 s timeout)."""
        if self._connection.complete:
            return  # the body has already arrived whole: nothing left to time
        self._connection.unwatch()
        self.idle_s = idle_s
        self._watch = watch
        watch.add(self)

    def body_source(self) -> Connection | None:
        """The connection while the body is still arriving on it, for router/upstream_tap.py; None once the body
        has all arrived, or failed."""
        connection = self._connection
        if self._closed or connection.complete or connection.failure is not None or connection.closed:
            return None
        return connection

    def close(self) -> None:
        """Keep the connection for the next request if the body was read to its end, else drop it (a cut stream)."""
        if self._watch is not None:
            self._watch.discard(self)
            self._watch = None
        if self._closed:
            return
        self._closed = True
        connection = self._connection
        if connection.complete and not connection.body:
            self._tier.release(connection)
        else:
            self._tier.discard(connection)

    def expire(self) -> None:
        """Idle past its timeout: cut the connection, so the pending read fails as a timeout."""
        if self._watch is not None:
            self._watch.discard(self)
            self._watch = None
        self._connection.fail(UpstreamFailure(FailureKind.TIMEOUT, f"no data for {self.idle_s:g} s"))
        self._connection.close()


class UpstreamPool:
    """The per-tier connections. `start` inside the serving loop, `send` per request, `aclose` at shutdown."""

    def __init__(self, tiers: dict[str, Tier]) -> None:
        self._tiers = tiers
        self._connections: dict[str, TierConnections] = {}
        self.streams: set[UpstreamResponse] = set()  # open streams, watched for idleness by one sweeper
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        upstream_credentials.warn_unset(self._tiers)  # the keys are read now: say which are missing
        self._connections = {name: _connections_for(tier) for name, tier in self._tiers.items()}
        self._sweeper = asyncio.create_task(self._sweep(), name="routetax-stream-idle")

    def stream(self, tier: str, response: UpstreamResponse) -> None:
        """`response` will be read as a stream: time its idleness with the tier's read timeout."""
        response.stream(self.streams, self._tiers[tier].timeouts.read)

    async def _sweep(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            now = time.monotonic()
            for response in [r for r in self.streams if now - r.last_read > r.idle_s]:
                response.expire()

    async def send(
        self, tier: str, path: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> UpstreamResponse:
        """POST `payload` to the tier; return as soon as the status line and headers arrive.

        `headers`: the client's headers that travel upstream (router.forwarded_headers), beside the tier's own.
        """
        connections = self._connections[tier]
        connection = await connections.exchange(connections.request(b"POST", path, headers, payload))
        return UpstreamResponse(connection, connections)

    async def request(
        self, tier: str, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Any]:
        """A small request with no body (GET/DELETE of a stored object): (status, body, headers).

        The path is percent-encoded: a stored object's id came from an upstream's answer, and no byte of it may
        end the request line."""
        connections = self._connections[tier]
        request = connections.request(method.encode("ascii"), quote(path, safe="/"), headers, None)
        connection = await connections.exchange(request)
        response = UpstreamResponse(connection, connections)
        try:
            return response.status, await response.read(), response.headers
        finally:
            response.close()

    async def probe(self, tier: str) -> bool:
        """Does the tier answer HTTP at all (below 500)? Used by readiness, never on the request path."""
        try:
            async with asyncio.timeout(2):
                status, _, _ = await self.request(tier, "GET", "/models")
        except (UpstreamFailure, TimeoutError):
            return False
        return status < 500

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connections in self._connections.values():
            connections.close()
        self._connections = {}


def _connections_for(tier: Tier) -> TierConnections:
    headers = b"content-type: application/json\r\naccept: application/json, text/event-stream\r\n"
    headers += b"accept-encoding: gzip, deflate\r\n"
    key = tier.api_key()
    if key:
        headers += b"authorization: Bearer %s\r\n" % key.encode("latin-1")
    return TierConnections(tier.base_url, tier.pool_size, tier.timeouts.connect, tier.timeouts.read, headers)
