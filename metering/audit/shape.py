"""Whether a logged request body has the structure the API accepts, checked on every line the audit reads.

A log can hold values no API would have taken — `{"input": 5}`, `"tool_calls": 5`, a message that
is a string — written by a buggy logger, hand-edited, or cut and pasted. Such a request was never
served as logged, and reading it anyway lets one line decide the run: the token counter meets a
number where it expects a list, and whether it does depends on whether that line falls in the
tokenizer's sample. So the structure is checked here for every line, the same way, and a line that
fails is skipped as `malformed_request` and counted.

Only the containers are checked (the JSON types the Chat Completions and Responses schemas require
of `messages`, `input`, their items, content parts, tool calls and `tools`), not every field's value:
it runs once per line, and its cost is a loop over the messages with a type test each.
"""

from __future__ import annotations

from typing import Any


def malformed(body: dict[str, Any], api: str) -> bool:
    """Whether `body` (a Chat Completions or Responses request) has a value of a type its API refuses."""
    if api == "chat":
        messages = body.get("messages")
        if type(messages) is not list or not messages or _bad_items(messages, True):
            return True
    else:
        value = body.get("input")
        if type(value) is not str and (type(value) is not list or _bad_items(value, False)):
            return True
        instructions = body.get("instructions")
        if instructions is not None and type(instructions) is not str:
            return True
    return bad_tools(body)


def bad_tools(body: dict[str, Any]) -> bool:
    """Whether `tools` is there and not an array of objects (`malformed`'s last test, also made on its own where the
    messages were checked in another walk of them: `metering.audit.task_keys.keys_of`)."""
    tools = body.get("tools")
    return tools is not None and not _objects(tools)


def _bad_items(items: list[Any], chat: bool) -> bool:
    """Messages (chat) or input items (Responses): objects, their content text or an array of parts."""
    # Written for speed (a line costs ~20 us in all, this well under 1): a type test per common field.
    for item in items:
        if type(item) is not dict:
            return True
        content = item.get("content")
        if type(content) is not str and content is not None and not _objects(content):
            return True
        if chat and (type(item.get("role")) is not str or ("tool_calls" in item and _bad_calls(item["tool_calls"]))):
            return True
    return False


def _bad_calls(calls: Any) -> bool:
    if calls is None:
        return False
    if type(calls) is not list:
        return True
    for call in calls:
        if type(call) is not dict:
            return True
        function = call.get("function")
        if function is not None and type(function) is not dict:
            return True
    return False


def _objects(value: Any) -> bool:
    """A JSON array of objects."""
    if type(value) is not list:
        return False
    for item in value:
        if type(item) is not dict:
            return False
    return True
