"""What task identity costs a request, in process: identify + file on a 30-message tool loop, and bytes per entry.

    .venv/bin/python bench/task_identity.py [--messages 30] [--entries 200000]

Prints µs per request for the continuation lookup (a local hit, the common case), for a new task, and for
filing its answer; then the memory the index holds per filed answer (tracemalloc), and that times the
default bound `tasks.max_entries`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from typing import Any

import orjson

from router.tasks import TaskIdentity, TaskIndex
from router.tasks.answer import from_chat_json


def loop_history(messages: int, salt: str = "") -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. Use the tools to inspect and fix the repository. " * 8},
        {"role": "user", "content": f"Fix the failing test in tests/test_app.py {salt}"},
    ]
    i = 0
    while len(history) < messages:
        call = {
            "id": f"call_{salt}{i:08d}",
            "type": "function",
            "function": {"name": "run", "arguments": orjson.dumps({"cmd": f"pytest -q tests -k case_{i}"}).decode()},
        }
        history.append({"role": "assistant", "content": None, "tool_calls": [call]})
        history.append({"role": "tool", "tool_call_id": call["id"], "content": "F.. 1 failed, 2 passed " * 20})
        i += 1
    return history


def answer(call_id: str) -> bytes:
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "run", "arguments": '{"cmd": "ls"}'}}],
    }
    return orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()

    identity = TaskIdentity(TaskIndex(args.entries, 300.0), 5.0)
    history = loop_history(args.messages)
    body_prev = {"messages": history[:-2]}
    context = await identity.identify(body_prev, "chat", {}, None)
    context.classify(False)
    prev_call = history[-2]["tool_calls"][0]["id"]
    identity.file(context, from_chat_json(answer(prev_call)), "mini")
    body = {"messages": history}
    # the answer the previous step got must be what the history shows: re-file it the way the loop sent it
    context = await identity.identify({"messages": history[:-2]}, "chat", {}, None)
    context.classify(False)
    filed_answer = from_chat_json(orjson.dumps({"choices": [{"message": history[-2]}]}))
    identity.file(context, filed_answer, "mini")

    async def timed(fn: Any, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await fn()
        return (time.perf_counter() - t0) / n * 1e6

    async def hit() -> None:
        found = await identity.identify(body, "chat", {}, None)
        assert found.step >= 2

    fresh = {"messages": history[:2]}

    async def new() -> None:
        await identity.identify(fresh, "chat", {}, None)

    next_answer = answer("call_next0001")

    async def hit_and_file() -> None:
        found = await identity.identify(body, "chat", {}, None)
        found.classify(True)
        identity.file(found, from_chat_json(next_answer), "mini")

    for label, fn in (
        ("continuation lookup (local hit)", hit),
        ("new task (first request)", new),
        ("lookup + parse and file the answer", hit_and_file),
    ):
        await timed(fn, 200)
        best = min([await timed(fn, args.repeat) for _ in range(3)])
        print(f"{label:40s} {best:8.1f} µs per request  ({args.messages}-message history)")

    small = TaskIdentity(TaskIndex(args.entries, 300.0), 5.0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    n = min(args.entries, 50_000)
    for i in range(n):
        ctx = await small.identify({"messages": [{"role": "user", "content": f"task {i}"}]}, "chat", {}, None)
        ctx.classify(False)
        small.file(ctx, from_chat_json(answer(f"call_{i:016x}")), "nano")
    gc.collect()
    after = tracemalloc.take_snapshot()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()
    per = used / n
    print(f"memory per filed answer                  {per:8.0f} bytes ({n} answers, each a new task)")
    print(
        f"at tasks.max_entries = {args.entries:,}          {per * args.entries / 1e6:8.1f} MB"
        " (the bound; the oldest are forgotten past it)"
    )


if __name__ == "__main__":
    asyncio.run(main())
