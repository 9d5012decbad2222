"""Redis's cost of the ledger's batch script per record (INFO commandstats), for records with and without a task.

Every record of the "with" run is a step of a task (10 steps per task), so the figure is the worst case: a
request that is not a step of a task (embeddings, tasks off) costs what it cost before tasks existed.
Run: `PYTHONPATH=. python bench/ledger_script_cost.py` (starts its own redis-server on loopback).
"""

from __future__ import annotations

import asyncio
import tempfile
import time

import orjson

from metering.ledger import Ledger
from metering.record import Attempt, Record, Usage
from metering.store import open_store
from tests.redis_server import RedisServer

N = 20_000
BATCH = 32


def record(i: int, tasks: bool) -> Record:
    usage = Usage(prompt_tokens=1000 + i, cached_tokens=200, completion_tokens=50, reasoning_tokens=10)
    fields = {}
    if tasks and "task_id" in Record.__dataclass_fields__:
        fields = dict(task_id=f"task_{i // 10:024x}", task_step=i % 10 + 1, task_class="agentic", answer_calls="abc")
    return Record(
        request_id=f"req-{i}",
        started_at=time.time(),
        ended_at=time.time() + 1,
        key_id="key_a",
        label="agentic",
        routed_tier="nano",
        tier_path=["nano"],
        attempts=[Attempt(tier="nano", model="m", status=200, usage=usage, cost_usd=0.001, billed=True)],
        usage=usage,
        cost_usd=0.001,
        counterfactual_usd={"mini": 0.01, "nano": 0.002},
        **fields,
    )


async def run(url: str, tasks: bool) -> float:
    store = open_store(url)
    await store.flushall()
    await store.config_resetstat()
    ledger = Ledger(store, tempfile.mkdtemp())
    records = [record(i, tasks) for i in range(N)]
    for start in range(0, N, BATCH):
        batch = [(orjson.dumps(r), r) for r in records[start : start + BATCH]]
        await ledger._write_batch(batch)
    stats = await store.info("commandstats")
    await store.aclose()
    usec = sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return usec / N


async def main() -> None:
    with RedisServer() as server:
        server.start()
        for tasks in (False, True):
            per = [await run(server.url, tasks) for _ in range(3)]
            print(f"tasks={tasks}: {min(per):.1f} us per record (min of 3 runs of {N})")


asyncio.run(main())
