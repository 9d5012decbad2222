"""A task's final exchange, as the judge reads it: what the task asked for, its last turn, the answer it got.

Read off the finished request (its body and the upstream's answer: chat JSON, a chat stream, a Responses
object or stream) after the client has its answer, for sampled tasks only, and bounded in size: the judge
needs the gist, and the store keeps one per sampled task until it ends. Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from metering.completion import Completion
from metering.record import Record

GOAL_CHARS = 2_000  # the task's first user message
TURN_CHARS = 4_000  # the latest user / tool content
ANSWER_CHARS = 4_000  # the answer's text and tool calls
_INPUT_ROLES = frozenset({"user", "tool", "function", "system", "developer"})


@dataclass(frozen=True, slots=True)
class FinalExchange:
    """The last step of a task, in text. `goal` is empty when the request did not resend the history
    (a Responses `previous_response_id` chain sends only the new input)."""

    api: str
    step: int
    goal: str
    turn: str
    answer: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> FinalExchange | None:
        try:
            data = orjson.loads(raw)
            return cls(**{name: data[name] for name in ("api", "step", "goal", "turn", "answer")})
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    def render(self) -> str:
        """What the judge is shown, after its prompt."""
        parts = []
        if self.goal and self.goal != self.turn:
            parts.append(f"The task as first stated:\n{self.goal}")
        parts.append(f"The last turn the assistant received (step {self.step}):\n{self.turn or '(empty)'}")
        parts.append(f"The assistant's final answer:\n{self.answer or '(empty)'}")
        return "\n\n".join(parts)


def final_exchange(record: Record, completion: Completion) -> FinalExchange:
    """The exchange of this (finished) request, clipped to bounded size."""
    request = completion.request
    if record.api == "responses":
        goal, turn = _responses_input(request.get("input"))
    else:
        goal, turn = _chat_messages(request.get("messages"))
    return FinalExchange(
        api=record.api,
        step=record.task_step,
        goal=clip(goal, GOAL_CHARS),
        turn=clip(turn, TURN_CHARS),
        answer=clip(answer_text(completion), ANSWER_CHARS),
    )


def clip(text: str, limit: int) -> str:
    """At most about `limit` characters: the beginning and the end, with how much was cut between them."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} […{len(text) - 2 * half} characters cut…] {text[-half:]}"


def _chat_messages(messages: Any) -> tuple[str, str]:
    if not isinstance(messages, list):
        return "", ""
    goal = next((_content(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"), "")
    turn: list[str] = []
    for message in reversed(messages):  # back to the last thing the assistant said
        if not isinstance(message, dict) or message.get("role") not in _INPUT_ROLES:
            break
        if message.get("role") in ("system", "developer"):
            continue
        prefix = "[tool result] " if message.get("role") in ("tool", "function") else ""
        turn.append(prefix + clip(_content(message.get("content")), TURN_CHARS))
    return goal, "\n".join(reversed(turn))


def _responses_input(items: Any) -> tuple[str, str]:
    if isinstance(items, str):
        return items, items
    if not isinstance(items, list):
        return "", ""
    goal = next(
        (_content(i.get("content")) for i in items if isinstance(i, dict) and i.get("role") == "user"),
        "",
    )
    turn: list[str] = []
    for item in reversed(items):
        if not isinstance(item, dict):
            break
        kind = item.get("type")
        if isinstance(kind, str) and kind.endswith("_call_output"):
            output = item.get("output")
            turn.append("[tool result] " + clip(output if isinstance(output, str) else _content(output), TURN_CHARS))
        elif item.get("role") in ("user", "tool"):
            turn.append(clip(_content(item.get("content")), TURN_CHARS))
        elif item.get("role") in ("system", "developer"):
            continue
        else:  # the assistant's message, its calls, its reasoning: the turn before this one
            break
    return goal, "\n".join(reversed(turn))


def _content(content: Any) -> str:
    """Text of a message's content: a string, or a list of parts (text kept, other media named)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part.get("type"), str):
                parts.append(f"[{part['type']}]")
    return "\n".join(parts)


def answer_text(completion: Completion) -> str:
    """The final attempt's answer: text, then the tool calls it asked for, as `name(arguments)`."""
    body = completion.bodies[-1] if completion.bodies else None
    if body is not None:
        try:
            return _answer_of(orjson.loads(body))
        except orjson.JSONDecodeError:
            return ""
    stream = completion.stream
    if stream is None:
        return ""
    event = stream.usage_chunk  # a Responses stream's `response.completed` carries the whole response
    if isinstance(event, dict) and isinstance(event.get("response"), dict):
        text = _answer_of(event["response"])
        if text:
            return text
    return stream.text()  # a chat stream: the text and tool-call arguments the client received


def _answer_of(parsed: Any) -> str:
    if not isinstance(parsed, dict):
        return ""
    if isinstance(parsed.get("output"), list):
        return _responses_output(parsed["output"])
    choices = parsed.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        return ""
    parts = [message["content"]] if isinstance(message.get("content"), str) and message["content"] else []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(f"[tool call] {function.get('name')}({function.get('arguments') or ''})")
    return "\n".join(parts)


def _responses_output(output: list[Any]) -> str:
    parts: list[str] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            parts.append(f"[tool call] {item.get('name')}({item.get('arguments') or ''})")
        elif item.get("type") == "message":
            text = _content(item.get("content"))
            if text:
                parts.append(text)
    return "\n".join(parts)
