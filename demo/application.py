"""The demo's application: it runs the world's planned tasks through the official openai SDK, as real ones run.

Agent tasks are real tool loops: the application executes the tools the model asks for and sends the history
back grown by the SDK's own message objects (`model_dump(exclude_none=True)`, as agent frameworks append
them) — on chat completions with or without the `x-routetax-task` header, in the ReAct text protocol (the
model writes `Action: tool[input]`, the application answers with a user `Observation:`), or on the Responses
API sending the full input every turn (what the Agents SDK does by default). Single-turn tasks are one call;
conversations are a person's few plain turns with a pause between them. Some agent tasks are abandoned right
after the model asked for a tool. Each task's success is drawn by the true rate of its arm and class, and the
application says how it ended on the planned share of tasks (`send_feedback`).

Everything it learns from the proxy comes from response headers, read defensively: the tier that answered
(`x-routetax-tier`), the class it routed the step as (`x-routetax-class`), the request id, and the task id
(`x-routetax-task`) where the proxy sends one.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from openai import APIStatusError, OpenAI

from demo.tasks import Kind, Plan, TaskMix, true_class

TASK_HEADER = "x-routetax-task"
SINGLE_TURN_PROMPTS = (
    "Classify the sentiment of this review as positive, negative or neutral: 'The battery lasts two days.'",
    "Extract the invoice number and total from: 'Invoice INV-2291, total due EUR 412.50 by 3 March.'",
    "Rank these three titles by relevance to 'kubernetes autoscaling': A) HPA basics B) Baking bread C) KEDA.",
    "Translate to French: 'The meeting is moved to Thursday afternoon.'",
    "Summarise in one sentence: routing cheap requests to a small model saves money when it finishes them.",
    "Write a haiku about cache hits.",
)
FOLLOW_UPS = ("Thanks. Can you make it shorter?", "And now in German, please.", "Why that one?")
AGENT_SYSTEM = "You are a support agent. Use the tools to act."
AGENT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_orders",
            "description": "Search the order database.",
            "parameters": {
                "type": "object",
                "properties": {"customer_id": {"type": "string"}},
                "required": ["customer_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund_order",
            "description": "Refund one order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_customer",
            "description": "Read a customer's profile.",
            "parameters": {
                "type": "object",
                "properties": {"customer_id": {"type": "string"}},
                "required": ["customer_id"],
            },
        },
    },
]
RESPONSES_TOOLS = [{"type": "function", **tool["function"]} for tool in AGENT_TOOLS]
AGENT_TASKS = (
    "Customer C-1042 says order 7 arrived broken. Find it and refund it.",
    "Check the last order of customer C-77 and refund it if it is late.",
    "Look up customer C-9 and tell me how many orders are open.",
)
REACT_SYSTEM = (
    "Answer the request as best you can. You have access to the following tools:\n"
    "search_orders: search the order database\nrefund_order: refund one order\nget_customer: read a profile\n\n"
    "Use the following format:\n\nQuestion: the request\nThought: what to do next\n"
    "Action: the tool to use, written tool[input], one of [search_orders, refund_order, get_customer]\n"
    "Observation: the result of the action\n... (Thought/Action/Observation can repeat)\n"
    "Thought: I know the answer\nFinal Answer: the answer to the request"
)
ACTION = re.compile(r"Action:\s*([\w-]+)\[(.*?)\]")


def agent_prompt(plan: Plan) -> str:
    """The task's first user message; `[N tool rounds]` tells the emulated model how long its loop is
    (emulator/loops.py), as a real model would decide by itself."""
    return f"{AGENT_TASKS[plan.prompt % len(AGENT_TASKS)]} [{plan.rounds} tool rounds]"


def run_tool(name: str, arguments: str) -> str:
    """The application's tools: instant and deterministic, answering as a small order system would."""
    results = {
        "search_orders": {"orders": [{"order_id": "7", "status": "delivered", "late": False}]},
        "refund_order": {"ok": True, "status": "refunded"},
        "get_customer": {"customer": {"tier": "gold", "open_orders": 2}},
    }
    return orjson.dumps({"input": arguments, **results.get(name, {"error": f"unknown tool {name}"})}).decode()


class FeedbackBy(StrEnum):
    """How the application's feedback reached the proxy."""

    TASK = "task"  # {"task": id}
    REQUEST = "request"  # {"request_id": the task's last step}: the proxy named no task or refused the field


