"""A small OTLP/HTTP receiver for tests: decodes what an exporter POSTs (protobuf) and keeps it to be read.

It is an ASGI app, started like every test server through `tests.running` (`serve_in_thread`). It decodes the
bodies with `opentelemetry-proto` — the same messages a collector reads — so a test checks what reaches the
wire, not what an in-memory exporter was handed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PROTOBUF = "application/x-protobuf"


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Span:
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind: 2 SERVER, 3 CLIENT
    trace_id: str
    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class Point:
    metric: str
    unit: str
    attributes: dict[str, Any]
    count: int
    sum: float


@dataclass
class Received:
    """Everything the receiver has decoded so far (read under its lock, through the methods)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: list[Span] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    posts: int = 0
    content_types: set[str] = field(default_factory=set)

    def spans_now(self) -> list[Span]:
        with self.lock:
            return list(self.spans)

    def points_now(self) -> list[Point]:
        with self.lock:
            return list(self.points)


def receiver() -> tuple[Starlette, Received]:
    """The ASGI app (POST /v1/traces, POST /v1/metrics) and what it received."""
    got = Received()

    async def traces(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        spans = []
        for resource_spans in message.resource_spans:
            resource = {a.key: value_of(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    spans.append(
                        Span(
                            name=s.name,
                            kind=s.kind,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            status_code=s.status.code,
                            attributes={a.key: value_of(a.value) for a in s.attributes},
                            resource=resource,
                        )
                    )
        with got.lock:
            got.spans.extend(spans)
            got.posts += 1
            got.content_types.add(request.headers.get("content-type", ""))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    async def metrics(request: Request) -> Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.body())
        points = []
        for resource_metrics in message.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for m in scope_metrics.metrics:
                    if m.WhichOneof("data") != "histogram":
                        continue
                    for p in m.histogram.data_points:
                        attributes = {a.key: value_of(a.value) for a in p.attributes}
                        points.append(Point(m.name, m.unit, attributes, p.count, p.sum))
        with got.lock:
            got.points.extend(points)
            got.posts += 1
            got.content_types.add(request.headers.get("content-type", ""))
        return Response(ExportMetricsServiceResponse().SerializeToString(), media_type=PROTOBUF)

    app = Starlette(
        routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/v1/metrics", metrics, methods=["POST"])]
    )
    return app, got
