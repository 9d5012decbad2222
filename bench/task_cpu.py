"""CPU per request of task identity's whole path, in process, on the traffic bench/tasks.py sends.

    .venv/bin/python bench/task_cpu.py [--requests 20000] [--profile] [--only base|identity [--count STAGE]]
    .venv/bin/python bench/task_cpu.py --callgrind --requests 4000   # instructions per request, stage by stage
    .venv/bin/python bench/task_cpu.py --dump ids.txt [--clients 10]  # what identity decided, request by request

The path is what a proxy with tasks on does for a chat request beyond tasks off: `identify` at intake (header,
raw-history lookup, normalising what is new, the continuation index), the class, and once the answer is sent
reading it as task identity needs it (`answer_atoms`, from the parse the degraded check made), filing it
(`file`) and queuing it for the shared index (`SharedTasks.publish` and the writer's packing into one script
call; the Redis client is a stub here, so the socket write is not counted). The traffic is
bench/task_traffic.py's (tool loops up to 28 messages, conversations, single calls; four requests in five
continuations; `--clients N` interleaves N clients' walks step by step, as concurrent clients do), with
bench/fixed_upstream.py's answers (one tool call under a fresh call id to a request that declares tools, "ok"
otherwise), every body parsed from bytes as the proxy parses it, and every answer parsed and checked for
degraded output as the proxy does with tasks on or off. A quarter of the requests warm the index first (a proxy
in its steady state) for the thread CPU time; callgrind counts every request.

`--only base` does the parsing and the check alone, `--only identity` adds identity's path, so callgrind's count
for `identity` less `base`, over the requests, is identity's instructions per request: what does not move with
the machine's load. `--callgrind` runs both under valgrind, then the identity pass once per stage with that
stage alone counted (`--count STAGE` calls it through `operator.call`, and callgrind collects only inside
`_operator_call`): `identify` and the class, reading the answer as identity needs it, `file` in this process's
index and queueing it for the shared one (`publish`), and the shared writer's packing of each batch. What the
stages leave uncounted is the collector's work between them, and the driver's. Thread CPU time is printed as the
best of `--repeat` passes (this machine is shared: the best pass is the one least disturbed).

`--dump FILE` writes what identity decided for every request (task, source, step, class and why, the loop
signal, arm and exploration inherited) with task ids and call ids numbered in order of appearance, so two
versions of identity run on the same traffic write the same file exactly when they decide the same: a change
meant to alter only the cost is checked with `diff`. It also prints the objects the collector tracks that
identity adds per request: those it gains during the pass (with the collector off: what counts towards its
next young collection) and those still tracked after a full collection (what every older collection walks).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import operator
import pstats
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fixed_upstream  # noqa: E402
import orjson  # noqa: E402
from fixed_upstream import BODY, tool_call_response  # noqa: E402
from task_traffic import TaskWalk  # noqa: E402

import router.tasks.identity  # noqa: E402
from router.serving.answers import chat_degraded, parse_answer  # noqa: E402
from router.tasks import TaskContext, TaskIdentity, TaskIndex  # noqa: E402
from router.tasks.answer import from_chat_answer  # noqa: E402
from router.tasks.shared import SharedTasks  # noqa: E402

STAGES = ("identify", "answer", "file", "shared")
STAGE_NAMES = {
    "identify": "identify, and the class",
    "answer": "the answer read as identity needs it",
    "file": "filing it (and queued for the shared index)",
    "shared": "the shared writer's packing, per answer",
}


class StubRedis:
    """Takes the writer's script calls and does nothing: the packing is counted, the socket is not."""

    async def eval(self, *args: Any) -> int:  # the writer's first call sends the script whole
        return 0

    async def evalsha(self, *args: Any) -> int:
        return 0


def traffic(requests: int, seed: str, clients: int = 1) -> list[tuple[bytes, bytes]]:
    """(request body, the upstream's answer) as bytes: each client's continuations echo its answers; with several
    clients, one step of each in turn."""
    walks = [
        TaskWalk(f"{seed}-{n}" if clients > 1 else seed, f"cpu{n}" if clients > 1 else "cpu") for n in range(clients)
    ]
    last: list[dict[str, Any] | None] = [None] * clients
    out: list[tuple[bytes, bytes]] = []
    for i in range(requests):
        n = i % clients
        body = walks[n].next_body(last[n])
        answer = tool_call_response().split(b"\r\n\r\n", 1)[1] if "tools" in body else BODY
        out.append((orjson.dumps(body), answer))
        last[n] = orjson.loads(answer)
    return out


def complete(coroutine: Any) -> Any:
    """Run a coroutine that never waits (nothing here does: the store is only written) to its result."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a lookup waited: this traffic should never ask the store")


def identify(identity: TaskIdentity, body: dict[str, Any]) -> TaskContext:
    context = complete(identity.identify(body, "chat", {}, "key_bench"))
    context.classify(False)
    return context


def drive(
    requests: list[tuple[bytes, bytes]],
    identity: TaskIdentity | None,
    counted: str | None = None,
    decided: list[TaskContext] | None = None,
) -> None:
    """Every request through parsing and the degraded check, and (`identity`) through identity's path. The stage
    `counted` is called through `operator.call`: callgrind's `--toggle-collect=_operator_call` counts it alone."""
    call = operator.call
    shared = identity.shared if identity is not None else None
    for raw, answer in requests:
        body = orjson.loads(raw)  # the proxy parses every body once, and checks every answer, tasks on or off
        parsed = parse_answer(answer)
        usable = chat_degraded(body, parsed) is None
        if identity is None:
            continue
        context = call(identify, identity, body) if counted == "identify" else identify(identity, body)
        if decided is not None:
            decided.append(context)
        if not usable:
            continue
        filed = call(from_chat_answer, parsed) if counted == "answer" else from_chat_answer(parsed)
        if filed is not None:
            if counted == "file":
                call(identity.file, context, filed, "nano")
            else:
                identity.file(context, filed, "nano")
        if shared is not None and len(shared._pending) >= 10:  # the writer's batch (every 10 ms at ~1,000 req/s)
            if counted == "shared":
                call(complete, shared._flush())
            else:
                complete(shared._flush())


