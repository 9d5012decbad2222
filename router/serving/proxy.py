"""The request path for every proxied API: intake → the attempt walker → relay.

`Proxy.handle` admits the request (`intake`), walks its plan (`walker.walk`, with `attempt`
doing the network I/O), accounts the walk in the record, and answers (`relay`). It holds no
rule of its own: what is retried, when to fall back or redo, is the walker's; what differs
between APIs is the adapter's (`router.apis`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from metering.record import EndedBy, Outcome, Record
from router import upstream_credentials
from router.affinity import CacheAffinity
from router.apis import Adapter, ResponsesApi, adapters_for
from router.auth import Gatekeeper
from router.auto_mode import AutoMode
from router.config import Config
from router.dialects import dialect_for
from router.errors import SHOULD_RETRY_HEADER, ProxyError, Refusal, echo, error_body
from router.forwarded_headers import forwarded
from router.response_owners import ResponseOwners
from router.secrets import Scrubber
from router.serving.attempt import Answer, Attempter, failure_answer
from router.serving.breaker import CircuitBreaker
from router.serving.incidents import Incidents
from router.serving.intake import Exchange, Intake
from router.serving.relay import Metering, Relay, relay_headers, tier_path
from router.serving.walker import Kind, Move, Position, Rules, Turn, Walked, walk
from router.serving.walker import Outcome as AttemptOutcome
from router.tasks import TaskIdentity
from router.telemetry import Telemetry
from router.upstream import UpstreamFailure, UpstreamPool

_JSON = "application/json"
_ENDED_BY = {Move.RETRY: EndedBy.RETRY, Move.FALLBACK: EndedBy.FALLBACK, Move.REDO: EndedBy.REDO}


class Proxy:
    """Serves the proxied APIs (chat completions, responses, embeddings) for one configuration."""

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
        identity: TaskIdentity | None = None,  # None: `tasks.enabled: false`
        telemetry: Telemetry | None = None,  # None: OpenTelemetry is off
    ) -> None:
        self.telemetry = telemetry
        self.config = config
        self.gate = gate
        self.pool = pool
        self.metering = metering
        self.breakers = breakers
        self.adapters = adapters_for(config, owners)
        self.intake = Intake(config, gate, auto, affinity, identity, recordable=lambda: metering.accepting)
        scrub = Scrubber([key for tier in config.tiers.values() if (key := tier.api_key())])
        dialects = {name: dialect_for(tier.dialect) for name, tier in config.tiers.items()}
        self.attempter = Attempter(config, pool, breakers, dialects, scrub)
        self.relay = Relay(metering, identity, scrub, telemetry)
        windows = {name: tier.input_limit() for name, tier in config.tiers.items()}
        self.rules = Rules(config.resilience.max_retries, config.resilience.retry_after_cap_s, windows)
        self._pinned_rules = replace(self.rules, grow=False)  # `x-routetax-fallback: off`: the plan never grows
        self.incidents = Incidents(config.log.warning_burst, config.log.warning_window_s)  # failures, at WARNING

    @property
    def responses(self) -> ResponsesApi:
        api = self.adapters["responses"]
        assert isinstance(api, ResponsesApi)
        return api

    @property
    def owners(self) -> ResponseOwners:
        return self.responses.owners

    @owners.setter
    def owners(self, owners: ResponseOwners) -> None:
        """Replicas sharing a store share who owns each stored response."""
        self.responses.owners = owners

    async def handle(self, request: Request, api: str = "chat") -> Response:
        adapter: Adapter = self.adapters[api]
        telemetry = self.telemetry
        if telemetry is None:
            ex = await self.intake.admit(request, adapter, time.perf_counter())
        else:
            trace = telemetry.begin(request.headers, api)
            try:
                ex = await self.intake.admit(request, adapter, time.perf_counter())
            except ProxyError as refused:
                telemetry.refused(trace, refused.status, refused.code)
                raise
            ex.trace = trace
            telemetry.admitted(trace, ex.record.request_id)
        self.metering.expect(ex.record.request_id, ex.record.key_id)
        serving = asyncio.current_task()
        assert serving is not None
        # Until the stream's first event nobody reads from the client: watch for it leaving meanwhile, so a
        # silent upstream is not held for the whole deadline on behalf of a client that is gone.
        gone = None
        if ex.record.stream:
            gone = asyncio.get_running_loop().create_task(_cancel_when_gone(request.receive, serving))
        try:
            return await self._serve(ex)
        except asyncio.CancelledError:
            # The client left (its watcher cancelled us), or the server is stopping and its drain ran out: either
            # way the attempts made so far are on a record, which says who ended the request.
            left = gone is not None and gone.done() and not gone.cancelled()
            record = ex.record
            if left:
                record.outcome, record.status = Outcome.CLIENT_CANCELLED, 499
            else:
                record.outcome, record.status = Outcome.FAILED, 503
            if record.attempts:
                record.attempts[-1].ended_by = EndedBy.CLIENT_CANCELLED if left else EndedBy.SERVER_SHUTDOWN
            record.tier_path = tier_path(record)
            self.relay.emit(record, ex.completion)
            if not left or serving.uncancel() > 0:
                raise
            return Response(b"", status_code=499)
        finally:
            if gone is not None:
                gone.cancel()

    async def _serve(self, ex: Exchange) -> Response:
        """Walk the plan and answer; whatever goes wrong, the record is written (which settles its reservation).

        A `ProxyError` here was found only once routing began (no tier can serve it now, a body the upstream
        payload cannot carry); anything else is a bug, answered 500 by the error boundary.
        """
        try:
            answers: list[Answer] = []

            async def attempt(at: Position) -> AttemptOutcome:
                outcome, answer = await self.attempter.attempt(ex, at)
                answers.append(answer)
                return outcome

            async def skip(tier: str) -> AttemptOutcome | None:
                return await self.attempter.skip(ex, tier)

            def said(turn: Turn) -> None:
                self.incidents.turn(ex.record, turn, answers[-1].detail if answers else None)

            rules = self._pinned_rules if ex.fallback_off else self.rules
            walked = Walked([])
            try:
                await walk(ex.plan, rules, ex.deadline, attempt, skip, self._health, into=walked, on_turn=said)
            finally:  # also when the client left mid-walk: the record says what happened until then
                ex.upstream_s += walked.waited_s
                account(ex.record, walked)
            if not answers:
                raise _no_tier(ex.record, walked)
            final = _final(answers[-1], walked)
            if ex.trace is not None and final.stream is not None:
                ex.trace.first_event()
            return self.relay.answer(ex, final)
        except Exception as exc:
            refused = isinstance(exc, ProxyError)
            ex.record.status, ex.record.outcome = exc.status if refused else 500, Outcome.FAILED
            ex.record.tier_path = tier_path(ex.record)
            self.relay.emit(ex.record, ex.completion)
            if refused:
                exc.context.update(ex.headers)
            raise

    def _health(self, tier: str, healthy: bool) -> None:
        breaker = self.breakers[tier]
        before = breaker.state
        breaker.record(healthy)
        self.incidents.breaker(tier, before, breaker)

    async def response_operation(self, request: Request, method: str, response_id: str) -> Response:
        """GET or DELETE a stored response at the tier that created it, for the key that created it."""
        headers = {"x-routetax-request-id": uuid.uuid4().hex}
        try:
            key = await self.gate.authenticate(request.headers)
            tier = await self.responses.owner(response_id, key)
            if tier is None:
                raise ProxyError(Refusal.RESPONSE_NOT_FOUND, f"Response with id '{echo(response_id)}' not found.")
        except ProxyError as exc:
            exc.context.update(headers)
            raise
        headers["x-routetax-tier"] = tier
        try:
            path, forward = f"/responses/{response_id}", forwarded(request.headers)
            status, content, upstream_headers = await self.pool.request(tier, method, path, forward)
        except UpstreamFailure as failure:
            self.incidents.limited.warning(
                "tier %s: %s %s failed: %s (%s)",
                tier,
                method,
                "/responses/{id}",
                failure.kind,
                failure.detail,
                key=("upstream_failed", tier, failure.kind),
                extra={"event": "upstream_failed", "tier": tier, "error": str(failure.kind), "detail": failure.detail},
            )
            status, content = failure_answer(tier, failure)
            return Response(content, status_code=status, media_type=_JSON, headers=headers)
        relay_headers(upstream_headers, headers, status, rate_limits=key is None, scrub=self.attempter.scrub)
        if status == upstream_credentials.REFUSED_STATUS:
            content = upstream_credentials.refused(tier, self.config.tiers[tier], status)
            status = upstream_credentials.STATUS
            headers[SHOULD_RETRY_HEADER] = "false"
        elif status >= 400:
            content = self.attempter.scrub(self.attempter.dialects[tier].normalise_error(status, content))
        else:
            content = self.attempter.scrub.answer(content)
        return Response(content, status_code=status, media_type=_JSON, headers=headers)


def account(record: Record, walked: Walked) -> None:
    """Write the walk into the record: skipped tiers, how each attempt ended and why, retries, fallbacks."""
    attempts = iter(record.attempts)
    for turn in walked.turns:
        step = turn.step
        record.fallbacks += step.move in (Move.FALLBACK, Move.REDO)
        if turn.outcome.kind is Kind.SKIPPED:
            record.skipped_tiers[turn.tier] = turn.outcome.reason
            continue
        attempt = next(attempts)
        if step.move is Move.ANSWER:
            continue
        attempt.reason = step.reason
        record.retries += step.move is Move.RETRY
        attempt.ended_by = _ENDED_BY.get(step.move, EndedBy.ERROR)


def _final(answer: Answer, walked: Walked) -> Answer:
    """The answer a walk ends with: the last attempt's — unless that was a degraded stream no tier could redo."""
    if answer.stream is None and not answer.content and answer.status < 400:
        tier = walked.last.tier
        message = f"Tier `{tier}` streamed an unusable tool call ({answer.degraded}) and no tier could redo it."
        return Answer(502, error_body(message, status=502, code="upstream_bad_response"))
    return answer


def _no_tier(record: Record, walked: Walked) -> ProxyError:
    """No tier was attempted (every one skipped): a 503 that says when to come back."""
    reasons = ", ".join(f"{tier}: {why}" for tier, why in record.skipped_tiers.items())
    return ProxyError(
        Refusal.NO_TIER_AVAILABLE,
        f"No tier can serve this request now ({reasons}).",
        retry_after_s=walked.retry_after_s(),
    )


async def _cancel_when_gone(receive: Any, task: asyncio.Task[Any]) -> None:
    """Cancel `task` when the client disconnects (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()
