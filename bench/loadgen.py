"""Load generators for the performance harness: closed loop (fixed concurrency) and open loop (fixed rate).

Closed loop keeps `concurrency` requests in flight: the way the published gateway figures are
taken ("adds 44 ms at concurrency 10"), and at any concurrency above 1 it runs the proxy at its
saturation point. Open loop sends at a fixed rate whatever the answers do, like wrk2: a slow
answer never delays the next send, so a proxy that stalls is charged for every request that
queued behind the stall (no coordinated omission). Each request's clock starts when the
generator hands it to its connection pool — the scheduled time, or later only when the
generator's own timer woke late (asyncio timers have ~1 ms granularity; that lateness is the
generator's, not the proxy's, and is left out).

Streams (`"stream": true` in the payload) also record the time to the first `data:` event.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds to the last byte
    ttfts: list[float] = field(default_factory=list)  # streams: seconds to the first event
    errors: int = 0
    wall_s: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


def percentile_ms(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def _send(session: aiohttp.ClientSession, url: str, payload: bytes, stream: bool, since: float, run: Run) -> None:
    try:
        async with session.post(url, data=payload, headers=HEADERS) as response:
            if stream:
                first = None
                async for chunk in response.content.iter_any():
                    if first is None and b"data:" in chunk:
                        first = time.perf_counter()
                if first is not None:
                    run.ttfts.append(first - since)
            else:
                await response.read()
            ok = response.status == 200
    except aiohttp.ClientError:
        ok = False
    if ok:
        run.latencies.append(time.perf_counter() - since)
    else:
        run.errors += 1


async def closed_loop(url: str, payload: bytes, concurrency: int, requests: int, stream: bool = False) -> Run:
    run = Run()
    remaining = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await _send(session, url, payload, stream, time.perf_counter(), run)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.wall_s = time.perf_counter() - started
    return run


async def open_loop(url: str, payload: bytes, rate: float, requests: int, connections: int = 64) -> Run:
    """`requests` sent at `rate` per second over at most `connections` connections (more wait for one)."""
    run = Run()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        started = time.perf_counter() + 0.01
        for index in range(requests):
            scheduled = started + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(session, url, payload, False, time.perf_counter(), run)))
        await asyncio.gather(*tasks)
        run.wall_s = time.perf_counter() - started
    return run
