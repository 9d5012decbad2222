"""The response that answers a JSON request: the answer's bytes, then what waits until they have left.

Starlette's `Response` with a `BackgroundTask` does the same, in more steps on every request: the task
asks `inspect` whether its function is a coroutine function (five calls through `functools` and
`inspect`), and the headers are made in two list comprehensions and a `getattr`. Here the headers are
made in one pass, to the same bytes in the same order (the given ones lower-cased, then
`content-length`, then `content-type: application/json`), and the coroutine function is awaited as
it is. It is still a Starlette `Response` (status, body, headers) for whoever looks at it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from router.client_transport import release

_CONTENT_TYPE = (b"content-type", b"application/json")
_NO_LENGTH = (204, 304)  # and every status below 200, as Starlette's `Response`


class JsonAnswer(Response):
    """`body` with `headers`; once it is sent, `await after(*args)` (as a background task, on the event loop)."""

    media_type = "application/json"

    def __init__(
        self,
        body: bytes,
        status_code: int,
        headers: Mapping[str, str],
        after: Callable[..., Awaitable[None]],
        *args: Any,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self._after = after
        self._args = args
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if status_code >= 200 and status_code not in _NO_LENGTH:
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        raw.append(_CONTENT_TYPE)
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})
        release(scope)
        await self._after(*self._args)
