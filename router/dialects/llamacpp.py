"""llama.cpp's server (`llama-server`): Chat Completions only, by default.

Errors: `{"error": {"code": 400, "message", "type"}}` with llama.cpp's own types; a prompt longer than
the context size is `type: "exceed_context_size_error"` with `n_prompt_tokens` and `n_ctx`. Usage:
OpenAI's counts, `prompt_tokens_details.cached_tokens` exact, plus a `timings` object that is passed
through untouched. Streams: OpenAI's chunks and usage chunk. End-to-end proof against the real engine:
tests/test_local_qwen.py.
"""

from __future__ import annotations

from typing import Any

from metering import usage as _usage
from router.dialects.common import ask_as_engines_do, coerce_error

name = "llamacpp"
serves_responses = False

OVERFLOW_TYPE = "exceed_context_size_error"


def overflow(status: int, err: dict[str, Any], message: str) -> str | None:
    """llama.cpp's overflow, its message completed with the two sizes it sends apart."""
    if err.get("type") != OVERFLOW_TYPE:
        return None
    prompt, window = err.get("n_prompt_tokens"), err.get("n_ctx")
    if isinstance(prompt, int) and isinstance(window, int):
        return f"{message} ({prompt} prompt tokens; the context size is {window})"
    return message


def normalise_error(status: int, raw: bytes) -> bytes:
    return coerce_error(status, raw, overflow)


usage_from = _usage.usage_from
adjust_request = ask_as_engines_do
