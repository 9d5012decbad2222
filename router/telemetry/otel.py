"""OpenTelemetry on: the SDK's providers, the request and attempt spans, the GenAI metrics. Imported only when on.

The request path does the least it can: it reads the client's trace context, draws the request's and each
attempt's span ids and start times, and writes the attempt's `traceparent` for the upstream — a few µs, where
opening the SDK's spans there cost ≈ 70 µs a request (measured in-process, begin + one attempt). The SDK's spans
are made in `finish`, with those very ids (`_PresetIds`) and their real start and end times, with the
attributes read from usage and cost, and every metric recorded: where the finished record goes to metering,
after a JSON answer was sent, after a stream's last event. The SDK's batch processor and periodic reader then
export from their own threads, over OTLP/HTTP — spans encoded a few at a time (`router.telemetry.export`), so
the batch thread does not hold the GIL for the ≈ 50 ms a whole batch takes while the event loop waits.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import random
import time
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TraceFlags, get_current_span, set_span_in_context

from metering.completion import Completion
from metering.logs.limiter import RateLimitedLog
from metering.record import Record
from router.telemetry.attributes import (
    OPERATION,
    Attributes,
    TierFacts,
    attempt_attributes,
    error_type,
    request_attributes,
    response_id,
)
from router.telemetry.export import chunked_span_exporter
from router.telemetry.settings import OtelSettings, Signal

log = logging.getLogger("routetax.telemetry")
# a bug here must not flood the log: each kind of telemetry failure at most once per 10 s, the rest counted
_failures = RateLimitedLog(log, burst=1, window_s=10.0)

SCOPE = "routetax"
SHUTDOWN_WAIT_S = 5.0  # a collector that is gone must not hold the process's exit for the exporter's retries
# The buckets the GenAI conventions give for each histogram.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


def _random_id(bits: int) -> int:
    while (value := random.getrandbits(bits)) == 0:  # an all-zero id is invalid
        pass
    return value


class Instrument(Enum):
    """The GenAI metrics routetax records: (name, unit, help, the conventions' bucket boundaries)."""

    TOKENS = ("gen_ai.client.token.usage", "{token}", "Input and output tokens of each upstream call", TOKEN_BUCKETS)
    OPERATION = (
        "gen_ai.client.operation.duration",
        "s",
        "How long each upstream call took (a relayed stream: to its last event)",
        DURATION_BUCKETS,
    )
    REQUEST = (
        "gen_ai.server.request.duration",
        "s",
        "How long routetax took to answer each request, all attempts included",
        DURATION_BUCKETS,
    )
    TTFT = (
        "gen_ai.server.time_to_first_token",
        "s",
        "From a streamed request's arrival to its first event sent to the client",
        TTFT_BUCKETS,
    )

    def __init__(self, metric: str, unit: str, help: str, buckets: list[float]) -> None:  # noqa: A002
        self.metric, self.unit, self.help, self.buckets = metric, unit, help, buckets


class RequestTrace:
    """One request's telemetry while it is served: its trace context and span ids, its attempts' ids and starts.

    `trace_id` is None when traces are off (metrics only): then nothing is propagated but the client's own header.
    """

    __slots__ = ("api", "attempts", "first_event_ns", "flags", "parent", "sampled", "span_id", "start_ns", "trace_id")

    def __init__(self, api: str, start_ns: int) -> None:
        self.api = api
        self.start_ns = start_ns
        self.trace_id: int | None = None
        self.span_id = 0
        self.parent: Any = None  # the client's context (an OpenTelemetry Context), when it sent one
        self.sampled = False
        self.flags = 0  # the W3C flags the request's spans carry
        self.attempts: list[tuple[int, int]] = []  # (span id, start ns) per attempt, in order
        self.first_event_ns: int | None = None

    def upstream_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """The next attempt's span id and start; `headers` with its `traceparent`, so the upstream joins the trace.

        The client's `tracestate` (already in `headers`) is the trace's and travels on unchanged.
        """
        if self.trace_id is None:
            return headers  # traces off: the client's own traceparent travels as it came
        span_id = _random_id(64)
        self.attempts.append((span_id, time.time_ns()))
        return {**headers, "traceparent": f"00-{self.trace_id:032x}-{span_id:016x}-{self.flags:02x}"}

    def first_event(self) -> None:
        """A stream's first event is about to leave: the request's time to first token ends here."""
        self.first_event_ns = time.time_ns()


class _PresetIds(IdGenerator):
    """Gives the SDK the ids the request path already drew (and sent upstream), when `finish` makes the spans.

    Used from the event loop's thread only (every `start_span` of this provider is in `finish` or `refused`).
    """

    def __init__(self) -> None:
        self.trace_id: int | None = None
        self.span_id: int | None = None

    def preset(self, trace_id: int | None, span_id: int | None) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def generate_span_id(self) -> int:
        span_id, self.span_id = self.span_id, None
        return span_id if span_id is not None else _random_id(64)

    def generate_trace_id(self) -> int:
        trace_id, self.trace_id = self.trace_id, None
        return trace_id if trace_id is not None else _random_id(128)

    def is_trace_id_random(self) -> bool:
        return True


def _version() -> str:
    try:
        return importlib.metadata.version("routetax")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _resource(env: Mapping[str, str]) -> Resource:
    """The SDK's resource from the environment, with routetax's defaults where the environment says nothing."""
    given = {pair.split("=", 1)[0].strip() for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if pair}
    defaults: dict[str, str] = {}
    if not env.get("OTEL_SERVICE_NAME") and "service.name" not in given:
        defaults["service.name"] = "routetax"
    if "service.version" not in given:
        defaults["service.version"] = _version()
    if "service.instance.id" not in given:  # each `--workers` process sends cumulative metrics of its own
        defaults["service.instance.id"] = uuid.uuid4().hex
    return Resource.create(defaults)


class OtelTelemetry:
    """The process's OpenTelemetry: providers started in the app's lifespan (after `--workers` forked)."""

    def __init__(self, settings: OtelSettings, tiers: dict[str, TierFacts]) -> None:
        self.settings = settings
        self.tiers = tiers
        self._open: dict[str, RequestTrace] = {}  # request id -> its trace, until its record is finished
        self._tracer: Any = None
        self._ids = _PresetIds()
        self._tracer_provider: TracerProvider | None = None
        self._meter_provider: MeterProvider | None = None
        self._instruments: dict[Instrument, Any] = {}

    # -- lifetime ---------------------------------------------------------------------------------

    def start(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        resource = _resource(env)
        where: list[str] = []
        if Signal.TRACES in self.settings.signals:
            self._tracer_provider = TracerProvider(resource=resource, id_generator=self._ids)
            self._tracer_provider.add_span_processor(BatchSpanProcessor(chunked_span_exporter()))
            self._tracer = self._tracer_provider.get_tracer(SCOPE)
            where.append("traces")
        if Signal.METRICS in self.settings.signals:
            reader = PeriodicExportingMetricReader(OTLPMetricExporter())
            self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self._meter_provider.get_meter(SCOPE)
            self._instruments = {
                instrument: meter.create_histogram(
                    instrument.metric,
                    unit=instrument.unit,
                    description=instrument.help,
                    explicit_bucket_boundaries_advisory=instrument.buckets,
                )
                for instrument in Instrument
            }
            where.append("metrics")
        log.info("OpenTelemetry on: %s over OTLP/HTTP (protobuf)", " and ".join(where))

    async def aclose(self) -> None:
        """Flush and stop the exporters, in a thread and bounded: the collector may be the thing that is down."""
        for provider in (self._tracer_provider, self._meter_provider):
            if provider is None:
                continue
            try:
                await asyncio.wait_for(asyncio.to_thread(provider.shutdown), SHUTDOWN_WAIT_S)
            except TimeoutError:
                log.warning("OpenTelemetry: the exporter did not flush within %.0f s; giving up", SHUTDOWN_WAIT_S)

    # -- the request path -------------------------------------------------------------------------

    def begin(self, headers: Mapping[str, str], api: str) -> RequestTrace:
        """A request arrived: its trace context (the client's, else a new trace), span id and sampling decision.

        Telemetry never fails a request: should reading the context go wrong, the request goes untraced.
        """
        trace = RequestTrace(api, time.time_ns())
        if self._tracer_provider is None:
            return trace
        try:
            self._trace_context(trace, headers)
        except Exception:
            trace.trace_id = None
            self._failed("read the trace context of a request")
        return trace

    def _trace_context(self, trace: RequestTrace, headers: Mapping[str, str]) -> None:
        assert self._tracer_provider is not None
        parent = propagate.extract(headers)
        context = get_current_span(parent).get_span_context()
        if context.is_valid:
            trace.parent, trace.trace_id = parent, context.trace_id
            random_id = bool(context.trace_flags & TraceFlags.RANDOM_TRACE_ID)
        else:
            trace.trace_id, random_id = _random_id(128), True
        sampled = self._tracer_provider.sampler.should_sample(parent, trace.trace_id, trace.api, SpanKind.SERVER)
        trace.sampled = sampled.decision.is_sampled()
        trace.flags = (TraceFlags.SAMPLED if trace.sampled else 0) | (TraceFlags.RANDOM_TRACE_ID if random_id else 0)
        trace.span_id = _random_id(64)

    def _request_span(self, trace: RequestTrace, name: str) -> Span:
        self._ids.preset(trace.trace_id or 0, trace.span_id)
        try:
            return self._tracer.start_span(name, context=trace.parent, kind=SpanKind.SERVER, start_time=trace.start_ns)
        finally:
            self._ids.preset(None, None)

    def admitted(self, trace: RequestTrace, request_id: str) -> None:
        self._open[request_id] = trace

    # -- after the answer -------------------------------------------------------------------------

    def _failed(self, what: str) -> None:
        """Say a telemetry failure (with its traceback), rate-limited by kind: the request itself is unaffected."""
        _failures.log(
            logging.ERROR,
            "OpenTelemetry: could not %s (the request itself is unaffected)",
            what,
            key=what,
            exc_info=True,
        )

    def refused(self, trace: RequestTrace, status: int, code: str) -> None:
        """Refused before any routing (bad body, key, budget): the span and the duration, with the refusal's code."""
        try:
            self._refused(trace, status, code)
        except Exception:
            self._failed("record a refused request")

    def _refused(self, trace: RequestTrace, status: int, code: str) -> None:
        end = time.time_ns()
        operation = OPERATION[trace.api].value
        if trace.trace_id is not None and trace.sampled:
            span = self._request_span(trace, operation)
            span.set_attributes(
                {"gen_ai.operation.name": operation, "http.response.status_code": status, "error.type": code}
            )
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, code))
            span.end(end)
        if Instrument.REQUEST in self._instruments:
            attrs = {"gen_ai.operation.name": operation, "error.type": code}
            self._instruments[Instrument.REQUEST].record((end - trace.start_ns) / 1e9, attrs)

    def finish(self, record: Record, completion: Completion) -> None:
        """The record is complete (usage, cost): name, fill and end the spans, and record the metrics."""
        trace = self._open.pop(record.request_id, None)
        if trace is None:
            return
        try:
            self._finish(record, completion, trace)
        except Exception:  # the record has gone to metering already: only its telemetry is lost
            self._failed(f"export the telemetry of request {record.request_id}")

    def _finish(self, record: Record, completion: Completion, trace: RequestTrace) -> None:
        end = int(record.ended_at * 1e9) if record.ended_at else time.time_ns()
        ends = self._attempt_ends(record, trace, end)
        if trace.trace_id is not None and trace.sampled:
            ids = [response_id(completion, i) for i in range(len(record.attempts))]
            operation = OPERATION[record.api].value
            request = self._request_span(trace, f"{operation} {record.requested_model}".strip())
            under = set_span_in_context(request)
            for index, ((span_id, started), attempt) in enumerate(zip(trace.attempts, record.attempts, strict=False)):
                attributes = attempt_attributes(record, attempt, self.tiers.get(attempt.tier), ids[index])
                self._ids.preset(trace.trace_id, span_id)
                try:
                    span = self._tracer.start_span(
                        f"{operation} {attempt.model}", context=under, kind=SpanKind.CLIENT, start_time=started
                    )
                finally:
                    self._ids.preset(None, None)
                span.set_attributes(attributes)
                if attempt.error_type is not None:
                    span.set_status(Status(StatusCode.ERROR, attempt.error_type))
                span.end(ends[index])
            request.set_attributes(request_attributes(record, self.tiers, ids[-1] if ids else None))
            if record.status >= 500:
                request.set_status(Status(StatusCode.ERROR, error_type(record)))
            request.end(end)
        if self._instruments:
            self._record_metrics(record, trace, end, ends)

    def _attempt_ends(self, record: Record, trace: RequestTrace, end: int) -> list[int]:
        """When each attempt ended: its start plus its latency; a relayed stream, when the request ended."""
        ends = []
        for index, attempt in enumerate(record.attempts):
            started = trace.attempts[index][1] if index < len(trace.attempts) else int(attempt.started_at * 1e9)
            relayed = index == len(record.attempts) - 1 and record.stream and attempt.ttft_ms is not None
            ends.append(end if relayed else started + int(attempt.latency_ms * 1e6))
        return ends

    def _record_metrics(self, record: Record, trace: RequestTrace, end: int, ends: list[int]) -> None:
        operation = OPERATION[record.api].value
        server: Attributes = {"gen_ai.operation.name": operation, "gen_ai.request.model": record.requested_model}
        if record.attempts and (facts := self.tiers.get(record.attempts[-1].tier)) is not None:
            server["gen_ai.provider.name"] = facts.provider
            server["routetax.tier"] = record.attempts[-1].tier
        if record.status >= 400:
            server["error.type"] = error_type(record)
        self._instruments[Instrument.REQUEST].record((end - trace.start_ns) / 1e9, server)
        if record.stream and trace.first_event_ns is not None:
            self._instruments[Instrument.TTFT].record((trace.first_event_ns - trace.start_ns) / 1e9, server)
        for index, attempt in enumerate(record.attempts):
            client: Attributes = {"gen_ai.operation.name": operation, "gen_ai.request.model": attempt.model}
            client["routetax.tier"] = attempt.tier
            if (facts := self.tiers.get(attempt.tier)) is not None:
                client["gen_ai.provider.name"] = facts.provider
                client["server.address"] = facts.address
                client["server.port"] = facts.port
            failed = {"error.type": attempt.error_type} if attempt.error_type is not None else {}
            duration = max(ends[index] - int(attempt.started_at * 1e9), 0) / 1e9
            self._instruments[Instrument.OPERATION].record(duration, {**client, **failed})
            if attempt.billed and attempt.usage is not None:
                tokens = self._instruments[Instrument.TOKENS]
                tokens.record(attempt.usage.prompt_tokens, {**client, "gen_ai.token.type": "input"})
                tokens.record(attempt.usage.completion_tokens, {**client, "gen_ai.token.type": "output"})
