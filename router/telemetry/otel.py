"""OpenTelemetry on: the SDK's providers, the request and attempt spans, the GenAI metrics. Imported only when on.

The request path does the least it can: it opens the request span (the client's `traceparent` as its parent)
and one span per upstream attempt, whose context is what the upstream receives as its `traceparent`. Both are
opened with their real start times and left open. Everything else — the attributes read from usage and
cost, the spans' names, their ends (explicit end times), every metric — happens in `finish`, which runs
where the finished record goes to metering: after a JSON answer was sent, after a stream's last event.
The SDK's batch processor and periodic reader then export from their own threads, over OTLP/HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context

from metering.completion import Completion
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
from router.telemetry.settings import OtelSettings, Signal

log = logging.getLogger("routetax.telemetry")

SCOPE = "routetax"
SERVICE_VERSION = "0.1.0"
SHUTDOWN_WAIT_S = 5.0  # a collector that is gone must not hold the process's exit for the exporter's retries
# The buckets the GenAI conventions give for each histogram.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


class RequestTrace:
    """One request's telemetry while it is served: its span (None: traces are off), its attempts' spans."""

    __slots__ = ("api", "attempts", "first_event_ns", "span", "start_ns", "tracer")

    def __init__(self, tracer: Any, span: Span | None, api: str, start_ns: int) -> None:
        self.tracer = tracer
        self.span = span
        self.api = api
        self.start_ns = start_ns
        self.attempts: list[Span] = []
        self.first_event_ns: int | None = None

    def upstream_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Open the next attempt's span; `headers` with its trace context, so the upstream's spans join the trace."""
        if self.span is None:
            return headers  # traces off: the client's own traceparent travels as it came
        span = self.tracer.start_span(
            OPERATION[self.api].value,
            context=set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            start_time=time.time_ns(),
        )
        self.attempts.append(span)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=set_span_in_context(span))
        out = {name: value for name, value in headers.items() if name not in ("traceparent", "tracestate")}
        out.update(carrier)
        return out

    def first_event(self) -> None:
        """A stream's first event is about to leave: the request's time to first token ends here."""
        self.first_event_ns = time.time_ns()


