"""The emulator (and routetax relaying it) answer with objects and events that OpenAI's published
OpenAPI spec accepts, and structured output that matches the client's schema.

The schemas are the ones routetax relays, extracted from openai/openai-openapi into
tests/data/openai-schemas.json (source and commit inside; tests/data/extract_openai_schemas.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openai import OpenAI
from pydantic import BaseModel

from emulator.schema import instance_of
from router.servers import RunningServer
from tests.conftest import script

SPEC = json.loads((Path(__file__).parent / "data" / "openai-schemas.json").read_text())
HELLO = [{"role": "user", "content": "Say hello."}]
TYPED_TOOL = {
    "type": "function",
    "function": {
        "name": "book_table",
        "description": "Book a table.",
        "parameters": {
            "type": "object",
            "properties": {
                "guests": {"type": "integer", "minimum": 2},
                "dishes": {"type": "array", "items": {"type": "string"}},
                "vegan": {"type": "boolean"},
                "budget": {"type": ["number", "null"]},
                "when": {"type": "string", "format": "date-time"},
            },
            "required": ["guests", "dishes", "vegan", "budget", "when"],
            "additionalProperties": False,
        },
    },
}


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": {"schemas": SPEC["schemas"]}})


def assert_valid(name: str, instance: Any) -> None:
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5])


def event_schema(event_type: str) -> str:
    """The member of ResponseStreamEvent's anyOf that an event of this type must match (for a precise error)."""
    for member in SPEC["schemas"]["ResponseStreamEvent"]["anyOf"]:
        name = member["$ref"].rsplit("/", 1)[-1]
        if event_type in (SPEC["schemas"][name].get("properties", {}).get("type", {}).get("enum") or ()):
            return name
    raise AssertionError(f"no schema in the spec for event type {event_type!r}")


def sse(response: httpx.Response) -> list[dict[str, Any]]:
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            events.append(json.loads(line[6:]))
    return events


CHAT_BODIES = [
    {"messages": HELLO},
    {"messages": HELLO, "tools": [TYPED_TOOL]},
    {
        "messages": HELLO,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "greeting",
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            },
        },
    },
]
RESPONSES_BODIES = [
    {"input": "Say hello."},
    {"input": "Book for four.", "tools": [{"type": "function", **TYPED_TOOL["function"]}]},
    {
        "input": "Say hello.",
        "text": {"format": {"type": "json_schema", "name": "g", "schema": {"type": "object", "properties": {}}}},
    },
]


@pytest.mark.parametrize("via", ["emulator", "proxy"])
def test_chat_answers_and_stream_chunks_follow_the_spec(
    via: str, emulator: RunningServer, proxy: RunningServer
) -> None:
    url = {"emulator": emulator.url, "proxy": proxy.url}[via]
    model = "gpt-5.4-mini" if via == "emulator" else "auto"
    for body in CHAT_BODIES:
        answer = httpx.post(f"{url}/v1/chat/completions", json={"model": model, **body}, timeout=20)
        assert answer.status_code == 200
        assert_valid("CreateChatCompletionResponse", answer.json())
        stream = {"model": model, **body, "stream": True, "stream_options": {"include_usage": True}}
        chunks = sse(httpx.post(f"{url}/v1/chat/completions", json=stream, timeout=20))
        assert chunks and chunks[-1]["usage"]["prompt_tokens"] > 0
        for chunk in chunks:
            assert_valid("CreateChatCompletionStreamResponse", chunk)


@pytest.mark.parametrize("via", ["emulator", "proxy"])
def test_responses_objects_and_events_follow_the_spec(via: str, emulator: RunningServer, proxy: RunningServer) -> None:
    url = {"emulator": emulator.url, "proxy": proxy.url}[via]
    model = "gpt-5.4-mini" if via == "emulator" else "auto"
    for body in RESPONSES_BODIES:
        answer = httpx.post(f"{url}/v1/responses", json={"model": model, **body}, timeout=20)
        assert answer.status_code == 200
        assert_valid("Response", answer.json())
        events = sse(httpx.post(f"{url}/v1/responses", json={"model": model, **body, "stream": True}, timeout=20))
        assert events[-1]["type"] == "response.completed"
        for event in events:
            assert_valid(event_schema(event["type"]), event)
            assert_valid("ResponseStreamEvent", event)


def test_tool_arguments_are_typed_as_declared_on_both_apis(client: OpenAI) -> None:
    call = client.chat.completions.create(model="auto", messages=HELLO, tools=[TYPED_TOOL]).choices[0].message
    arguments = json.loads(call.tool_calls[0].function.arguments)
    assert arguments == {
        "guests": 2,
        "dishes": ["example"],
        "vegan": True,
        "budget": 1.5,
        "when": "2026-01-01T00:00:00Z",
    }
    output = client.responses.create(
        model="auto", input="Book.", tools=[{"type": "function", **TYPED_TOOL["function"]}]
    )
    [item] = [o for o in output.output if o.type == "function_call"]
    assert json.loads(item.arguments) == arguments  # once: every field "example", integers and arrays included


class Invoice(BaseModel):
    number: str
    total: float
    lines: list[str]
    paid: bool


def test_the_sdks_parse_helpers_work_through_routetax(client: OpenAI) -> None:
    # once "Invalid JSON": the emulator ignored response_format and answered in prose
    parsed = client.chat.completions.parse(model="auto", messages=HELLO, response_format=Invoice)
    invoice = parsed.choices[0].message.parsed
    assert isinstance(invoice, Invoice) and invoice.lines and invoice.total == 1.5
    parsed_response = client.responses.parse(model="auto", input="Extract the invoice.", text_format=Invoice)
    assert isinstance(parsed_response.output_parsed, Invoice)


def test_responses_streams_honour_the_chunk_delay(emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-mini", chunk_delay_ms=30)
    started = time.perf_counter()
    with httpx.stream(
        "POST", f"{emulator.url}/v1/responses", json={"model": "gpt-5.4-mini", "input": "hi", "stream": True}
    ) as response:
        deltas = [line for line in response.iter_lines() if '"response.output_text.delta"' in line]
    assert len(deltas) >= 5
    assert time.perf_counter() - started >= 0.03 * len(deltas) * 0.9


def test_instances_follow_refs_enums_and_recursion() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "child": {"$ref": "#/$defs/node"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
        },
        "$defs": {
            "node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}}
        },
    }
    value = instance_of(schema)
    assert value["kind"] == "a" and value["maybe"] == 5
    depth, node = 0, value["child"]
    while node is not None:
        node, depth = node.get("next"), depth + 1
    assert depth < 10  # a recursive schema ends
    assert Draft202012Validator(schema).is_valid(value)
