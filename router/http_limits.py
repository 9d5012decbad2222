"""Limits on a request's header block: size, count, and how long a client may take to send it.

uvicorn's httptools protocol accepts headers of any size and number and waits for them forever
(500 connections with partial headers were held for as long as their clients liked; a 1 MB header
and 5,000 headers were accepted). This protocol is uvicorn's own with three checks added in its
parser callbacks — nothing changes once the headers are complete, so the request path is untouched:
too large or too many headers → 431, headers not complete within `header_timeout_s` of the
connection opening (or of the request's first byte on a kept-alive connection) → 408; then the
connection is closed. Both answers are OpenAI-shaped JSON, like every other error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from router.config import Server
from router.errors import error_body


class _Refused(Exception):
    """Stops the parser after the connection has been answered and closed."""


class GuardedHttpTools(HttpToolsProtocol):
    max_header_bytes = 64 * 1024
    max_headers = 100
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._header_bytes = 0
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
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

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser reports our own stop as a parse error: already answered
            super().send_400_response(msg)

    def _count(self, size: int, headers: int) -> None:
        self._header_bytes += size
        self._header_count += headers
        if self._header_bytes > self.max_header_bytes or self._header_count > self.max_headers:
            self._refuse(
                431,
                f"Request headers too large: at most {self.max_headers} headers and {self.max_header_bytes} bytes.",
                "headers_too_large",
            )
            raise _Refused

    def _too_slow(self) -> None:
        self._header_timer = None
        self._refuse(408, f"Request headers not received within {self.header_timeout_s:g} s.", "header_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._stop_timer()
        body = error_body(message, status=status, code=code)
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body))
            + body
        )
        self.transport.close()

    def _stop_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None


def guarded_protocol(server: Server) -> type[Any]:
    """The protocol class for uvicorn's `http=` setting, with this configuration's limits."""
    return type(
        "RoutetaxHttpTools",
        (GuardedHttpTools,),
        {
            "max_header_bytes": server.max_header_bytes,
            "max_headers": server.max_headers,
            "header_timeout_s": server.header_timeout_s,
        },
    )
