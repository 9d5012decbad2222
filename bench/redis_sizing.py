"""Redis bytes per request, measured: a real redis-server, a real proxy writing its ledger there, demo traffic.

The figures behind `maxmemory` in deploy/compose.yaml and the sizing in docs/deploy.md. The proxy serves the
demo's workload (`demo.world.drive`: the openai SDK, agent loops and single calls, each call naming its task and
given feedback) against the emulator; tasks close after 1 s idle so their records are written too. Then, per
kind of key, Redis's own `MEMORY USAGE` (exact: SAMPLES 0), and the rise of `used_memory` per request (the
hourly rollups and the allocator's overhead included).

Run: `PYTHONPATH=. .venv/bin/python bench/redis_sizing.py [--requests N] [--agentic-share S]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import redis

from demo.world import demo_config, drive
from emulator.app import build_emulator
from router.app import create_app
from router.config import Config
from router.servers import start_in_thread
from tests.redis_memory import PREFIX, ledger_bytes
from tests.redis_server import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--agentic-share", type=float, default=0.3)
    args = parser.parse_args()
    with RedisServer() as server:
        server.start()
        client = redis.Redis.from_url(server.url)
        before = client.info("memory")["used_memory"]
        emulator = start_in_thread(build_emulator(seed=1), name="emulator")
        config = demo_config(emulator.url).model_dump()
        config["store"] = {"redis_url": server.url, "spool_dir": tempfile.mkdtemp(prefix="routetax-sizing-")}
        config["auth"] = {"mode": "open"}
        config["tasks"] = {**config.get("tasks", {}), "idle_s": 1.0}
        proxy = start_in_thread(create_app(Config.model_validate(config)), name="proxy")
        try:
            for seed in range(0, args.requests, 100):
                drive(proxy.url, requests=min(100, args.requests - seed), agentic_share=args.agentic_share, seed=seed)
            deadline = time.monotonic() + 60
            while client.zcard(PREFIX + "tasks:open") or client.xlen(PREFIX + "records") < args.requests:
                assert time.monotonic() < deadline, "the ledger did not catch up in 60 s"
                time.sleep(0.2)
        finally:
            proxy.stop()
            emulator.stop()
        held = ledger_bytes(client)
        used = client.info("memory")["used_memory"] - before
    n = held.records
    print(f"{n:,} records, {held.tasks:,} tasks ({n / max(held.tasks, 1):.2f} requests per task)")
    print(f"records stream: {held.record_bytes / n:,.0f} B per record")
    print(f"seen marker:    {held.marker_bytes / max(held.markers, 1):,.0f} B per request ({held.markers:,})")
    print(f"task state:     {held.state_bytes / max(held.states, 1):,.0f} B per task ({held.states:,})")
    print(f"tasks stream:   {held.task_bytes / max(held.tasks, 1):,.0f} B per task")
    print(f"task feedback:  {held.feedback_bytes / max(held.feedback, 1):,.0f} B per task given feedback")
    print(f"per request, all of these: {held.per_request:,.0f} B")
    print(f"used_memory rise: {used / n:,.0f} B per request (rollups and allocator overhead included)")


if __name__ == "__main__":
    main()
