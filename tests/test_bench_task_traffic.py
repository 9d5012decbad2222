"""bench/tasks.py sends what an agent loop sends: each step extends the previous request plus its answer.

If the traffic did not, the bench would measure task identity's lookup missing every time and report a
cost that real tool loops never see. The generator and the upstream's tool calls are pure, so they are
checked here without starting anything.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


traffic = _load("task_traffic")
fixed_upstream = _load("fixed_upstream")


def answer_to(body: dict[str, Any]) -> dict[str, Any]:
    """What bench/fixed_upstream.py answers: one tool call when tools are declared, else text."""
    raw = fixed_upstream.tool_call_response() if "tools" in body else fixed_upstream.RESPONSE
    return orjson.loads(raw.split(b"\r\n\r\n", 1)[1])


def test_a_tool_loop_step_is_the_previous_request_plus_the_answer_plus_a_result_for_each_call() -> None:
    plan = traffic.TaskPlan(traffic.Shape.TOOL_LOOP, 3, "x")
    first = traffic.first_request(plan)
    answer = answer_to(first)
    nxt = traffic.continuation(first, answer, random.Random(1))
    echoed = answer["choices"][0]["message"]
    assert nxt["messages"][: len(first["messages"])] == first["messages"]
    assert nxt["messages"][len(first["messages"])] == {k: v for k, v in echoed.items() if v is not None}
    assert "content" not in nxt["messages"][-2]  # the SDK's loop drops the answer's null content
    tool = nxt["messages"][-1]
    assert tool["role"] == "tool" and tool["tool_call_id"] == echoed["tool_calls"][0]["id"] and tool["content"]
    assert nxt["tools"] == first["tools"] and nxt["model"] == first["model"]


def test_a_conversation_continues_with_the_persons_next_message_after_a_text_answer() -> None:
    first = traffic.first_request(traffic.TaskPlan(traffic.Shape.CONVERSATION, 2, "y"))
    nxt = traffic.continuation(first, answer_to(first), random.Random(1))
    assert [m["role"] for m in nxt["messages"]] == ["user", "assistant", "user"]
    assert "tools" not in nxt


def test_a_walk_runs_whole_tasks_whose_longest_loops_reach_28_messages() -> None:
    walk = traffic.TaskWalk(seed=7, prefix="w")
    last: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    firsts: list[str] = []
    longest = 0
    for _ in range(3000):
        body = walk.next_body(last)
        if len(body["messages"]) <= 2:
            firsts.append(orjson.dumps(body["messages"]).decode())
        else:  # a continuation: the body before it, its answer, then what came back
            assert previous is not None
            assert body["messages"][: len(previous["messages"]) + 1] == [
                *previous["messages"],
                traffic.answer_message(last),
            ]
        longest = max(longest, len(body["messages"]))
        previous, last = body, answer_to(body)
    assert longest == 28
    assert len(firsts) == len(set(firsts)) == walk.tasks  # every task opens with a request no other sends
    assert walk.continuations > 2 * walk.firsts  # mostly continuations: the lookup runs on most requests


def test_a_failed_step_abandons_the_task_and_the_same_seed_sends_the_same_work() -> None:
    def bodies(fail_at: int | None) -> list[dict[str, Any]]:
        walk, last, sent = traffic.TaskWalk(seed=3, prefix="z"), None, []
        for index in range(40):
            body = walk.next_body(last)
            sent.append(body)
            last = None if index == fail_at else answer_to(body)
        return sent

    first_run = bodies(None)
    assert [len(b["messages"]) for b in first_run] == [len(b["messages"]) for b in bodies(None)]
    failed = bodies(5)
    assert len(failed[6]["messages"]) <= 2  # the step after the failure opens a new task


def test_memory_traffic_opens_a_new_task_every_time() -> None:
    openings = traffic.distinct_first_requests("m", start=10)
    bodies = [next(openings) for _ in range(500)]
    assert len({orjson.dumps(b) for b in bodies}) == 500
    assert all(b["tools"] and len(b["messages"]) == 2 for b in bodies)


def test_the_fixed_upstreams_tool_calls_never_repeat_an_id_and_declare_their_length() -> None:
    raws = [fixed_upstream.tool_call_response() for _ in range(3)]
    ids = {orjson.loads(r.split(b"\r\n\r\n", 1)[1])["choices"][0]["message"]["tool_calls"][0]["id"] for r in raws}
    assert len(ids) == 3
    head, body = raws[0].split(b"\r\n\r\n", 1)
    assert f"content-length: {len(body)}".encode() in head
