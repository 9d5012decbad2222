"""Relay: the walk's answer to the client — JSON as the upstream's bytes, SSE event by event — then metering.

The client gets its answer first; the finished `Record` goes to metering after (a background task
for JSON, the end of the stream for SSE), and metering never blocks. A usable answer is filed for its
task's next step before the client can send that step: a JSON answer before the response leaves, a
stream as soon as the relay holds the whole answer, before its last event is passed on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from starlette.responses import Response

from metering.completion import Completion
from metering.record import EndedBy, Outcome, Record
from router.errors import SHOULD_RETRY_HEADER
from router.json_response import JsonAnswer
from router.rate_headers import RATE_LIMIT_PREFIX
from router.secrets import Scrubber
from router.serving.attempt import Answer, StreamStart
from router.serving.intake import Exchange
from router.sse import DONE, StreamState, error_event, estimate_completion_tokens, filter_events
from router.stream_response import RelayResponse, Sink
from router.tasks import TaskIdentity
from router.telemetry import Telemetry
from router.upstream import UpstreamFailure
from router.upstream_tap import pump

ESTIMATE_OFF_LOOP_EVENTS = 2_000  # streams without usage longer than this are estimated in a worker thread
# Upstream response headers a client may rely on (the openai SDK's `_request_id`, rate-limit pacing, Retry-After).
RELAYED_HEADERS = ("x-request-id", "openai-processing-ms", "openai-version")
RETRY_HEADERS = ("retry-after", "retry-after-ms")
# What the answer cost, where it was served (docs/cost-on-the-answer.md). A stream's cost is known only at its end,
# after its headers left: it comes as an SSE comment after the event that carried usage, which every SSE parser skips.
COST_HEADER = "x-routetax-cost-usd"
TIER_HEADER = "x-routetax-tier"
MODEL_HEADER = "x-routetax-model"


def cost_comment(cost_usd: float) -> bytes:
    """The SSE comment carrying a stream's cost: `: x-routetax-cost-usd: 0.0000123000`, then a blank line."""
    return b": %s: %.10f\n\n" % (COST_HEADER.encode(), cost_usd)


def with_cost(out: bytes, cost_usd: float | None) -> bytes:
    """`out` with the cost comment after its usage event: before a closing `[DONE]`, which ends SDKs' reading."""
    if cost_usd is None:
        return out
    if out.endswith(DONE):
        return out[: -len(DONE)] + cost_comment(cost_usd) + DONE
    return out + cost_comment(cost_usd)


class Metering(Protocol):
    """Where finished records go: `metering.pipeline.MeteringPipeline`."""

    def __call__(self, record: Record, completion: Completion) -> None: ...

    def expect(self, request_id: str, key_id: str | None) -> None: ...

    def quote(self, record: Record, completion: Completion) -> float | None:
        """The request's cost from the usage its answers reported, or None when that cannot be said yet."""
        ...

    @property
    def accepting(self) -> bool: ...  # False: a new request's record would have nowhere to go (refuse it)


def relay_headers(
    upstream: Any, headers: dict[str, str], status: int, rate_limits: bool = True, scrub: Scrubber | None = None
) -> None:
    """Copy the upstream's request id and rate-limit headers (and Retry-After on an error) into `headers`.

    `rate_limits` False: a virtual key's client is paced by its key's own limits, never by the upstream
    organisation's. Hop-by-hop and framing headers never travel: the response is re-framed by routetax.
    `scrub`: what an upstream echoes of its credential in a relayed header is redacted.
    """
    if upstream is None:
        return
    for name, value in upstream.items():
        lower = name.lower()
        if (
            lower in RELAYED_HEADERS
            or (rate_limits and lower.startswith(RATE_LIMIT_PREFIX))
            or (status >= 400 and lower in RETRY_HEADERS)
        ):
            headers[lower] = value if scrub is None else scrub.header(value)


