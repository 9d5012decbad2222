"""Is an answer usable? The checks that turn a 2xx into a redo, shared by JSON answers and held streams.

The definitions of degraded output (README, Resilience): tool-call arguments that are not valid JSON,
a tool name the request did not declare, empty output with `finish_reason` stop, `finish_reason`
length with nothing usable. A body that is not a chat answer at all is `unparseable`: an upstream
error, not a degraded answer.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.sse import choices_of, parse_event, streamed_tool_calls


def parse_answer(answer: bytes) -> Any:
    """A 2xx body's JSON, or None when it is not JSON (then no check finds an answer in it)."""
    try:
        return orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None


def degraded_reason(request: dict[str, Any], answer: bytes) -> str | None:
    """Why a 2xx chat answer is unusable, by the definitions above — or None when it is fine."""
    return chat_degraded(request, parse_answer(answer))


def chat_degraded(request: dict[str, Any], data: Any) -> str | None:
    """`degraded_reason` of an answer already parsed (`data`: its JSON, None when it was not JSON).

    Tool-call arguments that are not valid JSON, a tool name the request did not declare,
    empty output with `finish_reason` stop, `finish_reason` length with nothing usable.
    """
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return "unparseable"
    finish = choice.get("finish_reason")
    calls = message.get("tool_calls") or []
    content = message.get("content")
    has_text = isinstance(content, str) and content.strip() != ""
    if calls:
        return broken_calls(request, calls)
    if finish == "length" and not has_text:
        return "length_nothing_usable"
    if finish == "stop" and not has_text and not message.get("refusal"):
        return "empty"
    return None


def broken_calls(request: dict[str, Any], calls: list[Any]) -> str | None:
    """Why chat tool calls cannot be run: not a call, a tool the request did not declare, arguments not JSON."""
    declared = declared_tool_names(request)
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            return "bad_tool_call"
        if declared is not None and function.get("name") not in declared:
            return "undeclared_tool"
        try:
            orjson.loads(function.get("arguments") or "")
        except orjson.JSONDecodeError:
            return "bad_tool_json"
    return None


def declared_tool_names(request: dict[str, Any]) -> set[str] | None:
    """Names of the functions the request offered (None when it offered none, so nothing to check)."""
    names: set[str] = set()
    for tool in request.get("tools") or ():
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    for function in request.get("functions") or ():
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names or None


def looks_like_json_object(content: bytes) -> bool:
    """A cheap look (no parse) at a 2xx body: an HTML page or a truncated body is not an answer."""
    first, last = content[:1], content[-1:]  # no copy in the usual case: a body that starts and ends with braces
    if first != b"{":
        first = content.lstrip()[:1]
    if last != b"}":
        last = content.rstrip()[-1:]
    return first == b"{" and last == b"}"


def streamed_chat_answer(events: list[bytes]) -> bytes:
    """A chat stream's events as the JSON answer they add up to: text, refusal, tool calls, finish reason."""
    text: list[str] = []
    refusal: list[str] = []
    finish = None
    for event in events:
        for choice in choices_of(parse_event(event)):
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for key, parts in (("content", text), ("refusal", refusal)):
                    if isinstance(delta.get(key), str):
                        parts.append(delta[key])
            finish = choice.get("finish_reason") or finish
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text), "refusal": "".join(refusal) or None}
    calls = streamed_tool_calls(events)
    if calls:
        message["tool_calls"] = calls
    return orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": finish}]})


def response_degraded(request: dict[str, Any], response: Any) -> str | None:
    """Why a finished Responses API response is unusable, by the same definitions as a chat answer — or None.

    A function call with arguments that are not JSON or a name the request did not declare; no output
    text, refusal or tool call at all (`empty`, or `length_nothing_usable` when it ran out of tokens).
    A failed response is a failure, not a degraded answer: None.
    """
    if not isinstance(response, dict) or response.get("status") not in ("completed", "incomplete"):
        return None
    output = [item for item in response.get("output") or () if isinstance(item, dict)]
    calls = [  # as chat's tool calls, checked by the same rule
        {"function": {"name": item.get("name"), "arguments": item.get("arguments")}}
        for item in output
        if item.get("type") == "function_call"
    ]
    if calls:
        return broken_calls(request, calls)
    for item in output:
        if item.get("type") not in ("message", "reasoning"):
            return None  # a built-in tool's call (web search, computer use, ...) is something to act on
        for part in item.get("content") or ():
            if isinstance(part, dict) and (part.get("refusal") or (part.get("text") or "").strip()):
                return None
    reason = (response.get("incomplete_details") or {}).get("reason")
    return "length_nothing_usable" if reason == "max_output_tokens" else "empty"


def event_type(event: bytes) -> str | None:
    """The SSE `event:` name, or the `type` field of the data (Responses streams carry both)."""
    if event.startswith(b"event:"):
        return event[6 : event.find(b"\n")].strip().decode("utf-8", "replace")
    chunk = parse_event(event)
    kind = chunk.get("type") if chunk else None
    return kind if isinstance(kind, str) else None


def chat_visible(events: list[bytes]) -> str | None:
    """Does any of these chat events carry something the client would see? ("text", "tool_calls" or None).

    Only the first events of a stream go through here, until the first visible one.
    """
    for event in events:
        for choice in choices_of(parse_event(event)):
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            if delta.get("tool_calls"):
                return "tool_calls"
            if delta.get("content") or delta.get("refusal"):
                return "text"
    return None
