"""The ASGI entry point: the proxied APIs go straight to the proxy, everything else to FastAPI.

FastAPI earns its keep on the management surface (OpenAPI schema, query parameters, error
handlers), but on every proxied request its router, dependency solver and half a dozen
middleware layers cost more CPU than routetax's own routing decision (py-spy: ~10 % of the
proxy's CPU at 2k req/s). `Proxy.handle` already reads and validates the body itself, so `POST
/v1/chat/completions`, `/v1/responses` and `/v1/embeddings` skip that stack; the endpoints stay declared on the
FastAPI app for the schema. Skipping it skips FastAPI's exception handlers too, so a failure here
goes to the same `Boundary` (router/boundary.py) those handlers use: counted and answered alike.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request

from router.apis.base import Api
from router.boundary import Boundary
from router.serving.proxy import Proxy

HOT_PATHS: dict[str, Api] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
}


class HotRoutes:
    """An ASGI app wrapping the FastAPI app; attribute access (state, routes, openapi) reaches FastAPI."""

    def __init__(self, app: FastAPI, proxy: Proxy, boundary: Boundary) -> None:
        self.app = app
        self.proxy = proxy
        self.boundary = boundary
        self.http_protocol: Any = "httptools"  # uvicorn's `http=`: create_app sets the header-limited protocol

    def begin_shutdown(self, grace_s: float) -> None:
        """The server stops taking connections: streams still open after `grace_s` are ended by the relay."""
        self.proxy.relay.end_streams_after(grace_s)

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
        except Exception as exc:  # a refusal, or a bug: the boundary tells them apart
            response = self.boundary.answer(exc)
        await response(scope, receive, send)
