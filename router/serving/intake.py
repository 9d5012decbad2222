"""Intake: from the client's request to an admitted `Exchange` with its plan, or a refusal.

parse once → validate → task identity (router.tasks) → classify (the request, and its task's class) →
resolve the tier (policy, the task's exploration arm, cache affinity) → the API's own plan → the key's
tiers → admit (budget and rates). Everything here runs before any
upstream is asked; a refusal raised here carries the headers gathered so far (the request id,
the overhead) and is answered by the error boundary.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from classifier import Decision, classify
from classifier.decision import AGENTIC
from metering.completion import Completion
from metering.logs import context as log_context
from metering.record import Record
from router.affinity import CacheAffinity, conversation_key
from router.apis.base import Adapter
from router.auth import Gatekeeper
from router.auto_mode import AutoMode
from router.config import Config
from router.errors import ProxyError, Refusal, echo
from router.exploration import Explorer
from router.forwarded_headers import forwarded
from router.keys import VirtualKey
from router.tasks import TASK_HEADER, TaskContext, TaskIdentity
from router.telemetry import Trace

FALLBACK_HEADER = "x-routetax-fallback"
DEADLINE_HEADER = "x-routetax-deadline-ms"
TIER_NOT_ALLOWED_HEADER = "x-routetax-tier-not-allowed"
LEDGER_RETRY_AFTER_S = 2.0  # the ledger retries Redis every second: a refused client may come back soon after


@dataclass(slots=True)
class Exchange:
    """One admitted request in flight: what was asked, its plan, and what has happened so far."""

    api: Adapter
    body: dict[str, Any]
    body_bytes: int
    record: Record
    headers: dict[str, str]  # the answer's own headers, gathered on the way
    key: VirtualKey | None
    plan: list[str]
    completion: Completion
    started: float  # perf_counter
    deadline: float  # monotonic
    forward_usage: bool
    fallback_off: bool
    upstream_s: float = 0.0  # time spent waiting on upstreams (and between retries): not proxy overhead
    payloads: dict[str, bytes] = field(default_factory=dict)
    prompt_tokens: int | None = None  # counted once, when a tier's window has to be checked
    task: TaskContext | None = None  # None: embeddings, or `tasks.enabled: false`
    forward: dict[str, str] = field(default_factory=dict)  # the client's headers that travel upstream
    trace: Trace | None = None  # its OpenTelemetry spans while it is served; None: OpenTelemetry is off


class ModelResolver:
    """Maps the client's `model` to a tier: `auto`, a tier name, or a tier's upstream model."""

    def __init__(self, config: Config, auto: AutoMode) -> None:
        self._policy = config.policy
        self._auto = auto
        self._pins: dict[str, str] = {}
        for name, tier in config.tiers.items():
            self._pins.setdefault(tier.model, name)
        for name in config.tiers:
            self._pins[name] = name

    def resolve(self, model: Any, decision: Decision) -> tuple[str, bool]:
        """Return (tier, pinned). Unknown models are a 404 as OpenAI answers them."""
        if model == "auto":
            if self._policy.mode == "mini_only" or self._auto.mini_only:
                return self._policy.agentic, False  # two models cost more than one: everything to mini
            if decision.confidence < self._policy.min_confidence:
                return self._policy.agentic, False  # unsure: the safer tier
            return getattr(self._policy, decision.label, self._policy.agentic), False
        if isinstance(model, str) and model in self._pins:
            return self._pins[model], True
        raise ProxyError(
            Refusal.MODEL_NOT_FOUND,
            f"The model `{echo(model)}` does not exist on this router. Use `auto`, a tier name or a tier's model.",
            param="model",
        )


def _log_key(key: VirtualKey | None) -> None:
    """The request's key id (a hash, never the key) for its access line, refused or not."""
    handling = log_context.current()
    if handling is not None and key is not None:
        handling.key_id = key.id


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, parsed once; anything else is a 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(Refusal.INVALID_JSON, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProxyError(Refusal.INVALID_JSON, "The request body must be a JSON object.")
    return body


def deadline_s(limit: float, header: str | None) -> float:
    """The request's deadline: the configured one, or shorter when the client asks (`x-routetax-deadline-ms`)."""
    if header is None:
        return limit
    try:
        asked = float(header) / 1000
    except ValueError:
        asked = math.nan
    if not math.isfinite(asked):
        raise ProxyError(
            Refusal.INVALID_HEADER, f"`{DEADLINE_HEADER}` must be a number of milliseconds.", param=DEADLINE_HEADER
        )
    if asked <= 0:
        raise ProxyError(Refusal.INVALID_HEADER, f"`{DEADLINE_HEADER}` must be positive.", param=DEADLINE_HEADER)
    return min(asked, limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with a 413 as soon as it is known to be larger than `limit`.

    Read from ASGI `receive` as Starlette's `Request.stream()` reads it (a disconnect is `ClientDisconnect`), without
    its async generator, which the event loop registers and finalises: a small body comes in one message."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    receive = request.receive
    chunks = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.disconnect":
            raise ClientDisconnect()
        if kind != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> ProxyError:
    return ProxyError(Refusal.BODY_TOO_LARGE, f"The request body is larger than the limit of {limit} bytes.")


class Intake:
    """Turns a request into an admitted `Exchange`, or raises the refusal."""

    def __init__(
        self,
        config: Config,
        gate: Gatekeeper,
        auto: AutoMode,
        affinity: CacheAffinity | None,
        identity: TaskIdentity | None = None,
        recordable: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.gate = gate
        self.recordable = recordable  # False: neither Redis nor the spool can take a record now
        self.affinity = affinity
        self.identity = identity
        self.resolver = ModelResolver(config, auto)
        self.explorer = Explorer.for_config(config)

    async def admit(self, request: Request, api: Adapter, started: float) -> Exchange:
        record = Record(request_id=uuid.uuid4().hex, api=api.name, started_at=time.time())
        log_context.begin(record.request_id)  # every log line from here on names this request (and then its task)
        headers = {"x-routetax-request-id": record.request_id}
        try:
            return await self._admit(request, api, record, headers, started)
        except ProxyError as exc:
            headers["x-routetax-overhead-ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
            exc.context.update(headers)
            raise

    async def _admit(
        self, request: Request, api: Adapter, record: Record, headers: dict[str, str], started: float
    ) -> Exchange:
        key = await self.gate.authenticate(request.headers)
        _log_key(key)
        if not self.recordable():  # nothing lost, or refused: a request is served only if its record can be kept
            raise ProxyError(
                Refusal.LEDGER_UNAVAILABLE,
                "routetax cannot record requests right now (its store and its disk spool are both full or down); "
                "retry shortly.",
                retry_after_s=LEDGER_RETRY_AFTER_S,
            )
        raw = await read_body(request, self.config.server.max_body_bytes)
        body = parse_body(raw)
        api.validate(body)
        deadline = deadline_s(self.config.resilience.deadline_s, request.headers.get(DEADLINE_HEADER))
        record.requested_model = str(body.get("model"))
        passthrough = api.passthrough_tier(body)  # an API served as asked (embeddings) names its own tier
        task = None
        if passthrough is None:
            task = await self._identify(body, api, record, headers, key, request.headers)
            tier, pinned = self._choose(body, api, record, headers, key, request.headers, task)
        else:
            tier, pinned = passthrough, True
            record.label = api.label or record.label
        fallback_off = passthrough is not None or request.headers.get(FALLBACK_HEADER, "").lower() == "off"
        plan = [tier] if fallback_off else self.config.chain(tier)
        plan, pinned = await api.route(body, plan, key, pinned)
        plan, refused = self.gate.allowed_plan(key, plan, pinned)
        if refused is not None:  # the class's tier is not this key's: served within the key's tiers
            record.skipped_tiers[refused] = "not_allowed_for_key"
            headers[TIER_NOT_ALLOWED_HEADER] = refused
        # the key's budget and rates: its worst case held until it settles, or at the latest until its deadline
        headers.update(await self.gate.admit(key, record, plan, body, len(raw), deadline, not fallback_off))
        record.stream = body.get("stream") is True
        record.routed_tier = plan[0]
        return Exchange(
            api=api,
            body=body,
            body_bytes=len(raw),
            record=record,
            headers=headers,
            key=key,
            plan=plan,
            completion=Completion(request=body),
            started=started,
            deadline=time.monotonic() + deadline,
            forward_usage=record.stream and api.forward_usage(body),
            fallback_off=fallback_off,
            task=task,
            forward=forwarded(request.headers),
        )

    async def _identify(
        self,
        body: dict[str, Any],
        api: Adapter,
        record: Record,
        headers: dict[str, str],
        key: VirtualKey | None,
        request_headers: Mapping[str, str],
    ) -> TaskContext | None:
        """The task this request is a step of (None with `tasks.enabled: false`); every answer from here on says it."""
        if self.identity is None:
            return None
        task = await self.identity.identify(body, api.name, request_headers, key.id if key is not None else None)
        record.task_id, record.task_source, record.task_step = task.task_id, task.source, task.step
        record.task_end = task.end
        headers[TASK_HEADER] = task.task_id
        handling = log_context.current()
        if handling is not None:
            handling.task_id = task.task_id
        return task

    def _choose(
        self,
        body: dict[str, Any],
        api: Adapter,
        record: Record,
        headers: dict[str, str],
        key: VirtualKey | None,
        request_headers: Mapping[str, str],
        task: TaskContext | None = None,
    ) -> tuple[str, bool]:
        """Classify, then the tier: the policy's for the task's class, its exploration arm, or the
        conversation's (cache affinity)."""
        t_classify = time.perf_counter()
        decision = classify(body, api=api.name, headers=request_headers)
        record.classifier_us = (time.perf_counter() - t_classify) * 1e6
        record.label, record.confidence = decision.label, decision.confidence
        record.reasons = list(decision.reasons)
        headers["x-routetax-class"] = decision.label
        routed = decision
        if task is not None:
            agentic, record.task_class_reason = task.classify(decision.agentic)
            record.task_class = AGENTIC if agentic else "single_turn"
            if agentic and not decision.agentic:  # an agentic task: every later step goes where agentic work goes
                routed = Decision(AGENTIC, 1.0, decision.reasons)
        tier, pinned = self.resolver.resolve(body.get("model"), routed)
        record.pinned = pinned
        if pinned or body.get("previous_response_id") is not None:
            record.explored = task is not None and task.explored and not pinned
            return tier, pinned
        arm = None
        # Drawn once per task (every step, worker and replica agrees), for a task whose first step could be drawn:
        # a task whose first step was pinned or chained is never explored from a later step.
        drawn = task is None or task.step == 1 or task.explored
        if self.explorer is not None and drawn:
            draw_for = task.task_id if task is not None else record.request_id
            arm = self.explorer.arm(draw_for, lambda name: self._may_serve(name, key, api))
        if arm is not None:  # neither auto mode nor cache affinity overrides a draw
            record.explored = True
            if task is not None:
                task.explored = True
            return arm, pinned
        if self.affinity is not None:  # keyed by the prefix, not the task: a provider's cache is shared across tasks
            record.conversation = conversation_key(body, api.name)
            tier, record.kept_by_affinity = self.affinity.choose(record.conversation, tier)
        return tier, pinned

    def _may_serve(self, tier: str, key: VirtualKey | None, api: Adapter) -> bool:
        """Can `tier` serve this request: the key allows it and the tier speaks the API."""
        return (key is None or key.allows(tier)) and api.serves(self.config.tiers[tier])
