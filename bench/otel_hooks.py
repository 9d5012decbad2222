"""What OpenTelemetry costs per request, part by part, in one process (CPU time, so a busy machine blurs it less).

Starts the emulator and a proxy in threads with OTel exporting to bench/otlp_sink.py, sends REQUESTS small
JSON chat requests one at a time, and times routetax's three hooks with `time.thread_time` (CPU of the calling
thread): `begin` and `upstream_headers` (on the request path), `finish` (after the answer). Then the SDK's own
OTLP encoding of one span as routetax fills it, which its batch thread pays. Figures are medians, in µs.

Run: .venv/bin/python bench/otel_hooks.py [REQUESTS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from perf import free_port, stop, wait_port  # noqa: E402


def timed(into: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.thread_time() - t0)

    return call


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(HERE / "otlp_sink.py"), str(port)], stdout=subprocess.DEVNULL)
    wait_port(port)
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    import httpx
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from demo.world import demo_config
    from emulator.app import build_emulator
    from router.app import create_app
    from router.servers import start_in_thread
    from router.telemetry import otel

    upstream = start_in_thread(build_emulator(seed=1), name="emulator")
    app = create_app(demo_config(upstream.url))
    telemetry = app.proxy.telemetry
    costs: dict[str, list[float]] = {"begin": [], "upstream_headers": [], "finish": []}
    telemetry.begin = timed(costs["begin"], telemetry.begin)
    telemetry.finish = timed(costs["finish"], telemetry.finish)
    original = otel.RequestTrace.upstream_headers
    otel.RequestTrace.upstream_headers = timed(costs["upstream_headers"], original)  # type: ignore[method-assign]
    kept: list[Any] = []

    class Keep(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    proxy = start_in_thread(app, name="proxy")
    try:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        telemetry._tracer_provider.add_span_processor(SimpleSpanProcessor(Keep()))  # a copy of what is exported
        body = {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]}
        with httpx.Client() as client:
            for _ in range(requests):
                client.post(f"{proxy.url}/v1/chat/completions", json=body).raise_for_status()
    finally:
        proxy.stop()
        upstream.stop()
        stop(sink)
    warm = requests // 10
    for name, values in costs.items():
        print(f"{name:>17}: {statistics.median(values[warm:]) * 1e6:6.1f} µs CPU (median of {len(values) - warm})")
    spans = kept[-512:]
    t0 = time.process_time()
    size = len(encode_spans(spans).SerializePartialToString())
    per_span = (time.process_time() - t0) / len(spans) * 1e6
    print(f"{'OTLP encoding':>17}: {per_span:6.1f} µs CPU per span ({size / len(spans):.0f} bytes), 2 spans a request")


if __name__ == "__main__":
    main()
