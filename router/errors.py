"""Errors in OpenAI's format, whatever produced them.

Clients use the official SDKs, which map status codes to exception classes and read
`{"error": {"message", "type", "param", "code"}}`. So every error routetax answers —
its own, or an upstream's in another dialect (router/dialects) — takes exactly that
shape, with the upstream's status preserved.
"""

from __future__ import annotations

import math
from enum import Enum

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


# The openai SDK retries 408, 409, 429 and 5xx unless the answer says this header is "false".
SHOULD_RETRY_HEADER = "x-should-retry"

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


class Refusal(Enum):
    """Every answer routetax gives on its own account, instead of an upstream's: a closed set.

    Each member is (code, HTTP status, final). `final` says retrying the same request cannot help
    (the client's mistake, or a limit that stays): such answers carry `x-should-retry: false`, so the
    openai SDK does not multiply load by retrying them. Every refusal is counted in
    `routetax_rejections_total{status, reason}` by the one boundary that answers it.
    """

    # the request itself
    INVALID_JSON = ("invalid_json", 400, True)
    INVALID_TYPE = ("invalid_type", 400, True)
    INVALID_VALUE = ("invalid_value", 400, True)
    MISSING_REQUIRED_PARAMETER = ("missing_required_parameter", 400, True)
    INVALID_HEADER = ("invalid_header", 400, True)
    INVALID_HTTP = ("invalid_http", 400, True)  # not parseable as HTTP/1.1: answered by router/http_limits
    INVALID_REQUEST = ("invalid_request", 400, True)  # a management endpoint's parameters (FastAPI's validation)
    BODY_TOO_LARGE = ("body_too_large", 413, True)
    HEADERS_TOO_LARGE = ("headers_too_large", 431, True)
    HEADER_TIMEOUT = ("header_timeout", 408, False)
    BODY_TIMEOUT = ("body_timeout", 408, False)
    UNKNOWN_URL = ("unknown_url", 404, True)
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, True)
    # what it names
    MODEL_NOT_FOUND = ("model_not_found", 404, True)
    PREVIOUS_RESPONSE_NOT_FOUND = ("previous_response_not_found", 404, True)
    RESPONSE_NOT_FOUND = ("response_not_found", 404, True)
    REQUEST_NOT_FOUND = ("request_not_found", 404, True)
    TASK_NOT_FOUND = ("task_not_found", 404, True)
    RESPONSES_NOT_SUPPORTED = ("responses_not_supported", 400, True)
    EMBEDDINGS_NOT_CONFIGURED = ("embeddings_not_configured", 404, True)
    # who asks
    MISSING_API_KEY = ("missing_api_key", 401, True)
    INVALID_API_KEY = ("invalid_api_key", 401, True)
    INVALID_ADMIN_KEY = ("invalid_admin_key", 401, True)
    INVALID_METRICS_TOKEN = ("invalid_metrics_token", 401, True)
    ADMIN_KEY_NOT_CONFIGURED = ("admin_key_not_configured", 403, True)
    METRICS_TOKEN_NOT_CONFIGURED = ("metrics_token_not_configured", 403, True)
    TIER_NOT_ALLOWED = ("tier_not_allowed", 403, True)
    # limits and availability
    BUDGET_EXCEEDED = ("budget_exceeded", 429, True)  # until the period resets: no retry helps
    # what is left of the budget is held by requests in flight: Retry-After says by when enough of them end
    BUDGET_HELD = ("budget_held", 429, False)
    # this request's worst case costs more than what is left of the budget: a smaller output cap may fit
    REQUEST_OVER_BUDGET = ("request_over_budget", 429, True)
    # this request alone may use more tokens than the key's tpm allows in a minute: a smaller output cap may fit
    REQUEST_TOO_LARGE = ("request_too_large", 429, True)
    RATE_LIMIT_EXCEEDED = ("rate_limit_exceeded", 429, False)  # after Retry-After it will pass
    KEY_STORE_UNAVAILABLE = ("key_store_unavailable", 503, False)
    LIMIT_STORE_UNAVAILABLE = ("limit_store_unavailable", 503, False)
    LEDGER_UNAVAILABLE = ("ledger_unavailable", 503, False)  # neither Redis nor the spool can keep a record
    NO_TIER_AVAILABLE = ("no_tier_available", 503, False)  # every tier's breaker is open: Retry-After says when
    INTERNAL_ERROR = ("internal_error", 500, False)  # a bug in routetax: logged with its traceback

    def __init__(self, code: str, status: int, final: bool) -> None:
        self.code = code
        self.status = status
        self.final = final

    @property
    def error_type(self) -> str:
        return error_type_for(self.status)


class ProxyError(Exception):
    """A refusal, raised where it is found and answered by one boundary (`router.boundary`).

    Whatever the request had already gathered for its answer's headers (its request id, the proxy's
    overhead so far) is added to `context` on the way up, so the client sees them on the error too.
    """

    def __init__(
        self, refusal: Refusal, message: str, *, param: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.param = param
        self.retry_after_s = retry_after_s
        self.context: dict[str, str] = {}

    @property
    def status(self) -> int:
        return self.refusal.status

    @property
    def code(self) -> str:
        return self.refusal.code

    def headers(self) -> dict[str, str]:
        headers = dict(self.context)
        if self.retry_after_s is not None:
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
        if self.refusal.final:
            headers[SHOULD_RETRY_HEADER] = "false"
        return headers

    def body(self) -> bytes:
        return error_body(self.message, status=self.status, code=self.code, param=self.param)

    def response(self) -> Response:
        return Response(self.body(), status_code=self.status, media_type="application/json", headers=self.headers())


ECHO_LIMIT = 80  # characters of a client's own value quoted back in a refusal


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A client's value (a model, an id) as a refusal quotes it: whole when short, else its start and its length.

    A 1 MB `model` must not come back as a 1 MB error; its first characters are enough to recognise it.
    """
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def error_code_of(raw: bytes) -> str | None:
    """The `error.code` of an (already normalised) error body, for retry decisions and metrics."""
    try:
        code = orjson.loads(raw).get("error", {}).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, str) else None
