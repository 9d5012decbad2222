"""Connections of their own to the store for the shared task index's writes and lookups, without the client's layers.

The shared task index (router.tasks.shared) writes every filed answer to Redis within milliseconds — up to a few
hundred script calls a second on a busy proxy — and a worker of `serve --workers N` looks up most continuations
another worker answered. Through the redis-py asyncio client one script call cost ~284,000 instructions of the
proxy's event loop and one two-command lookup ~313,000 (callgrind, uvloop: the pool's checkout and release, the
retry wrapper, an `asyncio.wait_for` task per read and per write, the event dispatch, stream readers) — more than
identifying a request's task (~119,000). Here a call is its commands packed by hiredis (C) into one write, and
their replies parsed by hiredis's reader as the bytes arrive (`asyncio.Protocol`, no stream layer, no task):
~45,000 and ~57,000.

Only plain `redis://` stores (the client `metering.store.open_store` makes for such a URL, TCP or `unix://`):
a `rediss://` store, a Redis Cluster or the in-process stand-in has no wire (`for_store` returns None) and the
index keeps using the client. The connection opens on the first call and after any failure: it authenticates
and selects the database as the client's URL says. Replies answer calls in the order they were sent, so a call
its caller gave up on (a lookup's own deadline) still takes its reply off the connection when it comes. A call
whose replies do not all come within the client's socket timeout closes the connection (a late reply would
answer the next call) and raises; so does a lost connection, for every call in flight. Errors are the caller's
to handle; Redis's error replies raise `ReplyError` (`call`) or come back as one (`calls`).
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


def _expire(futures: list[asyncio.Future[Any]], transport: asyncio.Transport) -> None:
    """A call's replies did not all come in time: the call fails, and the connection goes (a late reply would
    answer the next call)."""
    for future in futures:
        if not future.done():
            future.set_exception(TimeoutError("the store did not answer in time"))
    transport.close()


class StoreWire:
    """One connection whose calls are answered in the order sent, opened when first needed and again after a failure."""

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
        """Send one command and return its reply (hiredis's: bytes, int, list, ...). Not through `calls`: one
        coroutine fewer on every write of the task index (~3,000 instructions, measured)."""
        replies = self._replies
        if replies is None or not replies.usable:
            replies = await self._open()
        (reply,) = await self._send(replies, (args,))
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def calls(self, commands: tuple[tuple[Any, ...], ...] | list[tuple[Any, ...]]) -> list[Any]:
        """Send several commands in one write (a pipeline) and return their replies in order, an error reply as
        its `ReplyError` (not raised)."""
        replies = self._replies
        if replies is None or not replies.usable:
            replies = await self._open()
        return await self._send(replies, commands)

    async def aclose(self) -> None:
        replies, self._replies = self._replies, None
        if replies is not None and replies.transport is not None:
            replies.transport.close()

    async def _send(
        self, replies: _Replies, commands: tuple[tuple[Any, ...], ...] | list[tuple[Any, ...]]
    ) -> list[Any]:
        transport = replies.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("the store closed the connection")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in commands]
        replies.waiting.extend(futures)
        pack = hiredis.pack_command
        transport.write(pack(commands[0]) if len(futures) == 1 else b"".join(map(pack, commands)))
        # A timer of the loop's own, not `asyncio.timeout` (a quarter of a call's instructions, measured)
        expiry = loop.call_at(loop.time() + self.timeout_s, _expire, futures, transport)
        results = []
        try:
            for future in futures:
                results.append(await future)
        except BaseException:
            for future in futures:  # the failure of one is the call's: the others' are read, not logged as lost
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        finally:
            expiry.cancel()
        return results

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
                greeting: list[tuple[Any, ...]] = []
                if self.password is not None:
                    greeting.append(
                        ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                    )
                if self.db:
                    greeting.append(("SELECT", self.db))
                for reply in await self._send(replies, greeting) if greeting else ():
                    if isinstance(reply, ReplyError):
                        raise reply
            except BaseException:
                if replies.transport is not None:
                    replies.transport.close()
                raise
            self._replies = replies
            return replies