def tier_path(record: Record) -> list[str]:
    """The tiers that served attempts, in order, each run of attempts on one tier once."""
    path: list[str] = []
    for attempt in record.attempts:
        if not path or path[-1] != attempt.tier:
            path.append(attempt.tier)
    return path


class Relay:
    """Answers the client with the walk's final answer, and hands the finished record to metering."""

    def __init__(
        self,
        metering: Metering,
        identity: TaskIdentity | None = None,
        scrub: Scrubber | None = None,
        telemetry: Telemetry | None = None,  # None: OpenTelemetry is off
    ) -> None:
        self.metering = metering
        self.telemetry = telemetry
        self.identity = identity
        self.scrub = scrub or Scrubber()  # the upstream credentials, out of every relayed byte
        self._background: set[asyncio.Task[None]] = set()
        self._streaming: set[asyncio.Task[Any]] = set()  # the tasks relaying a stream now
        self._ended: set[asyncio.Task[Any]] = set()  # those the server ended (shutdown), not their clients

    def end_streams_after(self, grace_s: float) -> None:
        """Shutdown began: streams still open after `grace_s` get an error event and `[DONE]`, then end."""
        asyncio.get_running_loop().call_later(grace_s, self._end_streams)

    def _end_streams(self) -> None:
        for task in list(self._streaming):
            self._ended.add(task)
            task.cancel()

    def answer(self, ex: Exchange, answer: Answer) -> Response:
        record = ex.record
        tier = record.attempts[-1].tier if record.attempts else None
        filing = False
        if answer.stream is None and answer.status < 400 and tier is not None:
            ex.api.answered(answer.content, tier, record.key_id)
            filing = answer.degraded is None and ex.task is not None and self.identity is not None
        record.tier_path = tier_path(record)
        if tier is not None:
            ex.headers[TIER_HEADER] = tier
            ex.headers[MODEL_HEADER] = record.attempts[-1].model
        relay_headers(answer.headers, ex.headers, answer.status, rate_limits=ex.key is None, scrub=self.scrub)
        record.status = answer.status
        if answer.status >= 400:  # routetax's own retries and fallbacks are spent: the client's would add load
            ex.headers[SHOULD_RETRY_HEADER] = "false"
        if answer.stream is not None:
            pre_ms = (time.perf_counter() - ex.started - ex.upstream_s) * 1000
            ex.headers["x-routetax-overhead-ms"] = f"{pre_ms:.3f}"
            stream = answer.stream
            return RelayResponse(
                lambda sink: self._relay(ex, stream, pre_ms, sink),
                status_code=answer.status,
                media_type="text/event-stream",
                headers={**ex.headers, "cache-control": "no-cache"},
            )
        if answer.status >= 400:
            record.outcome = Outcome.FAILED
        elif answer.degraded is not None:
            record.outcome, record.degraded_reason = Outcome.DEGRADED, answer.degraded
        else:
            record.outcome = Outcome.SUCCESS
        if answer.status < 400:
            quoted = self.metering.quote(record, ex.completion)
            if quoted is not None:
                ex.headers[COST_HEADER] = f"{quoted:.10f}"
        record.proxy_overhead_ms = max((time.perf_counter() - ex.started - ex.upstream_s) * 1000, 0.0)
        ex.headers["x-routetax-overhead-ms"] = f"{record.proxy_overhead_ms:.3f}"
        return JsonAnswer(
            self.scrub.answer(answer.content),  # errors were scrubbed as such by the attempt
            answer.status,
            ex.headers,
            self._after_json,
            ex,
            answer.content if filing else None,
            answer.parsed,
        )

    async def _relay(self, ex: Exchange, start: StreamStart, pre_ms: float, sink: Sink) -> None:
        """The stream's body, written into `sink` (router/stream_response.py) as the upstream sends it.

        The events after the first visible one are handled in the upstream connection's `data_received`
        (router/upstream_tap.py): this task waits once for the stream's end, not once per event.
        """
        record = ex.record
        state = ex.completion.stream
        assert isinstance(state, StreamState)  # the relay's own state, which metering reads as a RelayedStream
        attempt = record.attempts[-1]
        record.outcome = Outcome.CLIENT_CANCELLED  # until the stream is seen through to its end
        passing = _Passing(self, ex, start, sink)
        relaying = asyncio.current_task()
        assert relaying is not None
        self._streaming.add(relaying)
        try:
            # A whole answer is filed once its last bytes are sent (as a JSON answer is, see `_after_json`).
            if start.pending:
                passing.pending(start.pending)
            if not start.finished:
                state.compact = True  # from here on only a token estimate (and tool calls: keep_calls) need the events
                await pump(start.upstream, passing.body, sink)
                tail = start.splitter.rest()
                if tail.strip():
                    passing.events([tail + b"\n\n"], time.perf_counter())
            if passing.filing:  # an upstream that ended without a closing event
                passing.filing = self._file_stream(ex, state, start, ended=True)
            if not state.saw_done and ex.api.ends_with_done():
                sink.write(DONE)  # the client's SDK waits for it; some upstreams end without one
            # Checked before anything was sent (read whole), or now that it has all been sent.
            degraded = start.degraded if start.checked else ex.api.stream_degraded(ex.body, state, whole=False)
            if state.failed:
                record.outcome = Outcome.FAILED
            elif degraded is not None:
                record.outcome, record.degraded_reason = Outcome.DEGRADED, degraded
            else:
                record.outcome = Outcome.SUCCESS
        except UpstreamFailure as failure:
            attempt.error_type, attempt.ended_by = f"stream_{failure.kind}", EndedBy.ERROR
            record.outcome, record.status = Outcome.FAILED, 502
            message = f"Upstream tier `{attempt.tier}` broke off the stream: {failure.kind}"
            broken = error_event(message, "upstream_stream_broken", api=record.api, sequence_number=state.next_sequence)
            sink.write(broken)
            if ex.api.ends_with_done():
                sink.write(DONE)
        except asyncio.CancelledError:
            if relaying not in self._ended:  # the client left (RelayResponse), or someone else's cancellation
                raise
            relaying.uncancel()  # ours: the stream is ended here, properly, and the task goes on to send it
            attempt.error_type, attempt.ended_by = "server_shutdown", EndedBy.SERVER_SHUTDOWN
            record.outcome, record.status = Outcome.FAILED, 503
            message = "routetax is shutting down: this stream was ended before the upstream finished it."
            sink.write(error_event(message, "server_shutdown", api=record.api, sequence_number=state.next_sequence))
            if ex.api.ends_with_done():
                sink.write(DONE)
        finally:
            self._streaming.discard(relaying)
            self._ended.discard(relaying)
            start.upstream.close()
            if record.outcome is Outcome.CLIENT_CANCELLED:
                attempt.ended_by = EndedBy.CLIENT_CANCELLED
            record.proxy_overhead_ms = pre_ms + passing.relay_s * 1000
            if state.usage_chunk is None and state.event_count > ESTIMATE_OFF_LOOP_EVENTS:
                # A long stream without usage: tokenising what it carried would stall every client for seconds.
                task = asyncio.get_running_loop().create_task(self._emit_after_estimate(record, ex.completion, state))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                self.emit(record, ex.completion)

    def _file_stream(self, ex: Exchange, state: StreamState, start: StreamStart, ended: bool = False) -> bool:
        """File a stream's answer for its task's next step when it is usable; False: nothing left to file."""
        if not ended and not state.saw_done and state.usage_chunk is None:
            return True  # more to come
        if state.failed:
            return False
        degraded = start.degraded if start.checked else ex.api.stream_degraded(ex.body, state, whole=False)
        filed = ex.api.stream_answer_atoms(state) if degraded is None else None
        if filed is not None and ex.task is not None and self.identity is not None:
            ex.record.answer_calls = filed.calls
            self.identity.file(ex.task, filed, ex.record.routed_tier)
        return False

    async def _emit_after_estimate(self, record: Record, completion: Completion, state: StreamState) -> None:
        try:
            state.completion_tokens = await asyncio.to_thread(estimate_completion_tokens, state)
        finally:
            self.emit(record, completion)

    async def _after_json(self, ex: Exchange, filed_content: bytes | None, parsed: Any = None) -> None:
        """Once a JSON answer is sent: file it for its task's next step (`filed_content`: the answer to file;
        `parsed`: its JSON as the degraded check parsed it, None to parse it here), then meter. A coroutine, so
        Starlette runs it on the event loop rather than in a worker thread: the ledger, the key settlements, the
        task index and the shared state all belong to the loop.

        Filing waits for the send because nothing needs it sooner: Starlette runs this right after the body's
        write, before the loop reads another request, so the client's next step (sent once it has read this
        answer) finds it filed here; other processes learn of it through the store, written in the background
        anyway. That takes normalising and hashing the answer (~40 µs in the proxy) off every answer's latency."""
        if filed_content is not None and ex.task is not None and self.identity is not None:
            filed = ex.api.answer_atoms(filed_content, parsed)
            if filed is not None:
                ex.record.answer_calls = filed.calls
                self.identity.file(ex.task, filed, ex.record.routed_tier)
        self.emit(ex.record, ex.completion)

    def emit(self, record: Record, completion: Completion) -> None:
        record.ended_at = time.time()
        self.metering(record, completion)
        if self.telemetry is not None:  # after metering: the spans carry the usage and cost it completed
            self.telemetry.finish(record, completion)


