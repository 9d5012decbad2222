"""Pooled HTTP clients to the upstream tiers.

One `httpx.AsyncClient` per tier, created once at start, so every request reuses warm
keep-alive connections sized by the tier's `pool_size`. The router sends bytes it already
serialised and reads bytes back; nothing here parses JSON. Upstream keys come from the
environment at start and travel only in the upstream `Authorization` header.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from router.config import Tier


@dataclass(frozen=True, slots=True)
class UpstreamFailure(Exception):
    """No HTTP answer came back: the connection failed or timed out."""

    kind: str  # "connect_error" | "timeout" | "protocol_error"
    detail: str


class UpstreamPool:
    """The per-tier clients. Use `send` for a streamed response, `aclose` at shutdown."""

    def __init__(self, tiers: dict[str, Tier]) -> None:
        self._clients = {name: _client_for(tier) for name, tier in tiers.items()}

    def client(self, tier: str) -> httpx.AsyncClient:
        return self._clients[tier]

    async def send(self, tier: str, path: str, payload: bytes) -> httpx.Response:
        """POST `payload` to the tier and return as soon as the status line and headers arrive.

        The body is left unread (the caller streams it or reads it) so that SSE can be relayed
        chunk by chunk. Failures without an HTTP answer raise `UpstreamFailure`.
        """
        client = self._clients[tier]
        request = client.build_request("POST", path, content=payload)
        try:
            return await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamFailure("timeout", f"{type(exc).__name__}") from exc
        except httpx.ConnectError as exc:
            raise UpstreamFailure("connect_error", str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure("protocol_error", str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def _client_for(tier: Tier) -> httpx.AsyncClient:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    key = tier.api_key()
    if key:
        headers["authorization"] = f"Bearer {key}"
    return httpx.AsyncClient(
        base_url=tier.base_url,
        headers=headers,
        timeout=httpx.Timeout(tier.timeouts.read, connect=tier.timeouts.connect, pool=tier.timeouts.connect),
        limits=httpx.Limits(max_connections=tier.pool_size, max_keepalive_connections=tier.pool_size),
        follow_redirects=False,
        trust_env=False,  # an HTTP(S)_PROXY meant for the app must not reroute upstream traffic silently
    )
