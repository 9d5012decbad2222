"""Pooled HTTP clients to the upstream tiers.

One aiohttp `ClientSession` per tier, created at start inside the serving loop, so every
request reuses warm keep-alive connections sized by the tier's `pool_size`. The router
sends bytes it already serialised and reads bytes back; nothing here parses JSON. Upstream
keys come from the environment at start and travel only in the upstream `Authorization`.

Why aiohttp and not httpx: measured with `bench/http_clients.py` against a fixed-response
upstream on this 2-core machine, httpx's pool contends under concurrency (c=10: 1.7k req/s,
p99 27 ms; c=50: 1.1k req/s, p99 205 ms) where aiohttp holds (c=10: 16.7k req/s, p99
0.7 ms; c=50: 18.2k req/s, p99 3.9 ms); even at c=1 httpx adds 0.28 ms per call. A proxy
whose budget is "under a millisecond" cannot spend it in its client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp

from router import upstream_credentials
from router.config import Tier


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


def failure_from(exc: BaseException) -> UpstreamFailure:
    """The `UpstreamFailure` an aiohttp error (or a timeout) stands for."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamFailure(FailureKind.TIMEOUT, type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure(FailureKind.CONNECT_ERROR, str(exc) or type(exc).__name__)
    return UpstreamFailure(FailureKind.PROTOCOL_ERROR, str(exc) or type(exc).__name__)


UPSTREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


class UpstreamResponse:
    """An upstream answer whose headers have arrived and whose body is still to be read."""

    __slots__ = ("_response", "status", "headers", "last_read", "idle_s", "timed_out", "_watch")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self.last_read = 0.0
        self.idle_s = 0.0
        self.timed_out = False
        self._watch: set[UpstreamResponse] | None = None

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except UPSTREAM_ERRORS as exc:
            raise failure_from(exc) from exc

    def stream(self, watch: set[UpstreamResponse], idle_s: float) -> None:
        """Read the body as a long stream: the idle timeout moves from aiohttp to the pool's sweeper.

        aiohttp re-arms its read timer (a cancel and a new timer) on every chunk it receives; for a stream
        of thousands of small events that was 6 % of the proxy's CPU (py-spy, 1,000 streams). The sweeper
        looks at every open stream once a second instead, which is precise enough for a 120 s timeout.
        """
        protocol = getattr(self._response.connection, "protocol", None)
        if protocol is None:
            return  # the body has already arrived whole: nothing left to time
        protocol.read_timeout = None
        self.idle_s = idle_s
        self.last_read = time.monotonic()
        self._watch = watch
        watch.add(self)

    async def read_chunk(self) -> bytes:
        """The next body bytes as they arrive, in whatever pieces the network delivers (b"" at the end)."""
        try:
            chunk = await self._response.content.readany()
        except UPSTREAM_ERRORS as exc:
            if self.timed_out:
                raise UpstreamFailure(FailureKind.TIMEOUT, f"no data for {self.idle_s:g} s") from exc
            raise failure_from(exc) from exc
        self.last_read = time.monotonic()
        return chunk

    def body_source(self) -> tuple[Any, Any, Any] | None:
        """(aiohttp's protocol, the connection's transport, the body's StreamReader) while the body is still
        arriving on a connection this response holds; None once it has all arrived or the connection is gone.
        For router/upstream_tap.py, which reads the rest of a stream below aiohttp's StreamReader waits."""
        connection = self._response.connection
        content = self._response.content
        if connection is None or content.is_eof():
            return None
        protocol = connection.protocol
        transport = connection.transport
        if protocol is None or transport is None or transport.is_closing():
            return None
        return protocol, transport, content

    def close(self) -> None:
        """Drop the connection if the body was not read to the end (a cut stream), else reuse it."""
        if self._watch is not None:
            self._watch.discard(self)
            self._watch = None
        self._response.release() if self._response.content.at_eof() else self._response.close()

    def expire(self) -> None:
        """Idle past its timeout: cut the connection, so the pending read fails as a timeout."""
        self.timed_out = True
        if self._watch is not None:
            self._watch.discard(self)
            self._watch = None
        self._response.close()


class UpstreamPool:
    """The per-tier sessions. `start` inside the serving loop, `send` per request, `aclose` at shutdown."""

    def __init__(self, tiers: dict[str, Tier]) -> None:
        self._tiers = tiers
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self.streams: set[UpstreamResponse] = set()  # open streams, watched for idleness by one sweeper
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        upstream_credentials.warn_unset(self._tiers)  # the keys are read now: say which are missing
        self._sessions = {name: _session_for(tier) for name, tier in self._tiers.items()}
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

        `headers`: the client's headers that travel upstream (router.forwarded_headers), beside the session's own.
        """
        session = self._sessions[tier]
        try:
            response = await session.post(self._tiers[tier].base_url + path, data=payload, headers=headers or None)
        except UPSTREAM_ERRORS as exc:
            raise failure_from(exc) from exc
        return UpstreamResponse(response)

    async def request(
        self, tier: str, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Any]:
        """A small request with no body (GET/DELETE of a stored object): (status, body, headers)."""
        url = self._tiers[tier].base_url + path
        try:
            async with self._sessions[tier].request(method, url, headers=headers or None) as response:
                return response.status, await response.read(), response.headers
        except UPSTREAM_ERRORS as exc:
            raise failure_from(exc) from exc

    async def probe(self, tier: str) -> bool:
        """Does the tier answer HTTP at all (below 500)? Used by readiness, never on the request path."""
        try:
            async with self._sessions[tier].get(
                self._tiers[tier].base_url + "/models", timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                return response.status < 500
        except UPSTREAM_ERRORS:
            return False

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session in self._sessions.values():
            await session.close()
        self._sessions = {}


def _session_for(tier: Tier) -> aiohttp.ClientSession:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    key = tier.api_key()
    if key:
        headers["authorization"] = f"Bearer {key}"
    connector = aiohttp.TCPConnector(limit=tier.pool_size, limit_per_host=tier.pool_size, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None, connect=tier.timeouts.connect, sock_read=tier.timeouts.read),
        trust_env=False,  # an HTTP(S)_PROXY meant for the app must not reroute upstream traffic silently
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )
