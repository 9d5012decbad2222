"""How long the event loop stalls while the span exporter encodes a batch: whole (the SDK's way) vs in chunks.

An asyncio loop asks to wake every 1 ms for SECONDS seconds and records how late each wake-up is, while a
thread encodes 512-span batches (the SDK's default batch size; spans with 20 attributes, as routetax fills
them) back to back with 20 ms between — `whole` as the SDK's exporter does, `chunked` as
`router.telemetry.export` does, `idle` with no encoder (the machine's own noise). The lateness is the stall a
request on the loop would see; wall-clock, so run the modes in turns on a busy machine and compare within a run.

Run: .venv/bin/python bench/otel_loop_lag.py [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from router.telemetry.export import encode_in_chunks  # noqa: E402

BATCH = 512
TICK_S = 0.001


def _spans() -> Sequence[ReadableSpan]:
    kept = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("bench")
    for index in range(BATCH):
        span = tracer.start_span("chat gpt-5.4-mini")
        span.set_attributes({f"gen_ai.attr.{k}": f"value{k}-{index}" for k in range(12)})
        span.set_attributes({f"routetax.n{k}": k * index for k in range(8)})
        span.end()
    return kept.get_finished_spans()


def _whole(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializePartialToString()


ENCODERS: dict[str, Callable[[Sequence[ReadableSpan]], bytes] | None] = {
    "idle": None,
    "whole": _whole,
    "chunked": encode_in_chunks,
}


async def _lags(seconds: float) -> list[float]:
    lags = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lags.append((time.perf_counter() - t0 - TICK_S) * 1000)
    return sorted(lags)


def run(mode: str, spans: Sequence[ReadableSpan], seconds: float) -> str:
    encode = ENCODERS[mode]
    stop = threading.Event()
    batches: list[float] = []

    def encoder() -> None:
        while encode is not None and not stop.is_set():
            t0 = time.perf_counter()
            encode(spans)
            batches.append(time.perf_counter() - t0)
            stop.wait(0.02)

    thread = threading.Thread(target=encoder)
    thread.start()
    try:
        lags = asyncio.run(_lags(seconds))
    finally:
        stop.set()
        thread.join()
    n = len(lags)
    wall = sorted(batches)[len(batches) // 2] * 1000 if batches else 0.0
    return (
        f"{mode:>8}: loop late p50 {lags[n // 2]:5.2f}  p99 {lags[int(n * 0.99)]:5.2f}  "
        f"p99.9 {lags[int(n * 0.999)]:5.2f}  max {lags[-1]:5.2f} ms  ({len(batches)} batches, {wall:.0f} ms each)"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    spans = _spans()
    for _ in range(rounds):
        for mode in ENCODERS:
            print(run(mode, spans, seconds), flush=True)


if __name__ == "__main__":
    main()
