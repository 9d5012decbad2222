"""The request path for `POST /v1/chat/completions`: parse once, classify, pick a tier, relay.

This module is the hot path. Per request it parses the body once (orjson), classifies it,
resolves the tier, forwards bytes with `model` swapped, and relays the answer — JSON as the
upstream's bytes, SSE event by event. When a tier fails it retries, falls back along the
tier's chain, or redoes a degraded answer on the next tier, all before the client sees a
byte. Metering happens after the client has its answer: the finished `Record` goes to the
metering pipeline (`metering.pipeline`), which never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from classifier import Decision, classify
from metering.completion import Completion
from metering.record import Attempt, EndedBy, Outcome, Record
from metering.tokens import count_prompt
from router.affinity import CacheAffinity, conversation_key
from router.auth import Gatekeeper
from router.auto_mode import AutoMode
from router.config import Config
from router.dialects import dialect_for
from router.errors import ProxyError, Refusal, Scrubber, error_body, error_code_of
from router.exploration import Explorer
from router.keys import VirtualKey
from router.resilience import (
    CircuitBreaker,
    Next,
    Step,
    backoff_seconds,
    degraded_reason,
    judge_failure,
    judge_status,
)
from router.response_owners import ResponseOwners, response_id_of
from router.sse import (
    DONE,
    EventSplitter,
    StreamState,
    error_event,
    estimate_completion_tokens,
    filter_events,
    parse_event,
    streamed_tool_calls,
)
from router.stream_response import RelayResponse
from router.upstream import FailureKind, UpstreamFailure, UpstreamPool, UpstreamResponse
from router.validation import validate_chat, validate_responses

log = logging.getLogger("routetax.proxy")

_JSON = "application/json"
Api = Literal["chat", "responses"]
API_PATHS: dict[str, str] = {"chat": "/chat/completions", "responses": "/responses"}
FALLBACK_HEADER = "x-routetax-fallback"
DEADLINE_HEADER = "x-routetax-deadline-ms"
TIER_NOT_ALLOWED_HEADER = "x-routetax-tier-not-allowed"
# Upstream response headers a client may rely on (the openai SDK's `_request_id`, rate-limit pacing, Retry-After).
RELAYED_HEADERS = ("x-request-id", "openai-processing-ms", "openai-version")
RELAYED_PREFIXES = ("x-ratelimit-",)
RETRY_HEADERS = ("retry-after", "retry-after-ms")
PROMPT_COUNT_OFF_LOOP_BYTES = 256 * 1024  # prompts larger than this are tokenised in a worker thread
ESTIMATE_OFF_LOOP_EVENTS = 2_000  # streams without usage longer than this are estimated in a worker thread


@dataclass(slots=True)
class Exchange:
    """One request in flight: what was asked, and what has happened so far."""

    body: dict[str, Any]
    record: Record
    headers: dict[str, str]
    completion: Completion
    started: float
    deadline: float  # monotonic
    forward_usage: bool
    upstream_s: float = 0.0  # time spent waiting on upstreams, not counted as proxy overhead
    can_redo: bool = True  # another tier remains, so a degraded answer can be redone
    fallback_off: bool = False  # the client said `x-routetax-fallback: off`: the plan never grows
    payloads: dict[str, bytes] = field(default_factory=dict)
    prompt_tokens: int | None = None  # counted once, when a tier's window has to be checked


@dataclass(slots=True)
class AttemptResult:
    """The result of one attempt: an answer to judge, or a stream ready to relay."""

    step: Step
    status: int
    content: bytes = b""
    retry_headers: Any = None
    stream: StreamStart | None = None


@dataclass(slots=True)
class StreamStart:
    """A stream whose first visible event has arrived; nothing has been sent to the client yet."""

    upstream: UpstreamResponse
    splitter: EventSplitter
    pending: bytes
    finished: bool  # the whole stream was read while holding tool calls


class Metering(Protocol):
    """Where finished records go: `metering.pipeline.MeteringPipeline`."""

    def __call__(self, record: Record, completion: Completion) -> None: ...

    def expect(self, request_id: str, key_id: str | None) -> None: ...


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
            f"The model `{model}` does not exist on this router. Use `auto`, a tier name or a tier's model.",
            param="model",
        )


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(Refusal.INVALID_JSON, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProxyError(Refusal.INVALID_JSON, "The request body must be a JSON object.")
    return body


def _deadline_s(config: Config, header: str | None) -> float:
    limit = config.resilience.deadline_s
    if header is None:
        return limit
    try:
        asked = float(header) / 1000
    except ValueError:
        asked = math.nan
    if not math.isfinite(asked):
        raise ProxyError(
            Refusal.INVALID_HEADER,
            f"`{DEADLINE_HEADER}` must be a number of milliseconds.",
            param=DEADLINE_HEADER,
        )
    if asked <= 0:
        raise ProxyError(Refusal.INVALID_HEADER, f"`{DEADLINE_HEADER}` must be positive.")
    return min(asked, limit)


class Proxy:
    """Serves chat completions and responses for one configuration."""

    def __init__(
        self,
        config: Config,
        pool: UpstreamPool,
        metering: Metering,
        breakers: dict[str, CircuitBreaker],
        owners: ResponseOwners,
        auto: AutoMode,
        affinity: CacheAffinity | None,  # None: policy.cache_affinity is off
        gate: Gatekeeper,
    ) -> None:
        self.config = config
        self.gate = gate
        self.owners = owners
        self.affinity = affinity
        self.pool = pool
        self.metering = metering
        self.breakers = breakers
        self.resolver = ModelResolver(config, auto)
        self._background: set[asyncio.Task[None]] = set()
        self.scrub = Scrubber([key for tier in config.tiers.values() if (key := tier.api_key())])
        self.explorer = Explorer.for_config(config)
        self.dialects = {name: dialect_for(tier.dialect) for name, tier in config.tiers.items()}

    def _may_serve(self, tier: str, key: VirtualKey | None, api: Api) -> bool:
        """Can `tier` serve this request: the key allows it and, for the Responses API, the tier speaks it."""
        return (key is None or key.allows(tier)) and (api == "chat" or self.config.tiers[tier].serves_responses())

    async def handle(self, request: Request, api: Api = "chat") -> Response:
        started = time.perf_counter()
        record = Record(request_id=uuid.uuid4().hex, api=api, started_at=time.time())
        headers = {"x-routetax-request-id": record.request_id}
        try:
            key = await self.gate.authenticate(request.headers)
            raw = await _read_body(request, self.config.server.max_body_bytes)
            body = parse_body(raw)
            validate_chat(body) if api == "chat" else validate_responses(body)
            deadline_s = _deadline_s(self.config, request.headers.get(DEADLINE_HEADER))
            record.requested_model = str(body.get("model"))
            t_classify = time.perf_counter()
            decision = classify(body, api=api, headers=request.headers)
            record.classifier_us = (time.perf_counter() - t_classify) * 1e6
            record.label, record.confidence = decision.label, decision.confidence
            record.reasons = list(decision.reasons)
            headers["x-routetax-class"] = decision.label
            tier, pinned = self.resolver.resolve(body.get("model"), decision)
            record.pinned = pinned
            continuation = body.get("previous_response_id") is not None
            arm = None
            if self.explorer is not None and not pinned and not continuation:
                arm = self.explorer.draw(lambda name: self._may_serve(name, key, api))
            if arm is not None:  # neither auto mode nor cache affinity overrides a draw
                tier, record.explored = arm, True
            elif self.affinity is not None and not pinned and not continuation:
                record.conversation = conversation_key(body, api)
                tier, record.kept_by_affinity = self.affinity.choose(record.conversation, tier)
            fallback_off = request.headers.get(FALLBACK_HEADER, "").lower() == "off"
            plan = [tier] if fallback_off else self.config.chain(tier)
            if api == "responses":
                plan, pinned = await self._responses_plan(body, plan, tier, key, pinned)
            plan, refused = self.gate.allowed_plan(key, plan, pinned)
            if refused is not None:  # the class's tier is not this key's: served within the key's tiers
                record.skipped_tiers[refused] = "not_allowed_for_key"
                headers[TIER_NOT_ALLOWED_HEADER] = refused
            headers.update(await self.gate.admit(key, record, plan, body, len(raw)))  # the key's own x-ratelimit-*
        except ProxyError as exc:  # refused before any upstream: answered (and counted) by `hot_routes.refused`
            headers["x-routetax-overhead-ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
            exc.context.update(headers)
            raise

        record.stream = body.get("stream") is True
        forward_usage = False
        if record.stream and api == "chat":
            forward_usage = (body.get("stream_options") or {}).get("include_usage") is True
        exchange = Exchange(
            body=body,
            record=record,
            headers=headers,
            completion=Completion(request=body),
            started=started,
            deadline=time.monotonic() + deadline_s,
            forward_usage=forward_usage,
            fallback_off=fallback_off,
        )
        record.routed_tier = plan[0]
        self.metering.expect(record.request_id, record.key_id)
        if not record.stream:
            return await self._serve_admitted(exchange, plan, len(raw))
        # Until the stream's first event nobody reads from the client: watch for it leaving meanwhile, so a
        # silent upstream is not held for the whole deadline on behalf of a client that is gone.
        serving = asyncio.current_task()
        assert serving is not None
        gone = asyncio.get_running_loop().create_task(_cancel_when_gone(request.receive, serving))
        try:
            return await self._serve_admitted(exchange, plan, len(raw))
        except asyncio.CancelledError:
            if not gone.done() or gone.cancelled() or serving.uncancel() > 0:
                raise
            record.outcome, record.status = Outcome.CLIENT_CANCELLED, 499
            if record.attempts:
                record.attempts[-1].ended_by = EndedBy.CLIENT_CANCELLED
            record.tier_path = _path(record)
            self._emit(record, exchange.completion)
            return Response(b"", status_code=499)
        finally:
            gone.cancel()

    async def _serve_admitted(self, ex: Exchange, plan: list[str], body_bytes: int) -> Response:
        """Serve an admitted request; whatever goes wrong, its record is written (which settles its reservation).

        A `ProxyError` here was found only once routing began (a body the upstream payload cannot carry);
        anything else is a bug, answered 500.
        """
        try:
            return await self._serve(ex, plan, body_bytes)
        except Exception as exc:
            refused = isinstance(exc, ProxyError)
            ex.record.status, ex.record.outcome = exc.status if refused else 500, Outcome.FAILED
            ex.record.tier_path = _path(ex.record)
            self._emit(ex.record, ex.completion)
            if refused:
                exc.context.update(ex.headers)
            raise

    async def _responses_plan(
        self, body: dict[str, Any], plan: list[str], tier: str, key: VirtualKey | None, pinned: bool
    ) -> tuple[list[str], bool]:
        """A continuation goes to the tier holding its state; otherwise only tiers that serve the Responses API."""
        previous = body.get("previous_response_id")
        if previous is not None:
            owner = await self._owned(previous, key)
            if owner is None:
                raise ProxyError(
                    Refusal.PREVIOUS_RESPONSE_NOT_FOUND,
                    f"Previous response with id '{previous}' not found.",
                    param="previous_response_id",
                )
            return [owner], True
        serving = [name for name in plan if self.config.tiers[name].serves_responses()]
        if not serving:
            raise ProxyError(
                Refusal.RESPONSES_NOT_SUPPORTED,
                f"Tier `{tier}` does not serve the Responses API and no tier of its fallback chain does; "
                "set `responses: true` on a tier that does, or use /v1/chat/completions.",
                param="model",
            )
        return serving, pinned

    async def _owned(self, response_id: str, key: VirtualKey | None) -> str | None:
        """The tier holding a stored response, if `key` created it (open mode: anyone's); else None, as if unknown."""
        owner = await self.owners.get(response_id)
        if owner is None or owner[0] not in self.config.tiers:
            return None
        if key is not None and owner[1] != key.id:
            return None
        return owner[0]

    async def _serve(self, ex: Exchange, plan: list[str], body_bytes: int) -> Response:
        """Walk the plan: retry a tier while it is worth it, then fall back; answer as soon as one succeeds."""
        cfg = self.config.resilience
        last: AttemptResult | None = None
        index = 0
        while index < len(plan):
            tier = plan[index]
            skip = await self._skip_reason(tier, ex, body_bytes)
            if skip is not None:
                ex.record.skipped_tiers[tier] = skip
                index += 1
                ex.record.fallbacks += index < len(plan)
                continue
            ex.can_redo = index < len(plan) - 1
            for retry in range(cfg.max_retries + 1):
                result = await self._attempt(ex, tier)
                attempt = ex.record.attempts[-1]
                step = result.step
                reason = None
                if step.next is Next.ANSWER and result.status < 400 and result.stream is None:
                    if ex.record.api == "chat":
                        reason = degraded_reason(ex.body, result.content)
                    if reason == "unparseable":  # not an answer at all: an upstream error, not a degraded one
                        ex.completion.bodies[-1] = None
                        result = _bad_answer(tier, attempt)
                        step, reason = result.step, None
                if step.next is Next.ANSWER:
                    if reason is None or not ex.can_redo:
                        ex.record.degraded_reason = reason
                        return self._answer(ex, result)
                    attempt.ended_by, attempt.reason = EndedBy.REDO, reason
                    last = result
                    break
                last = result
                attempt.reason = step.reason
                if step.next is Next.RETRY and retry < cfg.max_retries:
                    wait = backoff_seconds(retry, result.retry_headers, cfg.retry_after_cap_s)
                    hinted = _hinted_wait(result.retry_headers)
                    if (hinted is None or hinted <= cfg.retry_after_cap_s) and time.monotonic() + wait < ex.deadline:
                        attempt.ended_by = EndedBy.RETRY
                        ex.record.retries += 1
                        await asyncio.sleep(wait)
                        ex.upstream_s += wait
                        continue
                if step.next is Next.REDO:
                    attempt.ended_by = EndedBy.REDO
                else:
                    attempt.ended_by = EndedBy.FALLBACK if index < len(plan) - 1 else EndedBy.ERROR
                break
            if time.monotonic() >= ex.deadline:
                break
            if last is not None and last.step.next is Next.LARGER_WINDOW and not ex.fallback_off:
                plan = self._larger_window_plan(plan, index)
            index += 1
            ex.record.fallbacks += index < len(plan)
        if last is None:
            status = 503
            reasons = ", ".join(f"{t}: {r}" for t, r in ex.record.skipped_tiers.items())
            content = error_body(
                f"No tier can serve this request now ({reasons}).", status=503, code="no_tier_available"
            )
            last = AttemptResult(Step(Next.ANSWER, "no_tier"), status, content)
        return self._answer(ex, last)

    async def response_operation(self, request: Request, method: str, response_id: str) -> Response:
        """GET or DELETE a stored response at the tier that created it, for the key that created it."""
        headers = {"x-routetax-request-id": uuid.uuid4().hex}
        try:
            key = await self.gate.authenticate(request.headers)
            tier = await self._owned(response_id, key)
            if tier is None:
                raise ProxyError(Refusal.RESPONSE_NOT_FOUND, f"Response with id '{response_id}' not found.")
        except ProxyError as exc:
            exc.context.update(headers)
            raise
        headers["x-routetax-tier"] = tier
        try:
            status, content, upstream_headers = await self.pool.request(tier, method, f"/responses/{response_id}")
        except UpstreamFailure as failure:
            log.warning("tier %s: %s %s failed: %s (%s)", tier, method, "/responses/{id}", failure.kind, failure.detail)
            status, content = _failure_answer(tier, failure)
            return Response(content, status_code=status, media_type=_JSON, headers=headers)
        relay_headers(upstream_headers, headers, status, rate_limits=key is None)
        if status >= 400:
            content = self.scrub(self.dialects[tier].normalise_error(status, content))
        return Response(content, status_code=status, media_type=_JSON, headers=headers)

    async def _skip_reason(self, tier: str, ex: Exchange, body_bytes: int) -> str | None:
        limit = self.config.tiers[tier].input_limit()
        if limit is not None and body_bytes > limit:  # a token is at least one byte: smaller bodies always fit
            if ex.prompt_tokens is None:  # once per request, and big prompts off the event loop
                api = ex.record.api
                ex.prompt_tokens = (
                    await asyncio.to_thread(count_prompt, ex.body, api)
                    if body_bytes > PROMPT_COUNT_OFF_LOOP_BYTES
                    else count_prompt(ex.body, api)
                )
            ex.completion.prompt_tokens = ex.prompt_tokens
            if ex.prompt_tokens > limit:
                return "context_length"
        if not self.breakers[tier].allow():
            return "breaker_open"
        return None

    def _larger_window_plan(self, plan: list[str], index: int) -> list[str]:
        """After a context-length error: keep only later tiers with a larger window, else add one."""
        current = self.config.tiers[plan[index]].input_limit() or 0
        later = [t for t in plan[index + 1 :] if (self.config.tiers[t].input_limit() or 0) > current]
        if not later:
            bigger = sorted(
                (t for t, spec in self.config.tiers.items() if (spec.input_limit() or 0) > current and t not in plan),
                key=lambda t: self.config.tiers[t].input_limit() or 0,
            )
            later = bigger[:1]
        return plan[: index + 1] + later

    async def _attempt(self, ex: Exchange, tier: str) -> AttemptResult:
        spec = self.config.tiers[tier]
        attempt = Attempt(tier=tier, model=spec.model, started_at=time.time())
        ex.record.attempts.append(attempt)
        ex.completion.bodies.append(None)
        ex.completion.streams.append(None)
        payload = ex.payloads.get(tier)
        if payload is None:
            payload = ex.payloads[tier] = self._payload(ex, tier)
        t0 = time.perf_counter()
        result = await self._call(ex, tier, payload, attempt)
        attempt.latency_ms = (time.perf_counter() - t0) * 1000
        ex.upstream_s += time.perf_counter() - t0
        attempt.status = result.status if result.status else None
        if result.step.next is not Next.ANSWER or result.status >= 400:
            attempt.error_type = attempt.error_type or result.step.reason
            attempt.ended_by = EndedBy.ERROR
        elif result.stream is None and result.status < 400:
            ex.completion.bodies[-1] = result.content
        healthy = result.step.next in (Next.ANSWER, Next.REDO) or result.step.reason in (
            "quota",
            "context_length",
        )
        self.breakers[tier].record(healthy)
        return result

    def _payload(self, ex: Exchange, tier: str) -> bytes:
        body = dict(ex.body)
        body["model"] = self.config.tiers[tier].model
        self.dialects[tier].adjust_request(body, api=ex.record.api, stream=ex.record.stream)
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError as exc:  # JSON nested deeper than 255 levels parses but cannot be re-sent
            raise ProxyError(Refusal.INVALID_JSON, f"The request body cannot be forwarded: {exc}.") from None

    async def _call(self, ex: Exchange, tier: str, payload: bytes, attempt: Attempt) -> AttemptResult:
        remaining = ex.deadline - time.monotonic()
        upstream: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                upstream = await self.pool.send(tier, API_PATHS[ex.record.api], payload)
                if upstream.status >= 400 or not ex.record.stream:
                    content = await upstream.read()
                    upstream.close()
                    if upstream.status >= 400:
                        content = self.scrub(self.dialects[tier].normalise_error(upstream.status, content))
                        step = judge_status(upstream.status, error_code_of(content))
                        return AttemptResult(step, upstream.status, content, upstream.headers)
                    if not _looks_like_json_object(content):
                        return _bad_answer(tier, attempt)
                    return AttemptResult(Step(Next.ANSWER, "ok"), upstream.status, content, upstream.headers)
                start = await self._open_stream(ex, tier, upstream, attempt)
                return AttemptResult(Step(Next.ANSWER, "ok"), upstream.status, b"", upstream.headers, start)
        except UpstreamFailure as failure:
            if upstream is not None:
                upstream.close()
            attempt.error_type = failure.kind
            log.debug("tier %s: upstream %s: %s", tier, failure.kind, failure.detail)
            status, content = _failure_answer(tier, failure)
            return AttemptResult(judge_failure(failure.kind), status, content)
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            attempt.error_type = "deadline"
            message = f"The request deadline passed while waiting on tier `{tier}`."
            return AttemptResult(Step(Next.FALLBACK, "deadline"), 504, error_body(message, status=504, code="deadline"))
        except _DegradedStream as degraded:
            assert upstream is not None
            upstream.close()
            attempt.error_type = degraded.reason
            return AttemptResult(Step(Next.REDO, degraded.reason), 200, b"")
        except asyncio.CancelledError:  # the client left (or shutdown): the upstream connection goes too
            if upstream is not None:
                upstream.close()
            raise

    async def _open_stream(self, ex: Exchange, tier: str, upstream: UpstreamResponse, attempt: Attempt) -> StreamStart:
        """Read until the first event the client should see, so a failure before it can still fall back.

        On tiers that hold tool calls, a stream that starts with a tool call is read to its end
        and checked; a broken call raises `_DegradedStream` and is redone on the next tier.
        """
        t0 = time.perf_counter()
        state = ex.completion.streams[-1] = StreamState()
        splitter = EventSplitter()
        self.pool.stream(tier, upstream)
        hold = self.config.tiers[tier].hold_tool_calls and bool(ex.body.get("tools") or ex.body.get("functions"))
        pending: list[bytes] = []
        holding = False
        while chunk := await upstream.read_chunk():
            events = splitter.feed(chunk)
            out = filter_events(events, state, ex.forward_usage)
            if out:
                pending.append(out)
            if ex.record.api == "chat":
                visible = _visible(events)
            else:
                visible = self._responses_visible(events, tier, ex.record.key_id)
            if visible == "tool_calls" and hold:
                holding = True
            if (visible and not holding) or state.saw_done:
                break
        else:
            tail = splitter.rest()
            if tail.strip():
                pending.append(filter_events([tail + b"\n\n"], state, ex.forward_usage))
        attempt.ttft_ms = (time.perf_counter() - t0) * 1000
        if holding and ex.can_redo:
            reason = _broken_tool_calls(ex.body, state)
            if reason is not None:
                raise _DegradedStream(reason)
        return StreamStart(upstream, splitter, b"".join(pending), finished=holding or state.saw_done)

    def _responses_visible(self, events: list[bytes], tier: str, key_id: str | None) -> str | None:
        """Responses streams: note who owns the response from `response.created`; visible is anything after it."""
        for event in events:
            kind = _event_type(event)
            if kind == "response.created":
                chunk = parse_event(event) or {}
                response_id = (chunk.get("response") or {}).get("id")
                if isinstance(response_id, str):
                    self.owners.put(response_id, tier, key_id)
            elif kind not in (None, "response.in_progress"):
                return "text"
        return None

    def _answer(self, ex: Exchange, result: AttemptResult) -> Response:
        record = ex.record
        tier = record.attempts[-1].tier if record.attempts else None
        if record.api == "responses" and result.stream is None and result.status < 400 and tier is not None:
            response_id = response_id_of(result.content)
            if response_id is not None:
                self.owners.put(response_id, tier, record.key_id)  # before the client can ask to continue it
        record.tier_path = _path(record)
        if tier is not None:
            ex.headers["x-routetax-tier"] = tier
        relay_headers(result.retry_headers, ex.headers, result.status, rate_limits=record.key_id is None)
        if result.stream is not None:
            record.status = result.status
            pre_ms = (time.perf_counter() - ex.started - ex.upstream_s) * 1000
            ex.headers["x-routetax-overhead-ms"] = f"{pre_ms:.3f}"
            return RelayResponse(
                self._relay(ex, result.stream, pre_ms),
                status_code=result.status,
                media_type="text/event-stream",
                headers={**ex.headers, "cache-control": "no-cache"},
            )
        record.status = result.status
        if result.status >= 400:
            record.outcome = Outcome.FAILED
        elif record.degraded_reason is not None:
            record.outcome = Outcome.DEGRADED
        else:
            record.outcome = Outcome.SUCCESS
        record.proxy_overhead_ms = max((time.perf_counter() - ex.started - ex.upstream_s) * 1000, 0.0)
        ex.headers["x-routetax-overhead-ms"] = f"{record.proxy_overhead_ms:.3f}"
        return Response(
            result.content,
            status_code=result.status,
            media_type=_JSON,
            headers=ex.headers,
            background=BackgroundTask(self._emit_in_loop, record, ex.completion),
        )

    async def _relay(self, ex: Exchange, start: StreamStart, pre_ms: float) -> AsyncIterator[bytes]:
        record = ex.record
        state = ex.completion.stream
        assert isinstance(state, StreamState)  # the relay's own state, which metering reads as a RelayedStream
        attempt = record.attempts[-1]
        relay_s = 0.0
        record.outcome = Outcome.CLIENT_CANCELLED  # until the stream is seen through to its end
        try:
            if start.pending:
                yield start.pending
            if not start.finished:
                state.compact = True  # tool calls are checked: from here on only a token estimate needs the events
                read, feed, forward_usage = start.upstream.read_chunk, start.splitter.feed, ex.forward_usage
                while chunk := await read():
                    t_chunk = time.perf_counter()
                    out = filter_events(feed(chunk), state, forward_usage)
                    relay_s += time.perf_counter() - t_chunk
                    if out:
                        yield out
                tail = start.splitter.rest()
                if tail.strip():
                    yield filter_events([tail + b"\n\n"], state, ex.forward_usage)
            if not state.saw_done and record.api == "chat":
                yield DONE  # the client's SDK waits for it; some upstreams end without one
            record.outcome = Outcome.FAILED if state.failed else Outcome.SUCCESS
        except UpstreamFailure as failure:
            attempt.error_type, attempt.ended_by = f"stream_{failure.kind}", EndedBy.ERROR
            record.outcome, record.status = Outcome.FAILED, 502
            message = f"Upstream tier `{attempt.tier}` broke off the stream: {failure.kind}"
            yield error_event(message, "upstream_stream_broken", api=record.api, sequence_number=state.next_sequence)
            if record.api == "chat":
                yield DONE
        finally:
            start.upstream.close()
            if record.outcome is Outcome.CLIENT_CANCELLED:
                attempt.ended_by = EndedBy.CLIENT_CANCELLED
            record.proxy_overhead_ms = pre_ms + relay_s * 1000
            if state.usage_chunk is None and state.event_count > ESTIMATE_OFF_LOOP_EVENTS:
                # A long stream without usage: tokenising what it carried would stall every client for seconds.
                task = asyncio.get_running_loop().create_task(self._emit_after_estimate(record, ex.completion, state))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                self._emit(record, ex.completion)

    async def _emit_after_estimate(self, record: Record, completion: Completion, state: StreamState) -> None:
        try:
            state.completion_tokens = await asyncio.to_thread(estimate_completion_tokens, state)
        finally:
            self._emit(record, completion)

    async def _emit_in_loop(self, record: Record, completion: Completion) -> None:
        """A coroutine, so Starlette runs it on the event loop rather than in a worker thread:
        the ledger, the key settlements and the shared state all belong to the loop."""
        self._emit(record, completion)

    def _emit(self, record: Record, completion: Completion) -> None:
        record.ended_at = time.time()
        self.metering(record, completion)


class _DegradedStream(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _event_type(event: bytes) -> str | None:
    """The SSE `event:` name, or the `type` field of the data (Responses streams carry both)."""
    if event.startswith(b"event:"):
        return event[6 : event.find(b"\n")].strip().decode("utf-8", "replace")
    chunk = parse_event(event)
    kind = chunk.get("type") if chunk else None
    return kind if isinstance(kind, str) else None


def _visible(events: list[bytes]) -> str | None:
    """Does any of these events carry something the client would see? ("text", "tool_calls" or None).

    Only the first events of a stream go through here, until the first visible one.
    """
    for event in events:
        chunk = parse_event(event)
        for choice in (chunk or {}).get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            if delta.get("tool_calls"):
                return "tool_calls"
            if delta.get("content") or delta.get("refusal"):
                return "text"
    return None


def _broken_tool_calls(request: dict[str, Any], state: StreamState) -> str | None:
    """Check streamed tool calls the way `degraded_reason` checks a JSON answer."""
    calls = streamed_tool_calls(state.events)
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    answer = orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
    return degraded_reason(request, answer)


def _hinted_wait(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def _path(record: Record) -> list[str]:
    path: list[str] = []
    for attempt in record.attempts:
        if not path or path[-1] != attempt.tier:
            path.append(attempt.tier)
    return path


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ProxyError:
    return ProxyError(Refusal.BODY_TOO_LARGE, f"The request body is larger than the limit of {limit} bytes.")


def _looks_like_json_object(content: bytes) -> bool:
    """A cheap look (no parse) at a 2xx body: an HTML page or a truncated body is not an answer."""
    first, last = content[:1], content[-1:]  # no copy in the usual case: a body that starts and ends with braces
    if first != b"{":
        first = content.lstrip()[:1]
    if last != b"}":
        last = content.rstrip()[-1:]
    return first == b"{" and last == b"}"


def _failure_answer(tier: str, failure: UpstreamFailure) -> tuple[int, bytes]:
    """The client's answer when a tier sent no usable HTTP answer: 504 after a timeout, 502 otherwise.

    The failure's detail (host, port, resolver error) is for the operator's log, never for the client.
    """
    status = 504 if failure.kind is FailureKind.TIMEOUT else 502
    message = f"Upstream tier `{tier}` failed: {failure.kind}."
    return status, error_body(message, status=status, code=f"upstream_{failure.kind}")


def _bad_answer(tier: str, attempt: Attempt) -> AttemptResult:
    """A 2xx whose body is not a JSON answer: an upstream error (502), retried and fallen back like one."""
    attempt.error_type = "bad_response"
    message = f"Upstream tier `{tier}` sent an answer that is not valid JSON."
    return AttemptResult(judge_status(502, None), 502, error_body(message, status=502, code="upstream_bad_response"))


async def _cancel_when_gone(receive: Any, task: asyncio.Task[Any]) -> None:
    """Cancel `task` when the client disconnects (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


def relay_headers(upstream: Any, headers: dict[str, str], status: int, *, rate_limits: bool = True) -> None:
    """Copy the upstream's request id and rate-limit headers (and Retry-After on an error) into `headers`.

    `rate_limits=False` (a request served with a virtual key): the upstream organisation's `x-ratelimit-*`
    never travel — they would mislead a client pacing on them; the answer carries its key's own instead.
    Hop-by-hop and framing headers never travel: the response is re-framed by routetax.
    """
    if upstream is None:
        return
    prefixes = RELAYED_PREFIXES if rate_limits else ()
    for name, value in upstream.items():
        lower = name.lower()
        if lower in RELAYED_HEADERS or lower.startswith(prefixes) or (status >= 400 and lower in RETRY_HEADERS):
            headers[lower] = value