@dataclass
class TaskRun:
    """What one task did, as the application saw it."""

    plan: Plan
    own_id: str | None = None  # the `x-routetax-task` value the application sent (header tasks)
    task_ids: list[str | None] = field(default_factory=list)  # the proxy's `x-routetax-task`, per step
    request_ids: list[str] = field(default_factory=list)
    tiers: list[str | None] = field(default_factory=list)  # the tier that answered, per step
    classes: list[str | None] = field(default_factory=list)  # the class the proxy routed each step as
    sent: list[int] = field(default_factory=list)  # messages (chat) or input items (Responses) sent, per step
    calls: list[int] = field(default_factory=list)  # tool calls (or `Action:` lines) the answer asked for, per step
    abandoned: bool = False
    success: bool | None = None  # None: abandoned, the application never learned
    feedback: FeedbackBy | None = None

    @property
    def arm(self) -> str | None:
        """The tier that answered the task's first step."""
        return self.tiers[0] if self.tiers else None

    @property
    def task_id(self) -> str | None:
        """The task as the proxy names it (its last answer's header), else the application's own header value."""
        named = [t for t in self.task_ids if t]
        return named[-1] if named else self.own_id

    def row(self) -> dict[str, Any]:
        return {
            "index": self.plan.index,
            "kind": self.plan.kind.value,
            "class": true_class(self.plan.kind),
            "task_id": self.task_id,
            "task_ids": self.task_ids,
            "request_ids": self.request_ids,
            "steps": len(self.request_ids),
            "tiers": self.tiers,
            "classes": self.classes,
            "arm": self.arm,
            "sent": self.sent,
            "calls": self.calls,
            "abandoned": self.abandoned,
            "success": self.success,
            "feedback": self.feedback.value if self.feedback else None,
        }


def send_feedback(
    client: OpenAI, task_id: str | None, last_request_id: str, success: bool, reason: str | None
) -> FeedbackBy:
    """`POST /v1/feedback` on a task: `{"task": id, "success", "reason"}`.

    A proxy that names no task, or refuses the `task` field (one from before task feedback), gets the request
    id of the task's last step instead, which the feedback contract reads as that request's task.
    """
    if task_id is not None:
        try:
            client.post("/feedback", cast_to=object, body={"task": task_id, "success": success, "reason": reason})
            return FeedbackBy.TASK
        except APIStatusError as exc:
            if not 400 <= exc.status_code < 500:
                raise
    body = {"request_id": last_request_id, "success": success, "reason": reason}
    client.post("/feedback", cast_to=object, body=body)
    return FeedbackBy.REQUEST


def run_tasks(
    base_url: str,
    plans: list[Plan],
    task_success: dict[tuple[str, str], float],
    mix: TaskMix,
    seed: int,
) -> list[TaskRun]:
    """Run every planned task through the proxy at `base_url`, `mix.concurrency` at a time."""
    client = OpenAI(base_url=f"{base_url}/v1", api_key="demo-no-key-needed", max_retries=0)

    def one(plan: Plan) -> TaskRun:
        run = TaskRun(plan, own_id=f"demo-{seed}-{plan.index}" if plan.kind is Kind.TOOL_LOOP_HEADER else None)
        RUNNERS[plan.kind](client, run, mix)
        settle(client, run, task_success)
        return run

    # conversations first: their pauses are the longest stretches, so they overlap the rest instead of trailing
    order = sorted(plans, key=lambda plan: plan.kind is not Kind.CONVERSATION)
    with client, ThreadPoolExecutor(max_workers=max(1, mix.concurrency), thread_name_prefix="demo-task") as pool:
        done = {run.plan.index: run for run in pool.map(one, order)}
    return [done[plan.index] for plan in plans]


def settle(client: OpenAI, run: TaskRun, task_success: dict[tuple[str, str], float]) -> None:
    """Draw the task's success by its arm's true rate, and say so on the planned share of tasks."""
    if run.abandoned or run.arm is None:
        return
    run.success = run.plan.draw < task_success[(run.arm, true_class(run.plan.kind))]
    if run.plan.feedback:
        reason = None if run.success else "the application judged the task failed"
        run.feedback = send_feedback(client, run.task_id, run.request_ids[-1], run.success, reason)


