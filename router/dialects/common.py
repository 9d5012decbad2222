"""What every dialect shares: OpenAI's error shape out of any body, and the usage chunk on streams.

Every upstream routetax speaks to serves OpenAI's protocol, and each strays from it in its own way.
This is the floor they all stand on: a client always gets OpenAI's error shape with the upstream's
status (even from an HTML page that a proxy in between sent), and the router always asks a stream for
the usage chunk it meters. What differs per dialect is passed in (`Overflow`) or lives in its module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from router.errors import OPENAI_ERROR_TYPES, error_body

CONTEXT_LENGTH_CODE = "context_length_exceeded"

Overflow = Callable[[int, dict[str, Any], str], str | None]
"""An engine's way of saying the prompt does not fit: (status, error object, message) -> the message the
client sees under OpenAI's `context_length_exceeded`, or None when the error is something else. With
OpenAI's code the router moves the request to a tier with a larger window instead of answering 400."""


def no_overflow(status: int, err: dict[str, Any], message: str) -> str | None:
    """For an engine with no overflow error of its own to recognise."""
    return None


def coerce_error(status: int, raw: bytes, overflow: Overflow) -> bytes:
    """Any upstream error body in OpenAI's shape, the upstream's status kept.

    A body already in OpenAI's shape passes through untouched (the client sees the upstream's bytes).
    Otherwise: `{"error": "message"}` (Ollama), an integer `code` or a non-OpenAI `type` (vLLM,
    llama.cpp), the flat `{"object": "error", "message", ...}` of older vLLM versions, or no JSON at
    all (a proxy's HTML page) all become `{"error": {"message", "type", "param", "code"}}`.
    """
    try:
        data: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        data = None
    err: Any = None
    if isinstance(data, dict):
        err = data.get("error", data if "message" in data else None)
    if isinstance(err, str):
        return error_body(err, status=status)
    if not isinstance(err, dict):
        text = raw[:500].decode("utf-8", "replace").strip() if raw else ""
        return error_body(text or f"upstream answered HTTP {status}", status=status)
    message = err.get("message")
    code = err.get("code")
    etype = err.get("type")
    param = err.get("param")
    if (
        isinstance(message, str)
        and (code is None or isinstance(code, str))
        and isinstance(etype, str)
        and data.get("error") is err
        and set(err) <= {"message", "type", "param", "code"}
    ):
        return raw  # already OpenAI's shape: the client sees the upstream's bytes
    message = message if isinstance(message, str) else f"upstream answered HTTP {status}"
    overflow_message = overflow(status, err, message)
    if overflow_message is not None:
        return error_body(overflow_message, status=status, code=CONTEXT_LENGTH_CODE, param="messages")
    return error_body(
        message,
        status=status,
        code=None if code is None or isinstance(code, int) else str(code),
        param=param if isinstance(param, str) else None,
        type_=etype if etype in OPENAI_ERROR_TYPES else None,
    )


def ask_for_usage_chunk(body: dict[str, Any], *, api: str, stream: bool) -> None:
    """A Chat Completions stream asks for the usage chunk (`stream_options.include_usage`), the client's
    other stream options kept: tokens come from the upstream, not from an estimate. (Responses streams
    always end with usage.) The proxy hides the chunk from a client that did not ask for it."""
    if stream and api == "chat":
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options


def ask_as_engines_do(body: dict[str, Any], *, api: str, stream: bool) -> None:
    """`ask_for_usage_chunk`, and a Chat Completions `max_completion_tokens` sent as `max_tokens`: the self-hosted
    engines (vLLM, Ollama, llama.cpp) all take `max_tokens`, not all of them OpenAI's newer name — and a key's
    default output cap (router/auth.py) is set under the newer name, which OpenAI's reasoning models require."""
    ask_for_usage_chunk(body, api=api, stream=stream)
    if api == "chat" and "max_completion_tokens" in body and "max_tokens" not in body:
        body["max_tokens"] = body.pop("max_completion_tokens")
