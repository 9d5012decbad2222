"""Task-shaped traffic through the official openai SDK, and what the proxy said each step's task was.

The acceptance of task identity: many tasks at once — tool loops (chat JSON and streamed, the Responses
API sending its whole input every turn as the Agents SDK does), text-protocol loops, a person's
conversation, single calls, pairs of tasks whose first requests are byte for byte the same — none of
them sending `x-routetax-task`. Each task keeps its own history the way its kind of client does (the
SDK's own message objects, or re-serialised arguments, as langgraph sends them) and records the
`x-routetax-task` of every answer. `splits_and_merges` then counts the tasks whose steps got different
ids and the ids given to more than one task.

Steps may be spread over several clients (replicas, or `serve --workers N` with a new connection per
request): step i of task t goes to client (t + i) mod n, so every continuation changes process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

TASK_HEADER = "x-routetax-task"
MAX_STEPS = 8  # the emulator answers in text after a tool result; no loop here needs more

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up one order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
RESPONSES_TOOLS = [{"type": "function", **TOOLS[0]["function"]}]
REACT_SYSTEM = (
    "Answer the question. Use this format:\nThought: ...\nAction: lookup_order[<order id>]\n"
    "Observation: (the tool's result, given to you)\n... repeat ...\nFinal Answer: ..."
)


@dataclass
class TaskRun:
    """One task as its client drove it: its kind and the task id each answer carried (in order)."""

    kind: str
    ids: list[str | None] = field(default_factory=list)
    classes: list[str | None] = field(default_factory=list)  # each step's `x-routetax-class`

    def note(self, headers: Any) -> None:
        self.ids.append(headers.get(TASK_HEADER))
        self.classes.append(headers.get("x-routetax-class"))


Client = Callable[[int], AsyncOpenAI]  # step number -> the client (replica, worker) that sends it


async def chat_tool_loop(client: Client, run: TaskRun, n: int, *, stream: bool, reserialise: bool) -> None:
    """A hand-written openai loop: the SDK's message appended, the tool run, its result sent back."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are the order desk."},
        {"role": "user", "content": f"Where is order {n}? Check it and tell me."},
    ]
    for step in range(MAX_STEPS):
        if stream:
            message, headers = await _streamed_chat(client(step), messages)
            run.note(headers)
        else:
            raw = await client(step).chat.completions.with_raw_response.create(
                model="auto", messages=messages, tools=TOOLS
            )
            run.note(raw.headers)
            message = raw.parse().choices[0].message.model_dump(exclude_none=True)
        messages.append(message)
        calls = message.get("tool_calls") or []
        if not calls:
            return
        for call in calls:
            if reserialise:  # langgraph sends the arguments back re-serialised: same JSON, other bytes
                call["function"]["arguments"] = json.dumps(json.loads(call["function"]["arguments"]), indent=1)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f'{{"order": {n}, "ok": true}}'})


