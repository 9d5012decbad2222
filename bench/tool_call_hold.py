"""What holding streamed tool calls costs in time to first token (the `hold_tool_calls` tier setting).

With the setting on, a stream that starts with a tool call is read to its end and checked
before the client gets its first byte, so a broken call can still be redone on the next
tier. The price is time to first token: measured here through the proxy against the
emulator, whose streams are paced at `--chunk-ms` per chunk (a real model's pace).
Run: .venv/bin/python bench/tool_call_hold.py [--requests 30] [--chunk-ms 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from demo.world import demo_config
from emulator.app import build_emulator
from router.app import create_app
from router.config import Config
from router.servers import start_in_thread

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}},
        },
    }
]


def ttft_ms(url: str, body: dict) -> float:
    started = time.perf_counter()
    first = None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if first is None and line.startswith("data:") and '"tool_calls"' in line:
                first = time.perf_counter()
    if first is None:
        raise RuntimeError("no tool call in the stream")
    return (first - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--chunk-ms", type=float, default=20.0)
    args = parser.parse_args()
    upstream = start_in_thread(build_emulator(seed=1), name="emulator")
    httpx.post(f"{upstream.url}/_mock/script", json={"model": "gpt-5.4-nano", "chunk_delay_ms": args.chunk_ms})
    print(f"tool-call streams, {args.requests} requests each, emulator pacing {args.chunk_ms} ms/chunk")
    print(f"{'hold_tool_calls':<16} {'TTFT p50 ms':>12} {'TTFT p90 ms':>12}")
    try:
        for hold in (False, True):
            base = demo_config(upstream.url).model_dump()
            base["tiers"]["nano"]["hold_tool_calls"] = hold
            proxy = start_in_thread(create_app(Config.model_validate(base)), name="proxy")
            body = {
                "model": "nano",
                "messages": [{"role": "user", "content": "find x"}],
                "tools": TOOLS,
                "stream": True,
            }
            samples = sorted(ttft_ms(proxy.url, body) for _ in range(args.requests))
            print(f"{str(hold):<16} {statistics.median(samples):>12.1f} {samples[int(len(samples) * 0.9) - 1]:>12.1f}")
            proxy.stop()
    finally:
        upstream.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
