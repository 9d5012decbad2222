"""The span exporter encodes a batch a few spans at a time (so the event loop is not held) and still sends ONE POST.

The OTLP path end to end (a real receiver decoding the protobuf) is tests/test_telemetry_e2e.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router.telemetry import export
from router.telemetry.export import CHUNK_SPANS, ChunkedSpanExporter, chunked_span_exporter, sends_bytes

pytestmark = pytest.mark.unit

BATCH = 512  # the SDK's default OTEL_BSP_MAX_EXPORT_BATCH_SIZE


def _spans(count: int) -> Sequence[ReadableSpan]:
    provider = TracerProvider()
    kept = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("test")
    for index in range(count):
        span = tracer.start_span(f"chat model-{index}")
        span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": index})
        span.end()
    return kept.get_finished_spans()


def _decoded(data: bytes) -> list[tuple[str, int]]:
    message = ExportTraceServiceRequest.FromString(data)
    return [
        (span.name, int.from_bytes(span.span_id, "big"))
        for resource in message.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


@dataclass
class _Sent:
    success: bool = True


class _Client:
    """Stands in for the SDK's HTTP client: keeps each POST's body."""

    def __init__(self, success: bool = True) -> None:
        self.posts: list[bytes] = []
        self.success = success

    def export(self, data: bytes) -> _Sent:
        self.posts.append(data)
        return _Sent(self.success)


def test_a_batch_is_encoded_a_few_spans_at_a_time_and_sent_in_one_post(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = _spans(BATCH)
    encoded: list[int] = []
    encode = export.encode_spans

    def counting(chunk: Sequence[ReadableSpan]) -> object:
        encoded.append(len(chunk))
        return encode(chunk)

    monkeypatch.setattr(export, "encode_spans", counting)
    exporter = ChunkedSpanExporter(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces"))
    client = exporter._client = _Client()

    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert max(encoded) <= CHUNK_SPANS and sum(encoded) == BATCH
    [post] = client.posts  # one POST, as the SDK's exporter sends
    assert _decoded(post) == [(span.name, span.context.span_id) for span in spans]  # every span, in order


def test_a_failed_post_is_a_failed_export() -> None:
    exporter = ChunkedSpanExporter(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces"))
    exporter._client = _Client(success=False)
    assert exporter.export(_spans(3)) is SpanExportResult.FAILURE


def test_after_shutdown_nothing_is_sent() -> None:
    exporter = ChunkedSpanExporter(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces"))
    client = exporter._client = _Client()
    exporter.shutdown()
    assert exporter.export(_spans(3)) is SpanExportResult.FAILURE
    assert client.posts == []


def test_the_installed_sdk_still_lets_routetax_send_pre_encoded_batches() -> None:
    """Breaks when the SDK renames or drops its exporter's HTTP client (then batches would be encoded whole)."""
    assert sends_bytes(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces"))
    assert isinstance(chunked_span_exporter(), ChunkedSpanExporter)


def test_an_sdk_without_that_client_falls_back_to_its_own_exporter(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(export, "sends_bytes", lambda sdk: False)
    assert isinstance(chunked_span_exporter(), OTLPSpanExporter)
    assert "encoding batches whole" in caplog.text
