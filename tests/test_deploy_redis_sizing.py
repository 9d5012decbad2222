"""The compose Redis holds the ledger's stated retention: bytes per request measured in a real redis-server that a
real proxy's ledger wrote, times the retention, stays below the maxmemory alert's threshold.

Once the compose Redis had 512 MB, which held ~145,000 requests' keys against a stated retention of 1,000,000
records; a full Redis (noeviction) refuses writes, and budgeted keys are then answered 503. The measure is the
worst case for a given retention: every request its own task (a single call), every task given feedback, and a
week's requests no more than the retention (the markers and task states live 7 days).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import redis
import yaml

from demo.world import demo_config, drive
from metering.ledger import DEFAULT_RETENTION
from router.config import Config
from router.servers import RunningServer
from tests.redis_memory import PREFIX, ledger_bytes
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
REDIS_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
# Redis's used_memory over the keys' own MEMORY USAGE (hourly rollups, the allocator): 1.07-1.11 measured with
# bench/redis_sizing.py, so 1.15 leaves a margin.
OVERHEAD = 1.15


def compose_maxmemory() -> int:
    """The compose Redis's `--maxmemory`, in bytes (Redis reads `5gb` as 5 x 1024^3)."""
    command = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["redis"]["command"]
    value = command[command.index("--maxmemory") + 1].lower()
    number, unit = re.fullmatch(r"(\d+)([a-z]*)", value).groups()  # type: ignore[union-attr]
    return int(number) * REDIS_UNITS[unit]


def alert_threshold() -> float:
    groups = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"]
    [rule] = [r for g in groups for r in g["rules"] if r.get("alert") == "RoutetaxRedisMemoryNearlyFull"]
    return float(re.search(r">\s*([0-9.]+)\s*$", rule["expr"].strip())[1])  # type: ignore[index]


def test_the_compose_redis_holds_the_stated_retention_below_its_alert(
    redis_server: RedisServer,  # first, so that it stops after the proxy that writes to it
    emulator: RunningServer,
    start_proxy: Callable[[Config], RunningServer],
    tmp_path: Path,
) -> None:
    config = demo_config(emulator.url).model_dump()
    config["store"] = {"redis_url": redis_server.url, "spool_dir": str(tmp_path / "spool")}
    config["auth"] = {"mode": "open"}
    config["tasks"] = {**config.get("tasks", {}), "idle_s": 0.5}  # closed tasks are written to the tasks stream
    proxy = start_proxy(Config.model_validate(config))
    requests = 150
    drive(proxy.url, requests=requests, agentic_share=0.0, seed=3)  # single calls: a task per request
    client = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 30
    while client.xlen(PREFIX + "records") < requests or client.zcard(PREFIX + "tasks:open"):
        assert time.monotonic() < deadline, "the ledger did not write every record and task in 30 s"
        time.sleep(0.1)

    held = ledger_bytes(client)
    assert held.records == held.markers == requests and held.tasks == held.states == requests
    assert 1000 < held.per_request < 10_000  # a sanity bound: every kind was found and measured

    needed = DEFAULT_RETENTION * held.per_request * OVERHEAD
    maxmemory, threshold = compose_maxmemory(), alert_threshold()
    assert needed <= threshold * maxmemory, (
        f"{DEFAULT_RETENTION:,} requests at {held.per_request:,.0f} B (x{OVERHEAD}) need {needed / 1e9:.2f} GB: "
        f"more than {threshold:.0%} of the compose Redis's maxmemory ({maxmemory / 1e9:.2f} GB)"
    )
    assert needed >= 0.5 * threshold * maxmemory, "maxmemory is far above what the retention needs"
