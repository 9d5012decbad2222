"""The ASGI entry point: the two proxy endpoints go straight to the proxy, everything else to FastAPI.

FastAPI earns its keep on the management surface (OpenAPI schema, query parameters, error
handlers), but on every proxied request its router, dependency solver and half a dozen
middleware layers cost more CPU than routetax's own routing decision (py-spy: ~10 % of the
proxy's CPU at 2k req/s). `Proxy.handle` already reads and validates the body itself, so `POST
/v1/chat/completions` and `POST /v1/responses` skip that stack; the endpoints stay declared on the
FastAPI app for the schema. Skipping it skips FastAPI's exception handlers too, so the two answers
to a failure live here and both paths use them: `refused` for a `ProxyError`, `internal_error` for
a bug.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from router.apis.base import Api
from router.auth import Gatekeeper
from router.errors import ProxyError, error_body
from router.serving.proxy import Proxy

log = logging.getLogger("routetax")

HOT_PATHS: dict[str, Api] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
}


class HotRoutes:
    """An ASGI app wrapping the FastAPI app; attribute access (state, routes, openapi) reaches FastAPI."""

    def __init__(self, app: FastAPI, proxy: Proxy) -> None:
        self.app = app
        self.proxy = proxy
        self.http_protocol: Any = "httptools"  # uvicorn's `http=`: create_app sets the header-limited protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        api = HOT_PATHS.get(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        try:
            response = await self.proxy.handle(Request(scope, receive), api)
        except ProxyError as exc:
            response = refused(self.proxy.gate, exc)
        except Exception:
            response = internal_error()
        await response(scope, receive, send)


def refused(gate: Gatekeeper, exc: ProxyError) -> Response:
    """The answer to a request routetax refuses: counted (routetax_rejections_total), then OpenAI-shaped."""
    gate.rejected(exc)
    return exc.response()


def internal_error() -> Response:
    """The answer to a bug: logged with its traceback, OpenAI-shaped for the client."""
    log.exception("unexpected error while serving a request")
    body = error_body(
        "routetax hit an internal error; the request was not completed.", status=500, code="internal_error"
    )
    return Response(body, status_code=500, media_type="application/json")
