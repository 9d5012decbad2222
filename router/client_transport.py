"""The client's connection, for a relay that writes a streamed body itself instead of through ASGI `send`.

A relayed stream is thousands of small events. Sent through ASGI, each one is a coroutine call into
uvicorn's `send`, which checks its state machine and frames the bytes before `transport.write`; written
here, an event is framed and written from the callback that received it from the upstream, with no task
wake-up in between (router/upstream_tap.py). uvicorn offers no such door, so routetax's own uvicorn
protocol (router/http_limits.py) sets one on every request's scope: `scope["extensions"][EXTENSION]`, a
`ClientTransport` around uvicorn's request/response cycle. The response's start and its end still go
through `send` (status line, headers, the terminating chunk, keep-alive): only the body in between is
written here, framed as uvicorn frames it. Under another ASGI server, or an in-process test transport,
the extension is absent and the relay sends through ASGI (router/stream_response.py).

What this relies on in uvicorn's httptools protocol (0.55, pinned by tests/test_client_transport.py): the
cycle's `transport`, `flow` (`write_paused`, `drain()`), `disconnected`, `response_started` and
`chunked_encoding`, and that its `send` writes chunked body messages as `<hex size>\\r\\n<body>\\r\\n`.
"""

from __future__ import annotations

from typing import Any

EXTENSION = "routetax.transport"


class ClientTransport:
    """One request's connection: write the body's pieces directly, with uvicorn's flow control."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle

    @property
    def chunked(self) -> bool:
        """The response has started and its body is chunk-framed: the only form `write` speaks."""
        return bool(self._cycle.response_started and self._cycle.chunked_encoding)

    def write(self, body: bytes) -> None:
        """One chunk of the body; nothing once the client has gone (its disconnect ends the relay)."""
        cycle = self._cycle
        if body and not cycle.disconnected and not cycle.transport.is_closing():
            cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))

    @property
    def paused(self) -> bool:
        """The client's socket buffer is full: stop producing until `drain` returns."""
        return bool(self._cycle.flow.write_paused) and not self._cycle.disconnected

    async def drain(self) -> None:
        """Wait until the client's transport takes writes again (at once when it does, or the client left)."""
        cycle = self._cycle
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()


def release(scope: Any) -> None:
    """Drop the request's `ClientTransport` once its response is sent. It refers to uvicorn's cycle, which refers
    to the scope that holds it: left in place, the three (and the scope's dicts) are a reference cycle that waits
    for the collector instead of going with the request (~16 objects a request found by young collections)."""
    extensions = scope.get("extensions")
    if extensions:
        extensions.pop(EXTENSION, None)


def client_transport(scope: Any) -> ClientTransport | None:
    """The request's `ClientTransport`, when the server set one and the response is chunk-framed."""
    transport = scope.get("extensions", {}).get(EXTENSION)
    return transport if transport is not None and transport.chunked else None


class ExposesClientTransport:
    """A uvicorn httptools protocol mixin: every request's scope carries its `ClientTransport`."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # type: ignore[misc]
        cycle = getattr(self, "cycle", None)
        scope = getattr(self, "scope", None)
        if cycle is not None and cycle.scope is scope:  # not an upgrade or a refused request
            scope.setdefault("extensions", {})[EXTENSION] = ClientTransport(cycle)
