"""One attempt at one tier: send the request, and read enough of the answer to judge it.

A JSON answer is read whole; a stream is read until its first visible event (so a failure
before it can still fall back, and a held tool call is checked whole). The attempt reports an
`Outcome` for the walker and keeps what the client may be answered with (`Answer`). Every
`Attempt` in the record is created here, with its tier, model, latency and error type.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from metering.record import Attempt, EndedBy
from metering.tokens import count_prompt
from router import forwarded_headers, upstream_credentials
from router.config import Config
from router.dialects import Dialect
from router.errors import error_body, error_code_of
from router.secrets import Scrubber
from router.serving.answers import looks_like_json_object
from router.serving.breaker import CircuitBreaker
from router.serving.intake import Exchange
from router.serving.walker import Kind, Outcome, Position, judge
from router.sse import EventSplitter, StreamState, filter_events
from router.upstream import FailureKind, UpstreamFailure, UpstreamPool, UpstreamResponse

PROMPT_COUNT_OFF_LOOP_BYTES = 256 * 1024  # prompts larger than this are tokenised in a worker thread


@dataclass(slots=True)
class StreamStart:
    """A stream whose first visible event has arrived; nothing has been sent to the client yet."""

    upstream: UpstreamResponse
    splitter: EventSplitter
    pending: bytes
    finished: bool  # the whole stream has been read (nothing visible came, or tool calls were held)
    checked: bool = False  # read whole before anything was sent, and checked then
    degraded: str | None = None  # checked and unusable, with no tier left to redo it


@dataclass(slots=True)
class Answer:
    """What the client would be answered with if the walk ended at this attempt."""

    status: int
    content: bytes = b""
    headers: Any = None  # the upstream's response headers
    stream: StreamStart | None = None
    degraded: str | None = None
    upstream_status: int | None = None  # when the client is answered another status than the upstream's
    detail: str | None = None  # no HTTP answer: what failed (host and port, resolver error), for the log only
    parsed: Any = None  # a usable JSON answer's JSON as the degraded check parsed it: filed from it, not reparsed


class Attempter:
    """Makes attempts for the request path: network I/O, never a decision about what comes next."""

    def __init__(
        self,
        config: Config,
        pool: UpstreamPool,
        breakers: dict[str, CircuitBreaker],
        dialects: dict[str, Dialect],
        scrub: Scrubber,
    ) -> None:
        self.config = config
        self.pool = pool
        self.breakers = breakers
        self.dialects = dialects
        self.scrub = scrub

    async def skip(self, ex: Exchange, tier: str) -> Outcome | None:
        """Why `tier` is not to be tried now: its window is too small for the prompt, or its breaker is open."""
        limit = self.config.tiers[tier].input_limit()
        if limit is not None and ex.body_bytes > limit:  # a token is at least one byte: smaller bodies always fit
            if ex.prompt_tokens is None:  # once per request, and big prompts off the event loop
                api = ex.record.api
                ex.prompt_tokens = (
                    await asyncio.to_thread(count_prompt, ex.body, api)
                    if ex.body_bytes > PROMPT_COUNT_OFF_LOOP_BYTES
                    else count_prompt(ex.body, api)
                )
            ex.completion.prompt_tokens = ex.prompt_tokens
            if ex.prompt_tokens > limit:
                return Outcome(Kind.SKIPPED, reason="context_length")
        breaker = self.breakers[tier]
        if not breaker.allow():
            return Outcome(Kind.SKIPPED, reason="breaker_open", retry_after_s=breaker.retry_in_s())
        return None

    async def attempt(self, ex: Exchange, at: Position) -> tuple[Outcome, Answer]:
        tier = at.tier
        spec = self.config.tiers[tier]
        attempt = Attempt(tier=tier, model=ex.api.upstream_model(ex.body, spec), started_at=time.time())
        ex.record.attempts.append(attempt)
        ex.completion.bodies.append(None)
        ex.completion.streams.append(None)
        ex.completion.answers.append(None)
        payload = ex.payloads.get(tier)
        if payload is None:
            payload = ex.payloads[tier] = ex.api.payload(ex.body, spec, self.dialects[tier], ex.record.stream)
        t0 = time.perf_counter()
        outcome, answer = await self._call(ex, tier, payload, attempt, can_redo=at.has_next)
        attempt.latency_ms = (time.perf_counter() - t0) * 1000
        ex.upstream_s += time.perf_counter() - t0
        attempt.status = answer.upstream_status or answer.status or None
        if answer.stream is None and answer.content and outcome.kind in (Kind.OK, Kind.DEGRADED):
            ex.completion.bodies[-1] = answer.content  # an answer was produced (degraded ones too): it is billed
        if outcome.kind not in (Kind.OK, Kind.DEGRADED) or answer.status >= 400:
            attempt.error_type = attempt.error_type or judge(outcome)[1]
            attempt.ended_by = EndedBy.ERROR
        return outcome, answer

    async def _call(
        self, ex: Exchange, tier: str, payload: bytes, attempt: Attempt, can_redo: bool
    ) -> tuple[Outcome, Answer]:
        remaining = ex.deadline - time.monotonic()
        upstream: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                headers = forwarded_headers.for_tier(ex.forward, tier, ex.record.routed_tier)
                if ex.trace is not None:  # this attempt's span opens; the upstream gets its trace context
                    headers = ex.trace.upstream_headers(headers)
                upstream = await self.pool.send(tier, ex.api.upstream_path, payload, headers)
                if upstream.status >= 400 or not ex.record.stream:
                    content = await upstream.read()
                    upstream.close()
                    return self._judged(ex, tier, upstream.status, content, upstream.headers, attempt)
                start = await self._open_stream(ex, tier, upstream, attempt, can_redo)
                if isinstance(start, str):  # read whole and degraded (empty, a broken held call): redone next
                    upstream.close()
                    attempt.error_type = start
                    return Outcome(Kind.DEGRADED, 200, start), Answer(200, degraded=start)
                return Outcome.ok(upstream.status), Answer(upstream.status, b"", upstream.headers, start)
        except UpstreamFailure as failure:
            if upstream is not None:
                upstream.close()
            attempt.error_type = failure.kind
            status, content = failure_answer(tier, failure)  # said at WARNING with the walker's move (incidents)
            return Outcome(Kind.NO_ANSWER, status, str(failure.kind)), Answer(status, content, detail=failure.detail)
        except TimeoutError:
            if upstream is not None:
                upstream.close()
            attempt.error_type = "deadline"
            message = f"The request deadline passed while waiting on tier `{tier}`."
            return Outcome(Kind.DEADLINE, 504, "deadline"), Answer(
                504, error_body(message, status=504, code="deadline")
            )
        except asyncio.CancelledError:  # the client left (or shutdown): the upstream connection goes too
            if upstream is not None:
                upstream.close()
            raise

    def _judged(
        self, ex: Exchange, tier: str, status: int, content: bytes, headers: Any, attempt: Attempt
    ) -> tuple[Outcome, Answer]:
        """A whole HTTP answer: an upstream error (normalised, scrubbed), not an answer at all, or one to check."""
        if status == upstream_credentials.REFUSED_STATUS:  # routetax's key, never the client's: say whose
            attempt.error_type = "upstream_credential"
            content = upstream_credentials.refused(tier, self.config.tiers[tier], status)
            answer = Answer(upstream_credentials.STATUS, content, headers, upstream_status=status)
            return Outcome.http_error(status, upstream_credentials.CODE, headers), answer
        if status >= 400:
            content = self.scrub(self.dialects[tier].normalise_error(status, content))
            return Outcome.http_error(status, error_code_of(content), headers), Answer(status, content, headers)
        reason, parsed = ex.api.degraded(ex.body, content) if looks_like_json_object(content) else ("unparseable", None)
        if reason == "unparseable":  # not an answer at all: an upstream error (502), retried and fallen back
            attempt.error_type = "bad_response"
            message = f"Upstream tier `{tier}` sent an answer that is not valid JSON."
            body = error_body(message, status=502, code="upstream_bad_response")
            return Outcome(Kind.NO_ANSWER, 502, "bad_response"), Answer(502, body)
        ex.completion.answers[-1] = parsed  # metering reads usage from it, not from the bytes again
        if reason is not None:
            return Outcome(Kind.DEGRADED, status, reason), Answer(status, content, headers, degraded=reason)
        return Outcome.ok(status), Answer(status, content, headers, parsed=parsed)

    async def _open_stream(
        self, ex: Exchange, tier: str, upstream: UpstreamResponse, attempt: Attempt, can_redo: bool
    ) -> StreamStart | str:
        """Read until the first event the client should see, so a failure before it can still fall back.

        A stream that ends before anything visible (an empty answer), or that starts with a tool call on
        a tier that holds them, has been read whole: it is checked as its JSON form would be, and when it
        is degraded and another tier can redo it, the reason comes back instead of a stream. On the last
        tier it is relayed and marked degraded.
        """
        t0 = time.perf_counter()
        state = ex.completion.streams[-1] = StreamState()
        if ex.task is not None and ex.record.api == "chat":
            state.answer_text = []  # the answer is filed for the task's next step: keep its text through the folds
        tools = bool(ex.body.get("tools") or ex.body.get("functions"))
        state.keep_calls = tools
        splitter = EventSplitter()
        self.pool.stream(tier, upstream)
        hold = self.config.tiers[tier].hold_tool_calls and tools
        pending: list[bytes] = []
        holding = committed = False
        while chunk := await upstream.read_chunk():
            events = splitter.feed(chunk)
            out = filter_events(events, state, ex.forward_usage)
            if out:
                pending.append(out)
            visible = ex.api.first_visible(events, tier, ex.record.key_id)
            if visible == "tool_calls" and hold:
                holding = True
            if visible and not holding:
                committed = True
                break
            if state.saw_done:
                break
        else:
            tail = splitter.rest()
            if tail.strip():
                pending.append(filter_events([tail + b"\n\n"], state, ex.forward_usage))
        attempt.ttft_ms = (time.perf_counter() - t0) * 1000
        degraded = None if committed else ex.api.stream_degraded(ex.body, state, whole=True)
        if degraded is not None and can_redo:
            return degraded
        finished = not committed or state.saw_done
        return StreamStart(upstream, splitter, b"".join(pending), finished, checked=not committed, degraded=degraded)


def failure_answer(tier: str, failure: UpstreamFailure) -> tuple[int, bytes]:
    """The client's answer when a tier sent no usable HTTP answer: 504 after a timeout, 502 otherwise.

    The failure's detail (host, port, resolver error) is for the operator's log, never for the client.
    """
    status = 504 if failure.kind is FailureKind.TIMEOUT else 502
    message = f"Upstream tier `{tier}` failed: {failure.kind}."
    return status, error_body(message, status=status, code=f"upstream_{failure.kind}")
