"""The span exporter: the SDK's OTLP/HTTP exporter, but encoding a batch in small chunks so the event loop keeps going.

The SDK's exporter encodes a whole batch (up to 512 spans, ≈ 109 µs of pure Python a span) in one go in the
batch processor's thread: ≈ 50 ms holding the GIL, which the event loop gets back only at each forced switch
(every 5 ms, `sys.getswitchinterval()`) — so a request that needs the loop a few times while a batch is encoded
waits 5 ms each time: that was most of the p99 OpenTelemetry added (docs/performance.md, "OpenTelemetry").
Here the batch is encoded `CHUNK_SPANS` spans at a time with a short sleep between chunks, which hands the
GIL to the loop when it is waiting; the chunks' bytes are concatenated — in protobuf, concatenated messages
are one message whose repeated fields are appended, so the collector receives one `ExportTraceServiceRequest`
with every span of the batch, in ONE POST, as before. Nothing else changes: endpoint, headers, compression,
TLS, timeout, retries are the SDK client's, read from the same `OTEL_*` variables.

Sending pre-encoded bytes uses the SDK exporter's HTTP client (`_client.export`), which is not public API:
`chunked_span_exporter` checks it is there and otherwise returns the SDK's exporter as it is (one WARNING
line), and tests/test_telemetry_export.py fails when the SDK changes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("routetax.telemetry")

# 8 spans ≈ 0.9 ms of encoding between two chances for the loop; the pause is long enough that the waiting
# loop, not this thread, takes the GIL (a zero sleep often hands it straight back). Measured with an in-process
# loop-lag probe (docs/performance.md): p99 loop stall 11–13 ms with whole-batch encoding, 1–4 ms chunked.
CHUNK_SPANS = 8
PAUSE_S = 0.0001


def encode_in_chunks(spans: Sequence[ReadableSpan], chunk: int = CHUNK_SPANS, pause_s: float = PAUSE_S) -> bytes:
    """One serialized `ExportTraceServiceRequest` holding every span, encoded `chunk` spans at a time."""
    parts = []
    for start in range(0, len(spans), chunk):
        if start:
            time.sleep(pause_s)  # let a waiting event loop have the GIL
        parts.append(encode_spans(spans[start : start + chunk]).SerializePartialToString())
    return b"".join(parts)


class ChunkedSpanExporter(SpanExporter):
    """The SDK's OTLP/HTTP span exporter with the batch encoded in chunks (module docstring); one POST a batch."""

    def __init__(self, sdk: OTLPSpanExporter) -> None:
        self._sdk = sdk
        self._client: Any = sdk._client  # noqa: SLF001 (checked by `chunked_span_exporter` and a test)
        self._shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut:  # as the SDK's exporter: nothing is sent through a closed client
            return SpanExportResult.FAILURE
        try:
            data = encode_in_chunks(spans)
        except Exception:
            log.exception("OpenTelemetry: could not encode a batch of %d spans", len(spans))
            return SpanExportResult.FAILURE
        result = self._client.export(data)  # logs its own failures, retries as the SDK does
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._shut = True
        self._sdk.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._sdk.force_flush(timeout_millis)


def sends_bytes(sdk: OTLPSpanExporter) -> bool:
    """Whether the SDK's exporter still has the HTTP client this module sends pre-encoded batches through."""
    return callable(getattr(getattr(sdk, "_client", None), "export", None))


def chunked_span_exporter() -> SpanExporter:
    """The exporter for the batch processor: chunked when the SDK allows it, else the SDK's own (said once)."""
    sdk = OTLPSpanExporter()
    if sends_bytes(sdk):
        return ChunkedSpanExporter(sdk)
    log.warning("OpenTelemetry: this SDK version's exporter cannot send pre-encoded spans; encoding batches whole")
    return sdk