async def _streamed_chat(client: AsyncOpenAI, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    raw = await client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=TOOLS, stream=True
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    async for chunk in raw.parse():
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            text.append(delta.content)
        for part in delta.tool_calls or ():
            call = calls.setdefault(
                part.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if part.id:
                call["id"] = part.id
            if part.function and part.function.name:
                call["function"]["name"] += part.function.name
            if part.function and part.function.arguments:
                call["function"]["arguments"] += part.function.arguments
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, raw.headers


async def responses_loop(client: Client, run: TaskRun, n: int) -> None:
    """The Agents SDK's default: the whole input every turn (its items, the output items, the tool outputs)."""
    items: list[dict[str, Any]] = [{"role": "user", "content": f"Is order {n} shipped yet?"}]
    for step in range(MAX_STEPS):
        raw = await client(step).responses.with_raw_response.create(
            model="auto", instructions="You are the order desk.", input=items, tools=RESPONSES_TOOLS
        )
        run.note(raw.headers)
        output = raw.parse().output
        items += [item.model_dump(exclude_none=True) for item in output]
        calls = [item for item in output if item.type == "function_call"]
        if not calls:
            return
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": '{"shipped": true}'} for c in calls]


async def text_protocol_loop(client: Client, run: TaskRun, n: int) -> None:
    """A ReAct agent that writes its tool use in text: the observation comes back as a user message."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": REACT_SYSTEM},
        {"role": "user", "content": f"Question: what is the status of order {n}?"},
    ]
    for step in range(3):
        raw = await client(step).chat.completions.with_raw_response.create(
            model="auto", messages=messages, stop=["Observation:"]
        )
        run.note(raw.headers)
        messages.append({"role": "assistant", "content": raw.parse().choices[0].message.content})
        messages.append({"role": "user", "content": f"Observation: order {n} is in transit (step {step})."})


async def conversation(client: Client, run: TaskRun, n: int) -> None:
    """A person's chat: plain user turns, each after the answer to the last."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"Hi, I am planning trip number {n}. Any tips?"}]
    for step, follow_up in enumerate(("Thanks. What about the food?", "And the weather?", "")):
        raw = await client(step).chat.completions.with_raw_response.create(model="auto", messages=messages)
        run.note(raw.headers)
        if not follow_up:
            return
        messages.append(raw.parse().choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "user", "content": follow_up})


async def single_call(client: Client, run: TaskRun, n: int) -> None:
    """One call; every fifth asks exactly what another task asks (identical calls are separate tasks)."""
    text = "Classify the sentiment: 'great battery'." if n % 5 == 0 else f"Classify the sentiment of review {n}."
    raw = await client(0).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}]
    )
    run.note(raw.headers)


async def identical_start_loop(client: Client, run: TaskRun, n: int) -> None:
    """A tool loop whose first request is byte for byte another task's (they part at the tool-call ids)."""
    await chat_tool_loop(client, run, -1, stream=False, reserialise=False)


Driver = Callable[[Client, TaskRun, int], Awaitable[None]]
KINDS: dict[str, Driver] = {
    "chat_tool_loop": lambda c, r, n: chat_tool_loop(c, r, n, stream=False, reserialise=False),
    "chat_tool_loop_stream": lambda c, r, n: chat_tool_loop(c, r, n, stream=True, reserialise=False),
    "chat_tool_loop_reserialised": lambda c, r, n: chat_tool_loop(c, r, n, stream=False, reserialise=True),
    "responses_loop": responses_loop,
    "text_protocol_loop": text_protocol_loop,
    "conversation": conversation,
    "single_call": single_call,
    "identical_start_loop": identical_start_loop,
}


async def drive(clients: Sequence[AsyncOpenAI], tasks: int, concurrency: int = 32) -> list[TaskRun]:
    """Run `tasks` tasks of every kind in turn, `concurrency` at once; step i of task t on client (t + i) % n."""
    kinds = list(KINDS)
    runs = [TaskRun(kinds[t % len(kinds)]) for t in range(tasks)]
    gate = asyncio.Semaphore(concurrency)

    async def one(t: int) -> None:
        async with gate:
            await KINDS[runs[t].kind](lambda step: clients[(t + step) % len(clients)], runs[t], t)

    await asyncio.gather(*(one(t) for t in range(tasks)))
    return runs


def splits_and_merges(runs: Sequence[TaskRun]) -> tuple[list[TaskRun], dict[str, list[str]]]:
    """(tasks whose steps did not all carry one id, or carried none; ids carried by more than one task)."""
    splits = [run for run in runs if len(set(run.ids)) != 1 or None in run.ids]
    owners: dict[str, list[str]] = {}
    for run in runs:
        for task in set(run.ids) - {None}:
            owners.setdefault(task, []).append(run.kind)
    merges = {task: kinds for task, kinds in owners.items() if len(kinds) > 1}
    return splits, merges