def _note(run: TaskRun, raw: Any, sent: int, calls: int = 0) -> None:
    headers = raw.headers
    run.request_ids.append(headers.get("x-routetax-request-id", ""))
    run.tiers.append(headers.get("x-routetax-tier"))
    run.classes.append(headers.get("x-routetax-class"))
    run.task_ids.append(headers.get(TASK_HEADER))
    run.sent.append(sent)
    run.calls.append(calls)


def _headers(run: TaskRun) -> dict[str, str] | None:
    return {TASK_HEADER: run.own_id} if run.own_id else None


def tool_loop(client: OpenAI, run: TaskRun, _mix: TaskMix) -> None:
    """Chat completions with tools: run each call, append the SDK's message and the results, until an answer."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": AGENT_SYSTEM},
        {"role": "user", "content": agent_prompt(run.plan)},
    ]
    for round_ in range(1, run.plan.rounds + 3):  # a loop that never answers is cut (a bounded agent)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, tools=AGENT_TOOLS, extra_headers=_headers(run)
        )
        message = raw.parse().choices[0].message
        _note(run, raw, len(messages), len(message.tool_calls or ()))
        if not message.tool_calls:
            return
        if round_ == run.plan.abandon_after:
            run.abandoned = True
            return
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            content = run_tool(call.function.name, call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})


def text_protocol(client: OpenAI, run: TaskRun, _mix: TaskMix) -> None:
    """ReAct in text: the model writes `Action: tool[input]`; the application answers `Observation: ...`."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": REACT_SYSTEM},
        {"role": "user", "content": f"Question: {agent_prompt(run.plan)}"},
    ]
    for round_ in range(1, run.plan.rounds + 3):
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        message = raw.parse().choices[0].message
        action = ACTION.search(message.content or "")
        _note(run, raw, len(messages), 0 if action is None else 1)
        if action is None:
            return
        if round_ == run.plan.abandon_after:
            run.abandoned = True
            return
        messages.append(message.model_dump(exclude_none=True))
        messages.append({"role": "user", "content": f"Observation: {run_tool(action.group(1), action.group(2))}"})


def responses_loop(client: OpenAI, run: TaskRun, _mix: TaskMix) -> None:
    """The Responses API sending the full input each turn: the output items and the call outputs appended."""
    items: list[dict[str, Any]] = [{"role": "user", "content": agent_prompt(run.plan)}]
    for round_ in range(1, run.plan.rounds + 3):
        raw = client.responses.with_raw_response.create(
            model="auto", instructions=AGENT_SYSTEM, input=items, tools=RESPONSES_TOOLS, extra_headers=_headers(run)
        )
        response = raw.parse()
        calls = [item for item in response.output if item.type == "function_call"]
        _note(run, raw, len(items), len(calls))
        if not calls:
            return
        if round_ == run.plan.abandon_after:
            run.abandoned = True
            return
        items.extend(item.model_dump(exclude_none=True) for item in response.output)
        items.extend(
            {"type": "function_call_output", "call_id": call.call_id, "output": run_tool(call.name, call.arguments)}
            for call in calls
        )


def single_turn(client: OpenAI, run: TaskRun, _mix: TaskMix) -> None:
    """One call (some streamed)."""
    messages = [{"role": "user", "content": SINGLE_TURN_PROMPTS[run.plan.prompt % len(SINGLE_TURN_PROMPTS)]}]
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages, stream=run.plan.stream)
    if run.plan.stream:
        for _chunk in raw.parse():
            pass
    _note(run, raw, len(messages))


def conversation(client: OpenAI, run: TaskRun, mix: TaskMix) -> None:
    """A person's turns: plain user messages, the history growing, a pause between turns."""
    first = SINGLE_TURN_PROMPTS[run.plan.prompt % len(SINGLE_TURN_PROMPTS)]
    messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for turn in range(run.plan.rounds):
        if turn:
            time.sleep(mix.person_pause_s)  # the person reads the answer and types the next message
            follow_up = FOLLOW_UPS[(run.plan.prompt + turn) % len(FOLLOW_UPS)]
            messages.append({"role": "user", "content": follow_up})
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        _note(run, raw, len(messages))
        messages.append(raw.parse().choices[0].message.model_dump(exclude_none=True))


RUNNERS = {
    Kind.TOOL_LOOP: tool_loop,
    Kind.TOOL_LOOP_HEADER: tool_loop,
    Kind.TEXT_PROTOCOL: text_protocol,
    Kind.RESPONSES_LOOP: responses_loop,
    Kind.SINGLE_TURN: single_turn,
    Kind.CONVERSATION: conversation,
}