def fresh_identity() -> TaskIdentity:
    identity = TaskIdentity(TaskIndex(200_000, 300.0), 5.0)
    identity.shared = SharedTasks(StubRedis(), identity.index)  # on this traffic only written: a stub takes it
    identity.shared._writer = object()  # type: ignore[assignment]  # flushed by `drive`, not by a writer task
    return identity


def instructions(requests: int, seed: str, clients: int, only: str, counted: str | None = None) -> int:
    """Callgrind's count for one pass (`counted`: that stage's alone)."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    if counted is not None:
        command += ["--collect-atstart=no", "--toggle-collect=_operator_call"]
    command += [sys.executable, __file__, "--requests", str(requests), "--seed", seed, "--clients", str(clients)]
    command += ["--only", only] + (["--count", counted] if counted is not None else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-2000:])
    return int(found.group(1))


def callgrind(requests: int, seed: str, clients: int) -> None:
    """Identity's instructions per request (a pass with it less one without), and each stage's, counted alone.
    A short pass first compiles every module it imports: else the first pass counted pays the compiling."""
    warm = [sys.executable, __file__, "--requests", "50", "--only", "identity"]
    subprocess.run(warm, check=True)
    base = instructions(requests, seed, clients, "base")
    whole = instructions(requests, seed, clients, "identity")
    print(f"instructions per request ({requests:,} requests, {clients} client(s), callgrind):")
    counted = 0
    for stage in STAGES:
        spent = instructions(requests, seed, clients, "identity", stage)
        counted += spent
        print(f"  {STAGE_NAMES[stage]:44} {spent / requests:9,.0f}")
    print(f"  {'the rest (the collector between stages)':44} {(whole - base - counted) / requests:9,.0f}")
    print(f"  {'task identity in all':44} {(whole - base) / requests:9,.0f}")


def tracked(requests: list[tuple[bytes, bytes]], identity: TaskIdentity | None) -> tuple[int, int]:
    """Objects the collector tracks after `requests`, with the collector off (all they made that lives), then after
    a full collection (what outlives it). The traffic itself is made before, so both sides count the same."""
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        drive(requests, identity)
        during = len(gc.get_objects()) - before
    finally:
        gc.enable()
    gc.collect()
    return during, len(gc.get_objects()) - before


def dump(path: str, requests: int, seed: str, clients: int) -> None:
    """What identity decided for each request, task ids and call ids numbered in order (both are random)."""
    fixed_upstream.CALL_IDS = itertools.count(1)
    numbers = itertools.count(1)
    router.tasks.identity.new_task_id = lambda: f"task_{next(numbers):06d}"  # type: ignore[assignment]
    bodies = traffic(requests, seed, clients)
    decided: list[TaskContext] = []
    drive(bodies, fresh_identity(), decided=decided)
    with open(path, "w") as out:
        for n, c in enumerate(decided):
            fields = (n, c.task_id, c.source, c.step, c.agentic, c.reason, c.loop, c.end, c.arm, c.explored)
            print(*fields, sep="\t", file=out)
    print(f"{len(decided)} requests, {len({c.task_id for c in decided})} tasks: {path}")
    base = tracked(bodies, None)
    with_identity = tracked(bodies, fresh_identity())
    print(
        f"tracked objects per request beyond parsing alone: {(with_identity[0] - base[0]) / requests:.2f} made and "
        f"alive with the collector off, {(with_identity[1] - base[1]) / requests:.2f} after a full collection"
    )


def thread_cpu(requests: list[tuple[bytes, bytes]], repeat: int) -> None:
    warm, timed = requests[: len(requests) // 4], requests[len(requests) // 4 :]
    best: dict[str, float] = {}
    for _ in range(repeat):
        for side in ("base", "identity"):
            identity = fresh_identity() if side == "identity" else None
            drive(warm, identity)
            start = time.thread_time()
            drive(timed, identity)
            spent = (time.thread_time() - start) / len(timed) * 1e6
            best[side] = min(best.get(side, spent), spent)
    print(f"{len(timed)} requests ({len(warm)} before them warming the index), best of {repeat}:")
    print(f"  parsing and checking alone  {best['base']:7.1f} µs per request")
    print(f"  + task identity's path      {best['identity']:7.1f} µs per request")
    print(f"  task identity's own         {best['identity'] - best['base']:7.1f} µs per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", default="task-cpu")
    parser.add_argument("--clients", type=int, default=1, help="clients whose walks are interleaved")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass, top functions by own time")
    parser.add_argument("--only", choices=("base", "identity"), help="one pass of one side (for callgrind)")
    parser.add_argument("--count", choices=STAGES, help="with --only identity: call this stage through operator.call")
    parser.add_argument("--callgrind", action="store_true", help="instructions per request, stage by stage")
    parser.add_argument("--dump", metavar="FILE", help="write what identity decided, and count tracked objects")
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args.requests, args.seed, args.clients)
    elif args.dump is not None:
        dump(args.dump, args.requests, args.seed, args.clients)
    elif args.only is not None:
        drive(
            traffic(args.requests, args.seed, args.clients),
            fresh_identity() if args.only != "base" else None,
            args.count,
        )
    else:
        requests = traffic(args.requests, args.seed, args.clients)
        thread_cpu(requests, args.repeat)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            drive(requests, fresh_identity())
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
