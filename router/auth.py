"""Who may come in: client keys, their tiers, budgets and rates, and the admin surface.

`open` mode lets everyone in (local use, the demo); `keys` mode — the default whenever a
Redis store is configured — requires a virtual key (`routetax keys create`). The client's
`Authorization` header is read here and never travels upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metering.metrics import Metrics
from metering.prices import Price, embedding_prices
from metering.record import Record
from router.config import Config
from router.errors import ProxyError, Refusal
from router.keys import Admission, GateAnswer, KeyStore, KeyStoreDown, VirtualKey
from router.rate_headers import key_rate_headers
from router.reservation import Reservation, TierLimits, embedding_worst_case, output_cap, worst_case
from router.settlements import SPOOL_SUBDIR, Settlement, Settlements

log = logging.getLogger("routetax.auth")

SETTLE_MARGIN_S = 5.0  # a reservation outlives its request's deadline by this much: the time its settlement takes
# A request still running within 2 x RENEW_EVERY_S of its reservation's expiry (a stream relayed past its deadline)
# holds it LEASE_S more, renewed while it runs: a process killed mid-request stops renewing, so its reservations
# expire by their requests' deadlines (plus the margin) or, past those, within LEASE_S of the last renewal.
RENEW_EVERY_S = 5.0
LEASE_S = 30.0


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value or not value.lower().startswith("bearer "):
        return None
    token = value[7:].strip()
    return token or None


def _usd(amount: float) -> str:
    """Dollars as a person reads them: cents to four places, more only when it is a fraction of a cent."""
    return f"${amount:,.4f}" if amount >= 0.01 else f"${amount:.6f}"


def _refusal(key: VirtualKey, answer: GateAnswer, worst: Reservation) -> ProxyError:
    """The 429 for a limit the gate refused on: each tells the truth about why, and when (if ever) to retry."""
    period = {"day": "daily", "month": "monthly"}.get(key.period, key.period)
    resets = ""
    if answer.admission in (Admission.BUDGET, Admission.SHORT):  # refused until the period resets
        resets = datetime.fromtimestamp(round(time.time() + answer.wait_s), UTC).isoformat(timespec="seconds")
    cap = "its output cap" if worst.output_cap is not None else "no output cap, so the model's output limit"
    if answer.admission is Admission.BUDGET:
        return ProxyError(
            Refusal.BUDGET_EXCEEDED,
            f"Key `{key.name}` has used its {period} budget of ${key.budget_usd:g}; it resets at {resets}.",
            retry_after_s=answer.wait_s,
        )
    if answer.admission is Admission.SHORT:
        return ProxyError(
            Refusal.REQUEST_OVER_BUDGET,
            f"This request could cost up to {_usd(worst.usd)} (its prompt and {cap}, on every tier and attempt its "
            f"plan may make), more than the {_usd(answer.left_usd)} left of key `{key.name}`'s {period} budget of "
            f"${key.budget_usd:g}; set a lower max_tokens (max_completion_tokens, max_output_tokens), or wait for "
            f"the budget to reset at {resets}.",
            retry_after_s=answer.wait_s,
        )
    if answer.admission is Admission.HELD:
        return ProxyError(
            Refusal.BUDGET_HELD,
            f"What is left of key `{key.name}`'s {period} budget is held by its requests in flight, and this "
            f"request could cost up to {_usd(worst.usd)}; it fits once enough of them end — by "
            f"{max(1, math.ceil(answer.wait_s))} s at the latest, their deadlines.",
            retry_after_s=answer.wait_s,
        )
    if answer.admission is Admission.TPM and math.isinf(answer.wait_s):
        return ProxyError(
            Refusal.REQUEST_TOO_LARGE,
            f"This request may use up to {worst.tokens:,} tokens (its prompt and {cap}), more than key "
            f"`{key.name}`'s limit of {key.tpm} tokens per minute; set a lower max_tokens (max_completion_tokens, "
            "max_output_tokens).",
        )
    what = "requests" if answer.admission is Admission.RPM else "tokens"
    limit = key.rpm if answer.admission is Admission.RPM else key.tpm
    return ProxyError(
        Refusal.RATE_LIMIT_EXCEEDED,
        f"Key `{key.name}` reached its limit of {limit} {what} per minute.",
        retry_after_s=answer.wait_s,
    )


LOG_EVERY_S = 10.0
# where a request's output cap goes, per API (a key's default cap is set under the name its API reads)
DEFAULT_CAP_FIELD = {"chat": "max_completion_tokens", "responses": "max_output_tokens"}


def apply_default_cap(key: VirtualKey, api: str, body: dict[str, Any]) -> None:
    """A request that sets no output cap gets its key's default one, if the key has one: what it reserves is then
    what its budget can cover, and the upstream stops there. (OpenAI's reasoning models take only
    `max_completion_tokens`; the self-hosted dialects send it as `max_tokens`.)"""
    field = DEFAULT_CAP_FIELD.get(api)
    if key.max_output_tokens is not None and field is not None and output_cap(body) is None:
        body[field] = key.max_output_tokens


@dataclass(slots=True)
class Held:
    """An admitted request's key and what it holds until it settles: its reservation (until `expires_at`, unix s)
    and its tokens ('' for none)."""

    key: VirtualKey
    member: str = ""
    tokens_member: str = ""
    expires_at: float = 0.0


class Gatekeeper:
    def __init__(
        self,
        config: Config,
        prices: Mapping[str, Price | None],
        metrics: Metrics,
        embedding_prices_by_model: Mapping[str, Price | None] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.prices = prices  # tier -> price
        self.embedding_prices = (  # embedding model -> price (None: read from the map for embeddings.models)
            embedding_prices(tuple(config.embeddings.models))
            if embedding_prices_by_model is None
            else embedding_prices_by_model
        )
        self.mode = config.auth.mode or ("keys" if config.store.durable else "open")
        self.keys: KeyStore | None = None
        self._admin = os.environ.get(config.auth.admin_key_env) if config.auth.admin_key_env else None
        self._metrics_token = os.environ.get(config.auth.metrics_token_env) if config.auth.metrics_token_env else None
        self._pending: dict[str, Held] = {}  # request id -> its key and what it holds
        self.unsettled: Settlements | None = None  # what the store refused, until it takes it (keys mode)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._renewing: asyncio.Task[None] | None = None
        self._logged_at = 0.0
        self._tiers = {
            name: TierLimits(prices.get(name), tier.input_limit(), tier.region) for name, tier in config.tiers.items()
        }

    def start(self, redis: Any) -> None:
        """Check keys against `redis` (the app's store, which the caller closes after `aclose`)."""
        if self.mode == "keys":
            self.keys = KeyStore(redis, self.config.auth.cache_s)
            store = self.config.store  # settlements wait on disk beside the records, only for a durable store
            spool_dir = Path(store.spool_dir) / SPOOL_SUBDIR if store.durable else None
            self.unsettled = Settlements(self._charge, spool_dir, on_dropped=self.metrics.settlements_dropped.inc)
            self.unsettled.start()
            self._renewing = asyncio.get_running_loop().create_task(self._renew_forever(), name="routetax-leases")
            log.warning("auth: KEYS mode — every request needs a routetax virtual key (routetax keys create)")
            log.warning(
                "auth: when the store cannot take writes, keys with a budget or rate limit are %s",
                "refused (503)" if self.config.auth.on_store_error == "closed" else "served, settled when it returns",
            )
        else:
            log.warning("auth: OPEN mode — no client keys are checked; do not expose this port beyond localhost")
        if self._admin is None:
            log.warning(
                "auth: no admin key (%s unset): the management surface is %s",
                self.config.auth.admin_key_env,
                "closed" if self.mode == "keys" else "open",
            )

    async def aclose(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        if self.unsettled is not None:
            await self.unsettled.aclose()  # what the store still refuses waits on disk for the next process

    async def authenticate(self, headers: Mapping[str, str]) -> VirtualKey | None:
        if self.mode == "open" or self.keys is None:
            return None
        secret = bearer(headers)
        if secret is None:
            raise ProxyError(
                Refusal.MISSING_API_KEY,
                "You didn't provide an API key. Send a routetax key as 'Authorization: Bearer <key>'.",
            )
        try:
            key = await self.keys.lookup(secret)
        except KeyStoreDown:
            raise ProxyError(
                Refusal.KEY_STORE_UNAVAILABLE,
                "The key store is unreachable; this key cannot be checked right now.",
                retry_after_s=1,
            ) from None
        if key is None:
            raise ProxyError(Refusal.INVALID_API_KEY, "Incorrect API key provided (unknown or revoked).")
        return key

    def allowed_plan(self, key: VirtualKey | None, plan: list[str], pinned: bool) -> tuple[list[str], str | None]:
        """The plan within the key's tiers, and the tier the policy chose that the key may not use (if any).

        A pinned request (a tier or model named by the client) for a forbidden tier is a 403. Model `auto`
        is routed within the key's tiers instead: the class's tier, if forbidden, is skipped and named.
        """
        if key is None or key.tiers is None:
            return plan, None
        allowed = [tier for tier in plan if key.allows(tier)]
        if pinned and not key.allows(plan[0]):
            raise ProxyError(
                Refusal.TIER_NOT_ALLOWED,
                f"This key may not use tier `{plan[0]}` (allowed: {', '.join(key.tiers or [])}).",
                param="model",
            )
        refused = None if key.allows(plan[0]) else plan[0]
        if not allowed:
            own = [tier for tier in key.tiers if tier in self.config.tiers]
            if not own:
                raise ProxyError(Refusal.TIER_NOT_ALLOWED, "This key may not use any configured tier.")
            allowed = [tier for tier in self.config.chain(own[0]) if key.allows(tier)]
        return allowed, refused

    async def admit(
        self,
        key: VirtualKey | None,
        record: Record,
        plan: list[str],
        body: dict[str, Any],
        body_bytes: int,
        deadline_s: float | None = None,
        grow: bool = True,
    ) -> dict[str, str]:
        """Admit the request on the key's budget and rates, or refuse it (429) naming the limit.

        The request reserves its worst case (router/reservation.py; `grow`: its walk may add larger-window tiers),
        held until it settles or, if nothing settles it (a crash), until its deadline (`deadline_s` from now).
        Returns the key's own `x-ratelimit-*` headers (router/rate_headers.py) for the rates it has, from the
        same round trip; a refusal carries them in its `context`. Empty without a key, for a key without
        rates, and when the store could not be asked.
        """
        if key is None or self.keys is None:
            return {}
        record.key_id = key.id
        if not key.limited:  # nothing to enforce: no round trip; the real cost is still charged at the end
            self._pending[record.request_id] = Held(key)
            return {}
        apply_default_cap(key, record.api, body)
        worst = self.worst_case(record, plan, body, body_bytes, grow)
        hold_s = (deadline_s if deadline_s is not None else self.config.resilience.deadline_s) + SETTLE_MARGIN_S
        try:
            answer = await self.keys.admit(key, worst.usd, record.request_id, hold_s, worst.tokens)
        except Exception as exc:
            self._log_store_error("budget/rate check", exc)
            if self.config.auth.on_store_error == "closed":
                raise ProxyError(
                    Refusal.LIMIT_STORE_UNAVAILABLE,
                    f"Key `{key.name}` has a budget or rate limit and the store that enforces it cannot take writes "
                    "right now; try again shortly.",
                    retry_after_s=1,
                ) from None
            self._pending[record.request_id] = Held(key)  # served unchecked; charged when the store returns
            return {}
        rate_headers = key_rate_headers(answer)
        if answer.admission is not Admission.OK:
            refused = _refusal(key, answer, worst)
            refused.context.update(rate_headers)
            raise refused
        self._pending[record.request_id] = Held(key, answer.member, answer.tokens_member, time.time() + hold_s)
        return rate_headers

    async def renew(self) -> int:
        """Extend the reservations of requests still running close to their expiry; how many were extended.

        A reservation is held until its request's deadline; a request can outlive it (a stream is relayed to its
        end), and a reservation released while its request still runs would let the budget be spent twice.
        """
        if self.keys is None:
            return 0
        now = time.time()
        soon = now + 2 * RENEW_EVERY_S
        due = [held for held in self._pending.values() if held.member and held.expires_at < soon]
        extended = 0
        for held in due:
            until = now + LEASE_S
            try:
                if await self.keys.extend(held.key, held.member, until):
                    held.expires_at = until
                    extended += 1
            except Exception as exc:  # the store blinked: the next pass tries again, well before the expiry
                self._log_store_error("reservation renewal", exc)
                break
        return extended

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                await self.renew()
            except Exception:  # the loop must outlive anything
                log.exception("auth: renewing reservations failed")

    def settle(self, record: Record) -> None:
        """Charge the real cost (from the record) and release the reservation, in the background.

        A settlement the store refuses waits (`router.settlements`: a few in memory, the rest in the disk
        spool) and is tried again every second until it lands, so spend during a store outage is charged
        when the store returns — by the next process, if this one stops first.
        """
        admitted = self._pending.pop(record.request_id, None)
        if admitted is None or self.keys is None:
            return
        key = admitted.key
        # the same cost the budget is charged below, so the two agree
        self.metrics.observe_key(key.id, key.name, key.team, key.period, key.budget_usd, record.cost_usd)
        tokens = record.usage.total_tokens if record.usage else 0
        settlement = Settlement(
            record.request_id, key, record.started_at, admitted.member, record.cost_usd, tokens, admitted.tokens_member
        )
        task = asyncio.get_running_loop().create_task(self._settle(settlement))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, settlement: Settlement) -> None:
        try:
            await self._charge(settlement)
        except Exception as exc:
            self._log_store_error("settlement", exc)
            assert self.unsettled is not None  # keys mode: started with the key store
            self.unsettled.refused(settlement)

    async def _charge(self, settlement: Settlement) -> None:
        assert self.keys is not None
        s = settlement
        await self.keys.settle(
            s.key, s.started_at, s.member, s.cost_usd, s.tokens, request_id=s.request_id, tokens_member=s.tokens_member
        )

    def _log_store_error(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("auth: %s failed, the store cannot take writes: %s: %s", what, type(exc).__name__, exc)

    def check_admin(self, headers: Mapping[str, str]) -> None:
        if self._admin is None:
            if self.mode == "keys":
                raise ProxyError(
                    Refusal.ADMIN_KEY_NOT_CONFIGURED,
                    f"The management surface needs an admin key ({self.config.auth.admin_key_env}).",
                )
            return
        presented = bearer(headers)
        if presented is None or not hmac.compare_digest(presented, self._admin):
            raise ProxyError(Refusal.INVALID_ADMIN_KEY, "This endpoint needs the admin key.")

    def is_admin(self, headers: Mapping[str, str]) -> bool:
        presented = bearer(headers)
        return self._admin is not None and presented is not None and hmac.compare_digest(presented, self._admin)

    def check_metrics(self, headers: Mapping[str, str]) -> None:
        """/metrics names keys, teams and their spend: open only in open mode (or when configured open).

        In keys mode it wants the metrics token (`auth.metrics_token_env`) or, without one, the admin key.
        """
        token = self._metrics_token
        if token is None:
            if self.mode == "open" or self.config.auth.metrics_open:
                return
            token = self._admin
            if token is None:
                raise ProxyError(
                    Refusal.METRICS_TOKEN_NOT_CONFIGURED,
                    "In keys mode /metrics needs a bearer token: set auth.metrics_token_env (or the admin key), "
                    "or auth.metrics_open: true to publish key names and spend to anyone who can reach this port.",
                )
        presented = bearer(headers)
        if presented is None or not hmac.compare_digest(presented, token):
            raise ProxyError(Refusal.INVALID_METRICS_TOKEN, "/metrics needs its bearer token.")

    def worst_case(
        self, record: Record, plan: list[str], body: dict[str, Any], body_bytes: int, grow: bool = True
    ) -> Reservation:
        """What the request may cost at most and the most tokens its answer may use (router/reservation.py)."""
        if record.api == "embeddings":
            return embedding_worst_case(self.embedding_prices.get(record.requested_model), body_bytes)
        retries = self.config.resilience.max_retries
        return worst_case(plan, self._tiers, body, body_bytes, max_retries=retries, grow=grow)
