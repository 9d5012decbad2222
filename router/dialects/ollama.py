"""Ollama's OpenAI-compatible endpoints (`/v1/chat/completions`): Chat Completions only, by default.

Errors: a bare string, `{"error": "model 'x' not found"}`. An over-long prompt is shortened by default
(answered 200); Ollama runs llama.cpp's engine, so llama.cpp's `exceed_context_size_error` object is
recognised as an overflow, as before this module existed. (Newer versions can refuse instead, with
llama.cpp's error serialised inside the bare string, seen on the native `/api/chat` in
ollama/ollama#16800: not recognised yet.)

Usage: OpenAI's counts without details. Ollama's native `/api/chat` reports `prompt_eval_count` /
`eval_count` instead; routetax never calls it, and the generic reader in `metering.usage` reads those
counts for the audit, which reads logs of unknown origin. Streams: OpenAI's chunks and usage chunk.
"""

from __future__ import annotations

from metering import usage as _usage
from router.dialects import llamacpp
from router.dialects.common import ask_as_engines_do, coerce_error

name = "ollama"
serves_responses = False


def normalise_error(status: int, raw: bytes) -> bytes:
    return coerce_error(status, raw, llamacpp.overflow)


usage_from = _usage.usage_from
adjust_request = ask_as_engines_do
