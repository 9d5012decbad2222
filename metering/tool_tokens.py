"""Prompt tokens of declared tools, framed the way OpenAI's models see them, not as the JSON that declares them.

A function tool reaches the model as a short rendering of its schema — its name and description, then one line
per parameter with its type and description, enum values listed — not as the request's JSON, whose braces,
quotes and keys the model never reads. Counting the JSON text over-counts a typical tool by about a fifth.
OpenAI's cookbook ("How to count tokens with tiktoken", section 7) publishes the framing for the gpt-4o family,
verified there against the API's own `usage` (101 prompt tokens for its weather-tool example); o200k_base models
frame tools the same way, so it is applied to every request counted here:

- every function: `FUNCTION_START` tokens, then the tokens of `name:description` (a final full stop dropped);
- a function with parameters: `PROPERTIES_START`, then per parameter `PROPERTY` tokens and the tokens of
  `name:type:description` (a final full stop dropped); a parameter with an `enum` adds `ENUM_START` and, per
  value, `ENUM_VALUE` plus the value's tokens;
- the whole tool list ends with `TOOLS_END`.

Nested object parameters are framed the same way by the model but the cookbook publishes no rule for them: their
schema's text is counted as a parameter's description. Tools that are not functions (built-in tools such as
`web_search`) carry no schema of their own to frame: their JSON is counted, as before.
"""

from __future__ import annotations

from typing import Any

import orjson

FUNCTION_START = 7
PROPERTIES_START = 3
PROPERTY = 3
ENUM_START = -3
ENUM_VALUE = 3
TOOLS_END = 12


def _without_full_stop(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _function_of(tool: Any) -> dict[str, Any] | None:
    """The function a tool declares: Chat Completions nests it under `function`, Responses keeps it flat."""
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        return None
    function = tool.get("function", tool)
    return function if isinstance(function, dict) and isinstance(function.get("name"), str) else None


def _property_tokens(name: str, schema: Any, count_text: Any) -> int:
    if not isinstance(schema, dict):
        return PROPERTY + count_text(f"{name}::")
    kind = schema.get("type")
    kind_text = kind if isinstance(kind, str) else orjson.dumps(kind).decode() if kind is not None else ""
    description = schema.get("description")
    text = _without_full_stop(description) if isinstance(description, str) else ""
    nested = {k: v for k, v in schema.items() if k not in ("type", "description", "enum")}
    if nested:  # items, properties, anyOf ...: no published framing; their schema text stands for them
        text = f"{text} {orjson.dumps(nested).decode()}" if text else orjson.dumps(nested).decode()
    tokens = PROPERTY + count_text(f"{name}:{kind_text}:{text}")
    values = schema.get("enum")
    if isinstance(values, list):
        tokens += ENUM_START
        for value in values:
            tokens += ENUM_VALUE + count_text(value if isinstance(value, str) else orjson.dumps(value).decode())
    return tokens


def count_tools(tools: Any, count_text: Any) -> int:
    """Prompt tokens of a request's `tools` list (0 for none); `count_text` is the tokenizer's text count."""
    if not isinstance(tools, list) or not tools:
        return 0
    total = 0
    framed = False
    for tool in tools:
        function = _function_of(tool)
        if function is None:  # a built-in tool, or something malformed: its JSON text, as it was counted before
            total += count_text(orjson.dumps(tool).decode())
            continue
        framed = True
        description = function.get("description")
        line = function["name"] + ":" + (_without_full_stop(description) if isinstance(description, str) else "")
        total += FUNCTION_START + count_text(line)
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and properties:
            total += PROPERTIES_START
            for name, schema in properties.items():
                total += _property_tokens(str(name), schema, count_text)
    return total + (TOOLS_END if framed else 0)
