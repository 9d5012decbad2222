"""OpenAI's API, and the default dialect: Chat Completions and Responses.

Errors already in OpenAI's shape pass through byte for byte. The default is also what a tier gets
when its `dialect:` is left out, and a self-hosted engine behind such a tier is a plausible
misconfiguration; so this dialect stays tolerant: any other body is coerced into OpenAI's shape, and
every known engine's context overflow is still recognised, so the tier still falls back by window.
"""

from __future__ import annotations

from typing import Any

from metering import usage as _usage
from router.dialects import llamacpp, vllm
from router.dialects.common import Overflow, ask_for_usage_chunk, coerce_error

name = "openai"
serves_responses = True

# OpenAI's own overflow already carries `context_length_exceeded` (and passes through untouched).
ENGINE_OVERFLOWS: tuple[Overflow, ...] = (llamacpp.overflow, vllm.overflow)


def _any_engine_overflow(status: int, err: dict[str, Any], message: str) -> str | None:
    for overflow in ENGINE_OVERFLOWS:
        recognised = overflow(status, err, message)
        if recognised is not None:
            return recognised
    return None


def normalise_error(status: int, raw: bytes) -> bytes:
    return coerce_error(status, raw, _any_engine_overflow)


usage_from = _usage.usage_from
adjust_request = ask_for_usage_chunk
