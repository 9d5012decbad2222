"""Instructions per request of task identity with a Redis store and several workers, counted by callgrind.

With `store.redis_url`, every answer a worker files is written to Redis in the background, and a continuation
whose previous step another worker answered is looked up there (router/tasks/shared.py). This counts what that
costs the proxy: `--workers` task identities (as `serve --workers N` has, one per process) on one real
redis-server (started here, on loopback), each request of bench/tasks.py's task traffic given to one of them at
random (as the kernel spreads connections), `--pace-ms` apart, filed with bench/fixed_upstream.py's answer. A run
of `--requests` after 300 of warm-up less a run of none (the same traffic made, the same imports) is the count
per request: identity, filing, the writer's calls and the lookups, the loop's timers — not Redis's own work
(another process) and not the socket's (the kernel).

Under valgrind a request takes ~50 times as long, so the writer (every `FLUSH_S`) makes about one call per
request, where a proxy at ~1,000 requests a second shares each call among several: the count over-weights the
writer. `--tree` names the checkout counted (compare two on the same traffic):

    .venv/bin/python bench/task_store_instructions.py [--tree DIR] [--workers 2] [--requests 2000] [--pace-ms 1]

About 4 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM = 300


async def drive(url: str, workers: int, requests: int, pace_s: float) -> None:
    """(In the child, under valgrind.) Task traffic spread at random over `workers` identities sharing `url`."""
    import orjson
    from task_cpu import traffic

    from metering.store import open_store
    from router.tasks import TaskIdentity, TaskIndex
    from router.tasks.answer import from_chat_json
    from router.tasks.shared import SharedTasks

    pairs = traffic(WARM + max(requests, 2000), "store")  # the same traffic made whatever is counted
    identities = []
    for _ in range(workers):
        identity = TaskIdentity(TaskIndex(200_000, 300.0), 5.0)
        identity.shared = SharedTasks(open_store(url), identity.index)
        identities.append(identity)
    pick = random.Random(7).randrange
    for body, answer in pairs[: WARM + requests]:
        identity = identities[pick(workers)]
        context = await identity.identify(orjson.loads(body), "chat", {}, "key_bench")
        context.classify(False)
        filed = from_chat_json(answer)
        if filed is not None:
            identity.file(context, filed, "mini")
        await asyncio.sleep(pace_s)
    for identity in identities:
        assert identity.shared is not None
        await identity.shared.aclose()


def counted(tree: Path, url: str, workers: int, requests: int, pace_ms: float) -> int:
    """Instructions of a child process of `tree`'s code driving `requests` requests (after the warm-up)."""
    from relay_instructions import instructions_in  # here, not at the top: the child imports the counted tree only

    out = Path(tempfile.mkdtemp()) / "callgrind.out"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
    argv += ["--tree", str(tree), "--child", url, "--workers", str(workers), "--requests", str(requests)]
    argv += ["--pace-ms", str(pace_ms)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    count = instructions_in(out)
    shutil.rmtree(out.parent)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose identity is counted")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pace-ms", type=float, default=1.0)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the counted tree's code first, not this script's checkout (its directory leads sys.path)
        tree = str(args.tree.resolve())
        sys.path[:] = [tree, f"{tree}/bench", *(p for p in sys.path if Path(p).resolve() != Path(__file__).parent)]
        import uvloop

        uvloop.run(drive(args.child, args.workers, args.requests, args.pace_ms / 1000))
        return 0
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from tests.redis_server import RedisServer

    tree = args.tree.resolve()
    with RedisServer() as redis:
        counts = []
        for requests in (0, args.requests):
            subprocess.run(["redis-cli", "-p", str(redis.port), "flushall"], check=True, stdout=subprocess.DEVNULL)
            started = time.monotonic()
            counts.append(counted(tree, redis.url, args.workers, requests, args.pace_ms))
            print(f"  {requests} requests counted in {time.monotonic() - started:.0f} s", flush=True)
    per_request = (counts[1] - counts[0]) / args.requests
    print(
        f"{tree}: {per_request:,.0f} instructions per request, {args.workers} worker(s) on one Redis "
        f"({counts[0]:,} / {counts[1]:,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
