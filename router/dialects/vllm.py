"""vLLM's OpenAI-compatible server (`vllm serve`): Chat Completions only, by default.

Errors: `{"error": {"message", "type": "BadRequestError", "param", "code": 400}}` (older versions: the
same fields flat, with `"object": "error"`). A prompt longer than the model's window is a 400 whose
message names the "maximum context length". Usage: OpenAI's counts; `prompt_tokens_details` only with
`--enable-prompt-tokens-details`, no reasoning details without a reasoning parser (the generic reader
counts missing details as zero). Streams: OpenAI's chunks and usage chunk.
"""

from __future__ import annotations

from typing import Any

from metering import usage as _usage
from router.dialects.common import ask_as_engines_do, coerce_error

name = "vllm"
serves_responses = False  # a tier whose vLLM serves /v1/responses opts in with `responses: true`


def overflow(status: int, err: dict[str, Any], message: str) -> str | None:
    """vLLM's "This model's maximum context length is N tokens. However, you requested M tokens ..."."""
    return message if status == 400 and "maximum context length" in message else None


def normalise_error(status: int, raw: bytes) -> bytes:
    return coerce_error(status, raw, overflow)


usage_from = _usage.usage_from
adjust_request = ask_as_engines_do
