"""CPU per request of task identity's whole path, in process, on the traffic bench/tasks.py sends.

    .venv/bin/python bench/task_cpu.py [--requests 20000] [--profile] [--only base|identity]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/task_cpu.py --requests 2000 \
        --only identity   # and again with --only base: (identity - base) / requests = instructions per request

The path is what a proxy with tasks on does for a chat request beyond tasks off: `identify` at intake (header,
raw-history lookup, normalising what is new, the continuation index), the class, and once the answer is sent
reading it as task identity needs it (`answer_atoms`, from the parse the degraded check made), filing it
(`file`) and queuing it for the shared index (`SharedTasks.publish` and the writer's packing into one script
call; the Redis client is a stub here, so the socket write is not counted). The traffic is
bench/task_traffic.py's (tool loops up to 28 messages, conversations, single calls; four requests in five
continuations), with bench/fixed_upstream.py's answers (one tool call under a fresh call id to a request that
declares tools, "ok" otherwise), every body parsed from bytes as the proxy parses it, and every answer parsed
and checked for degraded output as the proxy does with tasks on or off. `--only base` does the parsing and the
check alone, so callgrind's count for `identity` less `base` is identity's own. A quarter of the requests warm
the index first (a proxy in its steady state).

Thread CPU time is printed as the best of `--repeat` passes (this machine is shared: the best pass is the one
least disturbed); instruction counts are what does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import orjson  # noqa: E402
from fixed_upstream import BODY, tool_call_response  # noqa: E402
from task_traffic import TaskWalk  # noqa: E402

from router.serving.answers import chat_degraded, parse_answer  # noqa: E402
from router.tasks import TaskIdentity, TaskIndex  # noqa: E402
from router.tasks.answer import from_chat_answer  # noqa: E402
from router.tasks.shared import SharedTasks  # noqa: E402


class StubRedis:
    """Takes the writer's script calls and does nothing: the packing is counted, the socket is not."""

    async def script_load(self, script: str) -> str:
        return "sha"

    async def evalsha(self, *args: Any) -> int:
        return 0


def traffic(requests: int, seed: str) -> list[tuple[bytes, bytes]]:
    """(request body, the upstream's answer) as bytes, step after step: each continuation echoes its answer."""
    walk = TaskWalk(seed, "cpu")
    last: dict[str, Any] | None = None
    out: list[tuple[bytes, bytes]] = []
    for _ in range(requests):
        body = walk.next_body(last)
        answer = tool_call_response().split(b"\r\n\r\n", 1)[1] if "tools" in body else BODY
        out.append((orjson.dumps(body), answer))
        last = orjson.loads(answer)
    return out


async def drive(requests: list[tuple[bytes, bytes]], identity: TaskIdentity | None) -> None:
    for raw, answer in requests:
        body = orjson.loads(raw)  # the proxy parses every body once, and checks every answer, tasks on or off
        parsed = parse_answer(answer)
        usable = chat_degraded(body, parsed) is None
        if identity is None:
            continue
        context = await identity.identify(body, "chat", {}, "key_bench")
        context.classify(False)
        filed = from_chat_answer(parsed) if usable else None
        if filed is not None:
            identity.file(context, filed, "nano")
        shared = identity.shared
        if shared is not None and len(shared._pending) >= 10:  # the writer's batch (every 10 ms at ~1,000 req/s)
            await shared._flush()


def fresh_identity() -> TaskIdentity:
    identity = TaskIdentity(TaskIndex(200_000, 300.0), 5.0)
    identity.shared = SharedTasks(StubRedis(), identity.index)
    identity.shared._writer = object()  # type: ignore[assignment]  # flushed by `drive`, not by a writer task
    return identity


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", default="task-cpu")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass, top functions by own time")
    parser.add_argument("--only", choices=("base", "identity"), help="one pass of one side (for callgrind)")
    args = parser.parse_args()
    requests = traffic(args.requests, args.seed)
    warm, timed = requests[: len(requests) // 4], requests[len(requests) // 4 :]
    if args.only is not None:
        identity = fresh_identity() if args.only == "identity" else None
        await drive(requests, identity)
        return
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for side in ("base", "identity"):
            identity = fresh_identity() if side == "identity" else None
            await drive(warm, identity)
            start = time.thread_time()
            await drive(timed, identity)
            spent = (time.thread_time() - start) / len(timed) * 1e6
            best[side] = min(best.get(side, spent), spent)
    print(f"{len(timed)} requests ({len(warm)} before them warming the index), best of {args.repeat}:")
    print(f"  parsing and checking alone  {best['base']:7.1f} µs per request")
    print(f"  + task identity's path      {best['identity']:7.1f} µs per request")
    print(f"  task identity's own         {best['identity'] - best['base']:7.1f} µs per request")
    if args.profile:
        identity = fresh_identity()
        profile = cProfile.Profile()
        profile.enable()
        await drive(requests, identity)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    asyncio.run(main())
