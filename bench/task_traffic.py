"""Task-shaped chat traffic for bench/tasks.py: what a client sends, step after step, when it runs tasks.

Task identity is decided from what a client sends on the step after an answer: the previous request's
messages, the answer it got, and what happened next (a tool's result, or a person's next message). A
bench that sent one fixed body would never exercise that lookup, so this module writes the traffic the
way an agent loop does (the openai SDK's loop: the answer's message appended with its null fields dropped,
then one tool message per call the answer asked for), from a seed, so two runs send the same work.

The mix (shares in `MIX`): tool loops of 2-14 steps whose history grows to 28 messages, person-paced
conversations of 2-4 turns, and single calls. Every task opens with a message no other task of the
run sends (its tag), so every first request starts a new task. Nothing here does I/O: the load generator
sends the bodies and hands each answer back.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SYSTEM = "You are a coding agent. Use the tools to inspect and change the repository, then report."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run",
            "description": "Run a shell command in the repository and return its output.",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
        },
    }
]
LOOP_STEPS = (2, 14)  # a tool loop's requests: 2 + 2 x 13 = 28 messages in its last request
CONVERSATION_TURNS = (2, 4)
OUTPUT_CHARS = (120, 1500)  # a tool result's size (test output, a file, a diff)
WORDS = "def test assert import return class self value error line file module path expected got".split()


class Shape(enum.Enum):
    TOOL_LOOP = "tool_loop"
    CONVERSATION = "conversation"
    SINGLE = "single"


MIX = {Shape.TOOL_LOOP: 0.6, Shape.CONVERSATION: 0.15, Shape.SINGLE: 0.25}


@dataclass(frozen=True)
class TaskPlan:
    """One task: its shape, how many requests it sends, and the tag that makes its first request unique."""

    shape: Shape
    steps: int
    tag: str


def plan_task(rng: random.Random, tag: str) -> TaskPlan:
    shape = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    if shape is Shape.TOOL_LOOP:
        steps = rng.randint(*LOOP_STEPS)
    elif shape is Shape.CONVERSATION:
        steps = rng.randint(*CONVERSATION_TURNS)
    else:
        steps = 1
    return TaskPlan(shape, steps, tag)


def first_request(plan: TaskPlan) -> dict[str, Any]:
    """The task's first request: a tool loop declares its tool; a conversation or single call does not."""
    if plan.shape is Shape.TOOL_LOOP:
        ask = f"[{plan.tag}] The test suite fails in module {plan.tag}. Find the cause and fix it."
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}]
        return {"model": "auto", "messages": messages, "tools": TOOLS}
    ask = f"[{plan.tag}] In two sentences: what does a context manager do in Python?"
    return {"model": "auto", "messages": [{"role": "user", "content": ask}]}


def answer_message(response: dict[str, Any]) -> dict[str, Any]:
    """The assistant message as an SDK loop appends it to its history: the answer's, null fields dropped."""
    message = response["choices"][0]["message"]
    return {key: value for key, value in message.items() if value is not None}


def continuation(previous: dict[str, Any], response: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The next request of a task: `previous`'s messages, the answer it got, then what came back — a
    result for every tool call the answer asked for, or (no calls) the person's next message."""
    answer = answer_message(response)
    messages = [*previous["messages"], answer]
    calls = answer.get("tool_calls") or []
    for call in calls:
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": tool_output(rng)})
    if not calls:
        messages.append(
            {"role": "user", "content": f"And how is that different from try/finally? ({rng.random():.6f})"}
        )
    return {**previous, "messages": messages}


def tool_output(rng: random.Random) -> str:
    size = rng.randint(*OUTPUT_CHARS)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


class TaskWalk:
    """One client's tasks, one after another: `next_body(last_response)` gives the body to send next.

    Pass the parsed answer to the previous body (None before the first, or when it failed: the task is
    then abandoned and a new one begins). Deterministic from `seed`; `prefix` keeps tags of different
    walks (workers, runs) apart.
    """

    def __init__(self, seed: int | str, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.tasks = 0
        self.firsts = 0
        self.continuations = 0
        self._plan: TaskPlan | None = None
        self._step = 0
        self._body: dict[str, Any] | None = None

    def next_body(self, last_response: dict[str, Any] | None) -> dict[str, Any]:
        plan = self._plan
        if plan is None or self._body is None or last_response is None or self._step >= plan.steps:
            self.tasks += 1
            plan = self._plan = plan_task(self.rng, f"{self.prefix}-{self.tasks:07d}")
            self._step = 1
            self._body = first_request(plan)
            self.firsts += 1
        else:
            self._step += 1
            self._body = continuation(self._body, last_response, self.rng)
            self.continuations += 1
        return self._body


def distinct_first_requests(prefix: str, start: int = 0) -> Iterator[dict[str, Any]]:
    """An endless run of single-step tool-loop openings, each a task of its own (the memory bench)."""
    index = start
    while True:
        yield first_request(TaskPlan(Shape.TOOL_LOOP, 1, f"{prefix}-{index:09d}"))
        index += 1
