"""The emulator's door: what every request carried, and, when a key is set, OpenAI's 401 without it.

Tests and users dry-running routetax ask `GET /_mock/headers` what routetax sent upstream (its
`Authorization`, the trace and idempotency headers it passes on, and nothing it must not); an emulator
started with a key (`--api-key`) refuses requests that lack it as OpenAI does, so a misconfigured
`api_key_env` shows on the emulator as it would at the provider. `/_mock/*` is always open.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson

RECEIVED_KEPT = 256  # the most recent requests whose headers `GET /_mock/headers` lists

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def _masked(key: str) -> str:
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


class Door:
    """ASGI middleware in front of the emulator's routes."""

    def __init__(self, app: Any, received: deque[dict[str, Any]], api_key: str | None = None) -> None:
        self.app = app
        self.received = received
        self.api_key = api_key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_mock/"):
            await self.app(scope, receive, send)
            return
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        self.received.append({"method": scope["method"], "path": path, "headers": headers})
        refusal = self._refusal(dict(headers).get("authorization"))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(refusal)
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, authorization: str | None) -> dict[str, Any] | None:
        """OpenAI's 401 body for a missing or wrong key, or None: let it in."""
        if self.api_key is None:
            return None
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and given.strip() == self.api_key:
            return None
        if not given.strip():
            message, code = _NO_KEY, None
        else:
            message, code = f"Incorrect API key provided: {_masked(given.strip())}.", "invalid_api_key"
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def new_received() -> deque[dict[str, Any]]:
    return deque(maxlen=RECEIVED_KEPT)
