"""A connection of its own to the store for a background writer's script calls, without the client's layers.

The shared task index (router.tasks.shared) writes every filed answer to Redis within milliseconds, up to a
hundred script calls a second on a busy proxy. Through the redis-py asyncio client one call cost ~284,000
instructions of the proxy's event loop (callgrind, uvloop: the pool's checkout and release, the retry wrapper,
an `asyncio.wait_for` task per read and per write, the event dispatch, stream readers) — more than identifying a
request's task (~119,000). Here a call is the command packed by hiredis (C), written to the transport, and its
reply parsed by hiredis's reader as the bytes arrive (`asyncio.Protocol`, no stream layer, no task).

Only plain `redis://` stores (the client `metering.store.open_store` makes for such a URL, TCP or `unix://`):
a `rediss://` store, a Redis Cluster or the in-process stand-in has no wire (`for_store` returns None) and its
writer keeps using the client. The connection opens on the first call and after any failure: it authenticates
and selects the database as the client's URL says. A call that does not complete within the client's socket
timeout closes the connection (a late reply would answer the next call) and raises; so does a lost connection,
for every call in flight. Errors are the caller's to handle; Redis's error replies raise `ReplyError`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import UnixDomainSocketConnection

from metering.store import CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S, HiredisPackedConnection


class ReplyError(Exception):
    """Redis answered a command with an error (`NOSCRIPT ...`, `WRONGTYPE ...`): its message."""


class _Replies(asyncio.Protocol):
    """Feeds what Redis sends to hiredis's reader and answers the oldest waiting call with each whole reply."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ReplyError)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def usable(self) -> bool:
        """Connected and not being closed (a closed transport hears of it only on a later loop step)."""
        return self.transport is not None and not self.transport.is_closing()

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        reply = reader.gets()
        while reply is not False:
            if waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)
            reply = reader.gets()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"the store closed the connection: {exc or 'EOF'}"))


def _expire(future: asyncio.Future[Any], transport: asyncio.Transport) -> None:
    """A call's reply did not come in time: the call fails, and the connection goes (a late reply would answer
    the next call)."""
    if not future.done():
        future.set_exception(TimeoutError("the store did not answer in time"))
        transport.close()


class StoreWire:
    """One connection for one writer's calls, opened when first needed and again after a failure."""

    def __init__(
        self,
        host: str | None = None,
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        timeout_s: float = SOCKET_TIMEOUT_S,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout_s, self.timeout_s = connect_timeout_s, timeout_s
        self._replies: _Replies | None = None
        self._opening: asyncio.Lock | None = None

    @classmethod
    def for_store(cls, store: Any) -> StoreWire | None:
        """The wire to the server `store` (a client `open_store` made) talks to; None when it has none (above)."""
        if type(store) is not Redis:
            return None
        pool = store.connection_pool
        options = pool.connection_kwargs
        if options.get("credential_provider") is not None:
            return None  # credentials fetched per connection: the client's own code path
        common = {
            "db": int(options.get("db") or 0),
            "username": options.get("username"),
            "password": options.get("password"),
            "connect_timeout_s": options.get("socket_connect_timeout") or CONNECT_TIMEOUT_S,
            "timeout_s": options.get("socket_timeout") or SOCKET_TIMEOUT_S,
        }
        if pool.connection_class is HiredisPackedConnection:
            return cls(host=options.get("host", "localhost"), port=int(options.get("port", 6379)), **common)
        if pool.connection_class is UnixDomainSocketConnection:
            return cls(path=options["path"], **common)
        return None

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (hiredis's: bytes, int, list, ...)."""
        replies = self._replies
        if replies is None or not replies.usable:
            replies = await self._open()
        return await self._send(replies, args)

    async def aclose(self) -> None:
        replies, self._replies = self._replies, None
        if replies is not None and replies.transport is not None:
            replies.transport.close()

    async def _send(self, replies: _Replies, args: tuple[Any, ...]) -> Any:
        transport = replies.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("the store closed the connection")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        replies.waiting.append(future)
        transport.write(hiredis.pack_command(args))
        # A timer of the loop's own, not `asyncio.timeout` (a quarter of a call's instructions, measured)
        expiry = loop.call_at(loop.time() + self.timeout_s, _expire, future, transport)
        try:
            reply = await future
        finally:
            expiry.cancel()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def _open(self) -> _Replies:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:  # calls made while it opens wait for the one connection
            replies = self._replies
            if replies is not None and replies.usable:
                return replies
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.connect_timeout_s):
                if self.path is not None:
                    _, replies = await loop.create_unix_connection(_Replies, self.path)
                else:
                    _, replies = await loop.create_connection(_Replies, self.host, self.port)
            try:
                if self.password is not None:
                    credentials = (self.username, self.password) if self.username else (self.password,)
                    await self._send(replies, ("AUTH", *credentials))
                if self.db:
                    await self._send(replies, ("SELECT", self.db))
            except BaseException:
                if replies.transport is not None:
                    replies.transport.close()
                raise
            self._replies = replies
            return replies
