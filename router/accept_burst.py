"""Accept every connection waiting on the listening socket, not one per event-loop iteration.

uvloop 0.23 (its bundled libuv 1.52) accepts exactly one connection each time the loop reports the
listening socket readable, so at most one per loop iteration (asyncio's own loop accepts up to the backlog
at once; `strace` on a loaded proxy: one `accept4` per `epoll_pwait`, never an EAGAIN). An iteration of a
proxy relaying 1,000 streams handles hundreds of ready sockets and lasts tens of milliseconds, so while
streams open at 1,000 a second the accept rate falls to a few dozen a second: the kernel completes every
handshake, the clients' requests wait in the accept queue (hundreds deep), and their first token comes
seconds late (`bench/streams.py`: time-to-first-token p99 9.8 s at 1,000 streams, 31 ms direct).

So each connection accepted (`connection_made` of routetax's protocol, `AcceptsWaitingConnections`) takes
the rest of the queue with it: `AcceptBurst` accepts from a duplicate of the listening socket until it
would block, and hands each connection to the loop (`connect_accepted_socket`) with the same protocol
uvicorn would have built. libuv's own accept then finds the queue empty (EAGAIN, not an error to it).
The duplicate is closed when the server stops accepting (router/servers.DrainingServer), or the port
would go on taking connections.

What this relies on in uvicorn (0.55, pinned by tests/test_accept_burst.py): `Server.servers` after
startup, and the protocol's constructor arguments (`config`, `server_state`, `app_state`).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

# Connections taken per accepted one. Each of those takes as many again, so a queue of thousands drains in two
# or three loop iterations, while one `serve --workers` process never grabs a whole queue its siblings could share.
BURST_LIMIT = 64


class AcceptBurst:
    """Accepts what waits on some listening sockets and starts each connection with `protocol_factory`."""

    def __init__(self, listeners: list[Any], protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self._listeners = [_duplicate(listener) for listener in listeners]
        self._factory = protocol_factory
        self._starting: set[asyncio.Task[Any]] = set()

    def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            for _ in range(BURST_LIMIT):
                try:
                    connection, _ = listener.accept()
                except OSError:  # nothing waits (EAGAIN), or descriptors ran out: libuv's accept handles that
                    break
                connection.setblocking(False)
                if connection.family in (socket.AF_INET, socket.AF_INET6):
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop's own accept
                task = loop.create_task(loop.connect_accepted_socket(self._factory, connection))
                self._starting.add(task)
                task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[Any]) -> None:
        self._starting.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a client gone before its connection started is nothing to report

    def close(self) -> None:
        """Stop accepting: the listening sockets close for good once uvicorn closes its own."""
        for listener in self._listeners:
            listener.close()
        self._listeners = []


def _duplicate(listener: Any) -> socket.socket:
    """A non-blocking socket object on the same listening socket (uvloop's own is not one that accepts)."""
    duplicate = socket.socket(fileno=os.dup(listener.fileno()))
    duplicate.setblocking(False)
    return duplicate


class AcceptsWaitingConnections:
    """A uvicorn protocol mixin: each accepted connection takes the others waiting with it (`AcceptBurst`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        burst = getattr(getattr(self, "server_state", None), "accept_burst", None)
        if burst is not None:
            burst()


def install(server: Any) -> AcceptBurst | None:
    """After uvicorn's startup: an `AcceptBurst` on its listening sockets, when its protocol asks for one."""
    config = server.config
    protocol_class = config.http_protocol_class
    if not (isinstance(protocol_class, type) and issubclass(protocol_class, AcceptsWaitingConnections)):
        return None
    listeners = [listener for running in server.servers for listener in (running.sockets or ())]
    if not listeners:
        return None

    def protocol() -> asyncio.Protocol:  # what uvicorn's startup builds for each connection
        return protocol_class(config=config, server_state=server.server_state, app_state=server.lifespan.state)

    burst = AcceptBurst(listeners, protocol)
    server.server_state.accept_burst = burst
    return burst
