"""Which async HTTP client should carry upstream traffic? httpx vs aiohttp, measured.

Both talk to the same fixed-response upstream (bench/fixed_upstream.py, pinned to its own
core) through a pooled keep-alive client, closed-loop at concurrency 1, 10 and 50. Prints
requests/s and per-request latency p50/p99 for each. Run:
    .venv/bin/python bench/http_clients.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import uvloop

PAYLOAD = b'{"model":"gpt-5.4-nano","messages":[{"role":"user","content":"hello"}]}'


async def run_httpx(url: str, concurrency: int, seconds: float) -> list[float]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, headers={"content-type": "application/json"}) as client:

        async def one() -> None:
            response = await client.post(url, content=PAYLOAD)
            assert response.status_code == 200

        return await _closed_loop(one, concurrency, seconds)


async def run_aiohttp(url: str, concurrency: int, seconds: float) -> list[float]:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, headers={"content-type": "application/json"}) as session:

        async def one() -> None:
            async with session.post(url, data=PAYLOAD) as response:
                await response.read()
                assert response.status == 200

        return await _closed_loop(one, concurrency, seconds)


async def _closed_loop(one, concurrency: int, seconds: float) -> list[float]:
    for _ in range(50):
        await one()  # warm the pool
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--port", type=int, default=18999)
    args = parser.parse_args()
    here = Path(__file__).parent
    upstream = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(here / "fixed_upstream.py"), str(args.port)])
    os.sched_setaffinity(0, {0})
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    try:
        time.sleep(0.5)
        print(f"{'client':<8} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in (1, 10, 50):
            for name, runner in (("httpx", run_httpx), ("aiohttp", run_aiohttp)):
                latencies = uvloop.run(runner(url, concurrency, args.seconds))
                latencies.sort()
                rate = len(latencies) / args.seconds
                p50 = statistics.median(latencies) * 1000
                p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
                print(f"{name:<8} {concurrency:>4} {rate:>8.0f} {p50:>8.3f} {p99:>8.3f}", flush=True)
    finally:
        upstream.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
