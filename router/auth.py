"""Who may come in: client keys, their tiers, budgets and rates, and the admin surface.

`open` mode lets everyone in (local use, the demo); `keys` mode — the default whenever a
Redis store is configured — requires a virtual key (`routetax keys create`). The client's
`Authorization` header is read here and never travels upstream.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from metering.metrics import Metrics
from metering.prices import Price
from metering.record import Record
from router.config import Config
from router.errors import ProxyError
from router.keys import KeyStore, KeyStoreDown, VirtualKey

log = logging.getLogger("routetax.auth")

DEFAULT_MAX_OUTPUT = 512  # tokens assumed for a reservation when the request sets no limit


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value or not value.lower().startswith("bearer "):
        return None
    token = value[7:].strip()
    return token or None


class Gatekeeper:
    def __init__(self, config: Config, prices: dict[str, Price | None], metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.prices = prices
        durable = config.store.redis_url is not None
        self.mode = config.auth.mode or ("keys" if durable else "open")
        self.keys: KeyStore | None = None
        self._admin = os.environ.get(config.auth.admin_key_env) if config.auth.admin_key_env else None
        self._metrics_token = os.environ.get(config.auth.metrics_token_env) if config.auth.metrics_token_env else None
        self._pending: dict[str, tuple[VirtualKey, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, redis: Any) -> None:
        if self.mode == "keys":
            self.keys = KeyStore(redis, self.config.auth.cache_s)
            log.warning("auth: KEYS mode — every request needs a routetax virtual key (routetax keys create)")
        else:
            log.warning("auth: OPEN mode — no client keys are checked; do not expose this port beyond localhost")
        if self._admin is None:
            log.warning(
                "auth: no admin key (%s unset): the management surface is %s",
                self.config.auth.admin_key_env,
                "closed" if self.mode == "keys" else "open",
            )

    async def authenticate(self, headers: Mapping[str, str]) -> VirtualKey | None:
        if self.mode == "open" or self.keys is None:
            return None
        secret = bearer(headers)
        if secret is None:
            raise ProxyError(
                401,
                "You didn't provide an API key. Send a routetax key as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        try:
            key = await self.keys.lookup(secret)
        except KeyStoreDown:
            raise ProxyError(
                503,
                "The key store is unreachable; this key cannot be checked right now.",
                code="key_store_unavailable",
                retry_after_s=1,
            ) from None
        if key is None:
            raise ProxyError(401, "Incorrect API key provided (unknown or revoked).", code="invalid_api_key")
        return key

    def allowed_plan(self, key: VirtualKey | None, plan: list[str]) -> list[str]:
        if key is None:
            return plan
        allowed = [tier for tier in plan if key.allows(tier)]
        if not allowed:
            raise ProxyError(
                403,
                f"This key may not use tier `{plan[0]}` (allowed: {', '.join(key.tiers or [])}).",
                code="tier_not_allowed",
                param="model",
            )
        return allowed

    async def admit(
        self, key: VirtualKey | None, record: Record, tier: str, body: dict[str, Any], body_bytes: int
    ) -> None:
        if key is None or self.keys is None:
            return
        reservation = self._estimate(tier, body, body_bytes)
        try:
            verdict, wait_s = await self.keys.admit(key, reservation)
        except Exception as exc:  # the store blinked: serve (the ledger spools the spend), say so
            log.warning("auth: budget/rate check skipped for key %s, store unreachable: %s", key.id, exc)
            record.key_id = key.id
            return
        if verdict == "budget":
            resets = datetime.fromtimestamp(round(time.time() + wait_s), UTC).isoformat(timespec="seconds")
            period = {"day": "daily", "month": "monthly"}.get(key.period, key.period)
            raise ProxyError(
                429,
                f"Key `{key.name}` has used its {period} budget of ${key.budget_usd:g}; it resets at {resets}.",
                code="budget_exceeded",
                retry_after_s=wait_s,
            )
        if verdict in ("rpm", "tpm"):
            what = "requests" if verdict == "rpm" else "tokens"
            limit = key.rpm if verdict == "rpm" else key.tpm
            raise ProxyError(
                429,
                f"Key `{key.name}` reached its limit of {limit} {what} per minute.",
                code="rate_limit_exceeded",
                retry_after_s=wait_s,
            )
        record.key_id = key.id
        self._pending[record.request_id] = (key, reservation)

    def settle(self, record: Record) -> None:
        """Charge the real cost (from the record) and release the reservation, in the background."""
        admitted = self._pending.pop(record.request_id, None)
        if admitted is None or self.keys is None:
            return
        key, reservation = admitted
        if self.metrics is not None:  # the same cost the budget is charged below, so the two agree
            self.metrics.observe_key(key.id, key.name, key.team, key.period, key.budget_usd, record.cost_usd)
        tokens = record.usage.total_tokens if record.usage else 0
        task = asyncio.get_running_loop().create_task(
            self.keys.settle(key.id, key.period, record.started_at, reservation, record.cost_usd, tokens)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def check_admin(self, headers: Mapping[str, str]) -> None:
        if self._admin is None:
            if self.mode == "keys":
                raise ProxyError(
                    403,
                    f"The management surface needs an admin key ({self.config.auth.admin_key_env}).",
                    code="admin_key_not_configured",
                )
            return
        presented = bearer(headers)
        if presented is None or not hmac.compare_digest(presented, self._admin):
            raise ProxyError(401, "This endpoint needs the admin key.", code="invalid_admin_key")

    def check_metrics(self, headers: Mapping[str, str]) -> None:
        if self._metrics_token is None:
            return
        presented = bearer(headers)
        if presented is None or not hmac.compare_digest(presented, self._metrics_token):
            raise ProxyError(401, "/metrics needs its bearer token.", code="invalid_metrics_token")

    def _estimate(self, tier: str, body: dict[str, Any], body_bytes: int) -> float:
        """An upper-ish estimate of a request's cost: its bytes as prompt tokens, its output limit as completion."""
        price = self.prices.get(tier)
        if price is None:
            return 0.0
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
        output = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_OUTPUT
        return (body_bytes / 4) * price.standard.input + output * price.standard.output
