"""Instructions the proxy spends to close one task, counted by cachegrind (what the machine's load does not move).

A task closes `tasks.idle_s` after its last step (300 s by default) in a background loop of every process
(metering/tasks.py, `TaskBook.close_due`): claimed in Redis, read back, made a record with its detected outcome,
written to the tasks stream, counted in the metrics. For one-call traffic — every request its own task, as in
`bench/perf.py` — that is once for every request, starting `idle_s` after the first one, so a proxy measured in
its first five minutes has not paid it yet (docs/performance.md, "Metering's price").

    .venv/bin/python bench/task_close_instructions.py [--tree DIR] [--tasks 500]

Writes `--tasks` one-step tasks, then three times as many, through the ledger into a throwaway redis-server
(started here, on loopback), and closes them all in a child process of `--tree`'s code under cachegrind; the
difference over the tasks between the two runs is the instructions per closed task, start-up and imports left
out. Redis's own work (the scripts) is another process and is not counted. About 3 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_268_800.0  # every task written here ended long before "now" below
IDLE_S = 300.0
NOW = T0 + 10 + IDLE_S + 100


async def populate(url: str, tasks: int) -> None:
    """`tasks` one-step tasks, each a request like bench/perf.py's (one billed attempt, a key, no feedback)."""
    from metering.ledger import Ledger
    from metering.record import Attempt, Outcome, Record, Usage
    from metering.store import open_store

    store = open_store(url)
    ledger = Ledger(store, tempfile.mkdtemp() + "/spool", task_idle_s=IDLE_S)
    await ledger.start()
    usage = Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=100, reasoning_tokens=20)
    for i in range(tasks):
        attempt = Attempt(tier="mini", model="gpt-mini", status=200, usage=usage, cost_usd=0.01, billed=True)
        ledger.submit(
            Record(
                request_id=f"r{i}",
                started_at=T0 + 10,
                ended_at=T0 + 12,
                key_id="key_alice",
                routed_tier="mini",
                tier_path=["mini"],
                attempts=[attempt],
                usage=usage,
                cost_usd=0.01,
                status=200,
                outcome=Outcome.SUCCESS,
                task_id=f"task_{i:07d}",
                task_step=1,
                task_class="single_turn",
                task_class_reason="classifier",
            )
        )
        if i % 500 == 0:
            await asyncio.sleep(0)  # let the writer take batches
    if not await ledger.drain(120):
        raise SystemExit("the ledger did not drain")
    await ledger.aclose()
    await store.aclose()


async def close_all(url: str) -> int:
    """The counted process: close every due task, as a proxy's background loop does (metrics included)."""
    from metering.metrics import Metrics
    from metering.store import open_store
    from metering.tasks import TaskBook, TaskSettings

    store = open_store(url)
    book = TaskBook(store, TaskSettings(idle_s=IDLE_S), on_closed=Metrics().observe_task)
    closed = 0
    while batch := await book.close_due(now=NOW):
        closed += len(batch)
    await store.aclose()
    return closed


def counted(tree: Path, url: str) -> int:
    out = tempfile.mktemp(suffix=".cachegrind")
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(tree)}
    child = [sys.executable, str(Path(__file__).resolve()), "--child-close", url]
    subprocess.run([*argv, *child], check=True, cwd=tree, env=env, stderr=subprocess.DEVNULL)
    match = re.search(r"^summary: (\d+)", Path(out).read_text(), re.MULTILINE)
    os.unlink(out)
    if match is None:
        raise SystemExit("cachegrind wrote no summary")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose closing is counted")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--child-close", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_close:
        print("closed", asyncio.run(close_all(args.child_close)))
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import free_port

    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        time.sleep(0.3)
        counts = []
        for tasks in (args.tasks, 3 * args.tasks):
            subprocess.run(["redis-cli", "-p", str(port), "flushall"], check=True, stdout=subprocess.DEVNULL)
            asyncio.run(populate(url, tasks))
            counts.append(counted(args.tree.resolve(), url))
    finally:
        redis.terminate()
        redis.wait(10)
    per_task = (counts[1] - counts[0]) / (2 * args.tasks)
    print(f"{args.tree}: {per_task:,.0f} instructions per closed task ({counts[0]:,} / {counts[1]:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