def _resource(env: Mapping[str, str]) -> Resource:
    """The SDK's resource from the environment, with routetax's defaults where the environment says nothing."""
    given = {pair.split("=", 1)[0].strip() for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if pair}
    defaults: dict[str, str] = {}
    if not env.get("OTEL_SERVICE_NAME") and "service.name" not in given:
        defaults["service.name"] = "routetax"
    if "service.version" not in given:
        defaults["service.version"] = SERVICE_VERSION
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
        self._tracer_provider: TracerProvider | None = None
        self._meter_provider: MeterProvider | None = None
        self._instruments: dict[str, Any] = {}

    # -- lifetime ---------------------------------------------------------------------------------

    def start(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        resource = _resource(env)
        where: list[str] = []
        if Signal.TRACES in self.settings.signals:
            self._tracer_provider = TracerProvider(resource=resource)
            self._tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            self._tracer = self._tracer_provider.get_tracer(SCOPE)
            where.append("traces")
        if Signal.METRICS in self.settings.signals:
            reader = PeriodicExportingMetricReader(OTLPMetricExporter())
            self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self._meter_provider.get_meter(SCOPE)
            self._instruments = {
                "tokens": meter.create_histogram(
                    "gen_ai.client.token.usage",
                    unit="{token}",
                    description="Input and output tokens of each upstream call",
                    explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
                ),
                "operation": meter.create_histogram(
                    "gen_ai.client.operation.duration",
                    unit="s",
                    description="How long each upstream call took (a stream: to its last event)",
                    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
                ),
                "request": meter.create_histogram(
                    "gen_ai.server.request.duration",
                    unit="s",
                    description="How long routetax took to answer each request, all attempts included",
                    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
                ),
                "ttft": meter.create_histogram(
                    "gen_ai.server.time_to_first_token",
                    unit="s",
                    description="From a streamed request's arrival to its first event sent to the client",
                    explicit_bucket_boundaries_advisory=TTFT_BUCKETS,
                ),
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
        """A request arrived: its span opens now, child of the client's trace context when it sent one."""
        start = time.time_ns()
        span = None
        if self._tracer is not None:
            span = self._tracer.start_span(
                OPERATION[api].value, context=propagate.extract(headers), kind=SpanKind.SERVER, start_time=start
            )
        return RequestTrace(self._tracer, span, api, start)

    def admitted(self, trace: RequestTrace, request_id: str) -> None:
        self._open[request_id] = trace

    # -- after the answer -------------------------------------------------------------------------

    def refused(self, trace: RequestTrace, status: int, code: str) -> None:
        """Refused before any routing (bad body, key, budget): the span and the duration, with the refusal's code."""
        end = time.time_ns()
        operation = OPERATION[trace.api].value
        if trace.span is not None:
            trace.span.set_attributes(
                {"gen_ai.operation.name": operation, "http.response.status_code": status, "error.type": code}
            )
            if status >= 500:
                trace.span.set_status(Status(StatusCode.ERROR, code))
            trace.span.end(end)
        if "request" in self._instruments:
            attrs = {"gen_ai.operation.name": operation, "error.type": code}
            self._instruments["request"].record((end - trace.start_ns) / 1e9, attrs)

    def finish(self, record: Record, completion: Completion) -> None:
        """The record is complete (usage, cost): name, fill and end the spans, and record the metrics."""
        trace = self._open.pop(record.request_id, None)
        if trace is None:
            return
        end = int(record.ended_at * 1e9) if record.ended_at else time.time_ns()
        ids = [response_id(completion, i) for i in range(len(record.attempts))]
        ends = self._attempt_ends(record, trace, end)
        if trace.span is not None:
            for index, (span, attempt) in enumerate(zip(trace.attempts, record.attempts, strict=False)):
                span.update_name(f"{OPERATION[record.api].value} {attempt.model}")
                span.set_attributes(attempt_attributes(record, attempt, self.tiers.get(attempt.tier), ids[index]))
                if attempt.error_type is not None:
                    span.set_status(Status(StatusCode.ERROR, attempt.error_type))
                span.end(ends[index])
            for span in trace.attempts[len(record.attempts) :]:
                span.end(end)
            final_id = ids[-1] if ids else None
            trace.span.update_name(f"{OPERATION[record.api].value} {record.requested_model}".strip())
            trace.span.set_attributes(request_attributes(record, self.tiers, final_id))
            if record.status >= 500:
                trace.span.set_status(Status(StatusCode.ERROR, error_type(record)))
            trace.span.end(end)
        if self._instruments:
            self._record_metrics(record, trace, end, ends)

    def _attempt_ends(self, record: Record, trace: RequestTrace, end: int) -> list[int]:
        """When each attempt ended: its start plus its latency; a relayed stream, when the request ended."""
        ends = []
        for index, attempt in enumerate(record.attempts):
            started = trace.attempts[index].start_time if index < len(trace.attempts) else None  # type: ignore[attr-defined]
            if started is None:
                started = int(attempt.started_at * 1e9)
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
        self._instruments["request"].record((end - trace.start_ns) / 1e9, server)
        if record.stream and trace.first_event_ns is not None:
            self._instruments["ttft"].record((trace.first_event_ns - trace.start_ns) / 1e9, server)
        for index, attempt in enumerate(record.attempts):
            client: Attributes = {"gen_ai.operation.name": operation, "gen_ai.request.model": attempt.model}
            client["routetax.tier"] = attempt.tier
            if (facts := self.tiers.get(attempt.tier)) is not None:
                client["gen_ai.provider.name"] = facts.provider
                client["server.address"] = facts.address
                client["server.port"] = facts.port
            started = int(attempt.started_at * 1e9)
            if attempt.error_type is not None:
                self._instruments["operation"].record(
                    max(ends[index] - started, 0) / 1e9, {**client, "error.type": attempt.error_type}
                )
            else:
                self._instruments["operation"].record(max(ends[index] - started, 0) / 1e9, client)
            if attempt.billed and attempt.usage is not None:
                tokens = self._instruments["tokens"]
                tokens.record(attempt.usage.prompt_tokens, {**client, "gen_ai.token.type": "input"})
                tokens.record(attempt.usage.completion_tokens, {**client, "gen_ai.token.type": "output"})