class _Passing:
    """One stream's events on their way to the client: split, filtered, quoted, filed, scrubbed, written.

    Called from the upstream connection's `data_received` (router/upstream_tap.py), so it never waits.
    """

    __slots__ = ("relay", "ex", "start", "sink", "state", "feed", "scrub", "quoting", "filing", "relay_s")

    def __init__(self, relay: Relay, ex: Exchange, start: StreamStart, sink: Sink) -> None:
        self.relay, self.ex, self.start, self.sink = relay, ex, start, sink
        state = ex.completion.stream
        assert isinstance(state, StreamState)
        self.state = state
        self.feed = start.splitter.feed
        self.scrub = relay.scrub.answer
        self.quoting = True  # until the event that carries usage has been passed on, with the cost after it
        self.filing = ex.task is not None and relay.identity is not None
        self.relay_s = 0.0  # the relay's own time on this stream's events (`proxy_overhead_ms`)

    def pending(self, pending: bytes) -> None:
        """What the attempt read before the first visible event (already filtered)."""
        t0 = time.perf_counter()
        pending = self._quoted(pending)
        if self.filing and self.start.finished:
            self.filing = self.relay._file_stream(self.ex, self.state, self.start)
        out = self.scrub(pending)
        self.relay_s += time.perf_counter() - t0
        self.sink.write(out)

    def body(self, chunk: bytes) -> None:
        self.events(self.feed(chunk), time.perf_counter())

    def events(self, events: list[bytes], t0: float) -> None:
        state = self.state
        out = self._quoted(filter_events(events, state, self.ex.forward_usage))
        if self.filing and (state.saw_done or state.usage_chunk is not None):  # the whole answer is here
            self.filing = self.relay._file_stream(self.ex, state, self.start)
        if out:
            out = self.scrub(out)
        self.relay_s += time.perf_counter() - t0
        if out:
            self.sink.write(out)

    def _quoted(self, out: bytes) -> bytes:
        """`out`, with the cost comment after it once the event carrying usage is in it (once per stream)."""
        if self.quoting and self.state.usage_chunk is not None:
            self.quoting = False
            return with_cost(out, self.relay.metering.quote(self.ex.record, self.ex.completion))
        return out
