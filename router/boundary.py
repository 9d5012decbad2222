"""The one place a refusal leaves routetax: counted, then answered in OpenAI's shape.

Refusals are found in many places — the proxy's intake, the management endpoints, FastAPI's own
routing (an unknown URL, a wrong method) and parameter validation, the HTTP protocol's header limits
(431, 408) and parser (malformed HTTP) — and a bug can surface anywhere. Each of those places hands
what stopped the request to this boundary, so every answer has the same shape and headers
(`Retry-After`, `x-should-retry: false` when retrying cannot help) and every one is counted in
`routetax_rejections_total{status, reason}`: a refusal that is answered but not counted cannot happen.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from metering.logs import access
from metering.metrics import Metrics
from router.errors import ProxyError, Refusal

log = logging.getLogger("routetax")

INTERNAL_ERROR_MESSAGE = "routetax hit an internal error; the request was not completed."
CLIENT_CLOSED_STATUS = 499  # nginx's name for it: the client left before its request was complete


class Boundary:
    """Turns whatever stopped a request into its counted, OpenAI-shaped answer."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def install(self, app: FastAPI) -> None:
        """Make this boundary FastAPI's handler for everything that can stop a request on its stack."""
        for stopped_by in (ProxyError, HTTPException, RequestValidationError, Exception):
            app.add_exception_handler(stopped_by, self._handle)

    async def _handle(self, _request: Request, exc: Exception) -> Response:
        return self.answer(exc)

    def answer(self, exc: BaseException) -> Response:
        """The ASGI answer: for a refusal, FastAPI's routing and validation errors, or a bug (logged, 500).

        A client that left while its body was being read is no refusal and no bug: nobody is there to read an
        answer, so it gets an empty 499 (what the server writes to a closed connection is dropped), uncounted.
        """
        if isinstance(exc, ClientDisconnect):
            return Response(status_code=CLIENT_CLOSED_STATUS)
        refusal = refusal_for(exc)
        self.count(refusal)
        access.refused(refusal.status, refusal.code, _added_ms(refusal))
        return refusal.response()

    def raw(self, exc: ProxyError) -> bytes:
        """The whole HTTP/1.1 answer, for the protocol layer, which refuses before any ASGI app runs.

        The connection is closed after it (`connection: close`): what the client sent next cannot be trusted.
        """
        self.count(exc)
        body = exc.body()
        status = HTTPStatus(exc.status)
        headers = {"content-type": "application/json", "content-length": str(len(body)), **exc.headers()}
        headers["connection"] = "close"
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"HTTP/1.1 {status.value} {status.phrase}\r\n{head}\r\n".encode("latin-1") + body

    def count(self, exc: ProxyError) -> None:
        self.metrics.rejected(exc.status, exc.code)


def _added_ms(refusal: ProxyError) -> float | None:
    """The time routetax took to refuse, as its answer's `x-routetax-overhead-ms` says (None: not measured)."""
    try:
        return float(refusal.context["x-routetax-overhead-ms"])
    except (KeyError, ValueError):
        return None


def refusal_for(exc: BaseException) -> ProxyError:
    """What a request was stopped by, as one of routetax's refusals.

    Starlette's routing raises `HTTPException` (404, and 405 with the `Allow` header it computed);
    routetax raises only `ProxyError`. Any other status Starlette may raise is the client's request
    being unacceptable: `invalid_request` with Starlette's own explanation.
    """
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            refusal = ProxyError(Refusal.UNKNOWN_URL, "Unknown request URL.")
        elif exc.status_code == 405:
            refusal = ProxyError(Refusal.METHOD_NOT_ALLOWED, "Method not allowed for this URL.")
        else:
            refusal = ProxyError(Refusal.INVALID_REQUEST, str(exc.detail))
        refusal.context.update(exc.headers or {})
        return refusal
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        location = errors[0].get("loc", ()) if errors else ()
        param = str(location[-1]) if location else None
        return ProxyError(Refusal.INVALID_REQUEST, f"Invalid request: {errors}", param=param)
    log.error("unexpected error while serving a request", exc_info=exc)
    return ProxyError(Refusal.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE)
