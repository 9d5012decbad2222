"""Telemetry never fails a request: a broken span or metric loses only itself, and the next request's ids are right."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from metering.completion import Completion
from metering.record import Attempt, Record
from router.telemetry import OtelSettings, Signal
from router.telemetry.otel import OtelTelemetry

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _telemetry() -> tuple[OtelTelemetry, InMemorySpanExporter]:
    """Traces on, kept in memory (the OTLP path is tests/test_telemetry_e2e.py's)."""
    telemetry = OtelTelemetry(OtelSettings(frozenset({Signal.TRACES})), {})
    provider = TracerProvider(id_generator=telemetry._ids)
    kept = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    telemetry._tracer_provider, telemetry._tracer = provider, provider.get_tracer("test")
    return telemetry, kept


def _served(telemetry: OtelTelemetry, request_id: str) -> tuple[Record, str]:
    trace = telemetry.begin({"traceparent": TRACEPARENT}, "chat")
    telemetry.admitted(trace, request_id)
    sent = trace.upstream_headers({})["traceparent"]
    record = Record(request_id=request_id, requested_model="auto", ended_at=1e9)
    record.attempts = [Attempt(tier="nano", model="gpt-5.4-nano", latency_ms=1.0)]
    return record, sent


def test_a_failing_span_loses_only_its_own_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    telemetry, kept = _telemetry()
    record, _ = _served(telemetry, "broken")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a span")

    with monkeypatch.context() as patch:
        patch.setattr(telemetry._tracer, "start_span", broken)
        telemetry.finish(record, Completion(request={}, bodies=[None], streams=[None]))  # does not raise
    assert kept.get_finished_spans() == ()

    record, sent = _served(telemetry, "next")
    telemetry.finish(record, Completion(request={}, bodies=[None], streams=[None]))
    [request] = [s for s in kept.get_finished_spans() if s.kind is SpanKind.SERVER]
    [attempt] = [s for s in kept.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert f"{attempt.context.span_id:016x}" in sent  # the id the upstream got, not one left over by the failure
    assert attempt.parent.span_id == request.context.span_id
