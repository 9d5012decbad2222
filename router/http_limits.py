"""Limits on a request's header block — size, count, how long a client may take to send it — and on its body's time.

uvicorn's httptools protocol accepts headers of any size and number and waits for them forever
(500 connections with partial headers were held for as long as their clients liked; a 1 MB header
and 5,000 headers were accepted), and a body trickled a byte every few seconds was held as long.
This protocol is uvicorn's own with four checks added in its parser callbacks — after the headers only
one timer per request, started when they are complete and cancelled when the body is: too large or too
many headers → 431, headers not complete within `header_timeout_s` of the connection opening (or of
the request's first byte on a kept-alive connection) → 408, a body not complete within `body_timeout_s`
of its headers → 408; then the connection is closed. Those answers, and the 400 for a request that is
not HTTP at all (uvicorn's own is plain text), are written by the `Boundary` (router/boundary.py) like
every other refusal: OpenAI-shaped JSON, counted in `routetax_rejections_total`. An idle kept-alive
connection is closed after `keep_alive_s` (uvicorn's 5 s raced the clients' own expiry: config.Server).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from router.accept_burst import AcceptsWaitingConnections
from router.boundary import Boundary
from router.client_transport import ExposesClientTransport
from router.config import Server
from router.errors import ProxyError, Refusal


class _Refused(Exception):
    """Stops the parser after the connection has been answered and closed."""


class GuardedHttpTools(HttpToolsProtocol):
    max_header_bytes = 64 * 1024
    max_headers = 100
    header_timeout_s = 10.0
    body_timeout_s = 60.0
    keep_alive_s = 120.0
    boundary: Boundary  # set by `guarded_protocol`: it answers and counts this protocol's refusals

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive = self.keep_alive_s  # uvicorn's own is 5 s: see `Server.keep_alive_s`
        self._refused = False
        self._header_bytes = 0
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout_s, self._too_slow)
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._stop_body_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_timer()
        super().on_headers_complete()
        if not self._refused:
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._stop_body_timer()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # The parser reports our own stop as a parse error: that request was already answered.
        self._refuse(Refusal.INVALID_HTTP, msg)

    def _count(self, size: int, headers: int) -> None:
        self._header_bytes += size
        self._header_count += headers
        if self._header_bytes > self.max_header_bytes or self._header_count > self.max_headers:
            limits = f"at most {self.max_headers} headers and {self.max_header_bytes} bytes"
            self._refuse(Refusal.HEADERS_TOO_LARGE, f"Request headers too large: {limits}.")
            raise _Refused

    def _too_slow(self) -> None:
        self._header_timer = None
        self._refuse(Refusal.HEADER_TIMEOUT, f"Request headers not received within {self.header_timeout_s:g} s.")

    def _body_too_slow(self) -> None:
        self._body_timer = None
        self._refuse(Refusal.BODY_TIMEOUT, f"Request body not received within {self.body_timeout_s:g} s.")

    def _refuse(self, refusal: Refusal, message: str) -> None:
        """Answer (once per connection) and close: the rest of what the client sends is not read."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._stop_timer()
        self._stop_body_timer()
        self.transport.write(self.boundary.raw(ProxyError(refusal, message)))
        self.transport.close()

    def _stop_body_timer(self) -> None:
        timer = getattr(self, "_body_timer", None)
        if timer is not None:
            timer.cancel()
            self._body_timer = None

    def _stop_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None


def guarded_protocol(server: Server, boundary: Boundary) -> type[Any]:
    """The protocol class for uvicorn's `http=` setting, with this configuration's limits and its app's boundary.

    It also gives every request's scope its `ClientTransport` (router/client_transport.py), the relay's fast path,
    and takes every waiting connection when it accepts one (router/accept_burst.py).
    """
    return type(
        "RoutetaxHttpTools",
        (AcceptsWaitingConnections, ExposesClientTransport, GuardedHttpTools),
        {
            "max_header_bytes": server.max_header_bytes,
            "max_headers": server.max_headers,
            "header_timeout_s": server.header_timeout_s,
            "body_timeout_s": server.body_timeout_s,
            "keep_alive_s": server.keep_alive_s,
            "boundary": boundary,
        },
    )
