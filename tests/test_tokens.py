"""Offline token counts: the encodings litellm ships, no network."""

from __future__ import annotations

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
