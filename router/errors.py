"""Errors in OpenAI's format, whatever produced them.

Clients use the official SDKs, which map status codes to exception classes and read
`{"error": {"message", "type", "param", "code"}}`. So every error routetax answers —
its own, or an upstream's in another dialect (router/dialects) — takes exactly that
shape, with the upstream's status preserved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import orjson
from starlette.responses import Response

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    408: "timeout",
    409: "conflict",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


OPENAI_ERROR_TYPES = frozenset(_TYPE_BY_STATUS.values()) | {"server_error", "insufficient_quota", "not_found_error"}


def error_type_for(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(
    message: str, *, status: int, code: str | None = None, param: str | None = None, type_: str | None = None
) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_ or error_type_for(status), "param": param, "code": code}}
    )


class ProxyError(Exception):
    """An error routetax answers itself: raised where it is found, answered by one handler (`hot_routes.refused`).

    Whatever the request had already gathered for its answer's headers (its request id, the proxy's
    overhead so far) is added to `context` on the way up, so the client sees them on the error too.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after_s = retry_after_s
        self.context: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return self.context
        return {**self.context, "retry-after": str(max(1, math.ceil(self.retry_after_s)))}

    def body(self) -> bytes:
        return error_body(self.message, status=self.status, code=self.code, param=self.param)

    def response(self) -> Response:
        return Response(self.body(), status_code=self.status, media_type="application/json", headers=self.headers())


def error_code_of(raw: bytes) -> str | None:
    """The `error.code` of an (already normalised) error body, for retry decisions and metrics."""
    try:
        code = orjson.loads(raw).get("error", {}).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, str) else None


# Key-shaped text: OpenAI-style keys (also masked ones, `sk-secre****-XYZ`), routetax keys, bearer credentials.
_KEY_SHAPED = (
    rb"(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_*.\-]{4,}",  # not inside a word: "risk-free" stays
    rb"(?<![A-Za-z0-9_\-])rt-[A-Za-z0-9_\-]{16,}",
    rb"(?i:\bbearer)\s+[^\s\"\\,;)'\]]+",
)
REDACTED = b"[redacted]"


class Scrubber:
    """Removes key material from upstream error bodies before they reach a client.

    Works on the bytes (the patterns cannot cross a JSON quote or escape), so a clean body is
    returned untouched — the upstream's own bytes — and a dirty one stays valid JSON.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        exact = [re.escape(secret.encode()) for secret in sorted(set(secrets), key=len, reverse=True) if secret]
        self._pattern = re.compile(b"|".join([*exact, *_KEY_SHAPED]))

    def __call__(self, body: bytes) -> bytes:
        return self._pattern.sub(REDACTED, body)
