"""Offline token counts: the encodings litellm ships, no network."""

from __future__ import annotations

import json
import os
import sys

from metering.tokens import bundled_cache_dir, count_messages, count_prompt, count_text
from tests.running import Processes


def test_known_counts_with_o200k_base() -> None:
    assert count_text("hello world") == 2
    assert count_text("") == 0
    assert count_messages([{"role": "user", "content": "hi"}]) == 3 + 3 + 1 + 1


def test_list_content_and_tool_calls_are_counted() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}, {"type": "image_url"}]}]
    assert count_messages(parts) == count_messages([{"role": "user", "content": "hello world"}])
    call = [{"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]
    assert count_messages(call) > count_messages([{"role": "assistant", "content": None}])


def test_responses_bodies_and_tools_count() -> None:
    plain = count_prompt({"input": "hello world"}, "responses")
    with_tools = count_prompt({"input": "hello world", "tools": [{"type": "function", "name": "f"}]}, "responses")
    assert plain == count_messages([{"role": "user", "content": "hello world"}]) and with_tools > plain


def test_encodings_load_from_the_bundled_cache_without_network(processes: Processes) -> None:
    assert bundled_cache_dir() is not None
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from metering.tokens import count_text\n"
        "print(count_text('hello world'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    result = processes.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "2", result.stderr
    assert "unavailable" not in result.stderr


# OpenAI's cookbook "How to count tokens with tiktoken" publishes these two examples with the prompt tokens the
# API reported for gpt-4o and gpt-4o-mini (o200k_base): 124 for the messages, 101 for the weather tool request.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
        "English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
        "leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_WEATHER = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def test_messages_count_as_the_api_counted_the_cookbook_example() -> None:
    assert count_messages(COOKBOOK_MESSAGES) == 124  # names included: each costs its tokens and one more


def test_tools_count_as_the_api_counted_the_cookbook_example_not_as_json_text() -> None:
    body = {"model": "gpt-4o", "messages": COOKBOOK_WEATHER, "tools": COOKBOOK_TOOLS}
    assert count_prompt(body) == 101
    as_json = count_messages(COOKBOOK_WEATHER) + count_text(json.dumps(COOKBOOK_TOOLS, separators=(",", ":")))
    assert as_json > 101  # what the audit used to estimate


def test_responses_function_tools_are_framed_like_chat_ones() -> None:
    flat = [{"type": "function", **COOKBOOK_TOOLS[0]["function"]}]
    chat = count_prompt({"messages": COOKBOOK_WEATHER, "tools": COOKBOOK_TOOLS})
    responses = count_prompt({"input": COOKBOOK_WEATHER, "tools": flat}, "responses")
    assert responses == chat
