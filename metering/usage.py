"""Token usage out of whatever the upstream sent: Chat JSON, the SSE usage chunk, Responses shapes.

Pure and forgiving: missing or null fields count as zero, vLLM and Ollama shapes (no
details; Ollama's native `prompt_eval_count` / `eval_count`) are understood, and anything
without usage gives None so the caller can estimate and mark the record.
"""

from __future__ import annotations

from typing import Any

import orjson

from metering.record import Usage


def _int(value: Any) -> int:
    # `type(...) is int` keeps bools (and other int subclasses) out in one test: this runs per request.
    return value if type(value) is int and value >= 0 else 0


def _details(usage: dict[str, Any], key: str, field: str) -> int:
    details = usage.get(key)
    return _int(details.get(field)) if type(details) is dict else 0


_COUNTS = ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens")
_DETAILS = (
    ("prompt_tokens_details", "cached_tokens"),
    ("completion_tokens_details", "reasoning_tokens"),
    ("input_tokens_details", "cached_tokens"),
    ("output_tokens_details", "reasoning_tokens"),
)


def usage_problem(data: Any, usage: Usage, max_prompt: int, max_completion: int) -> str | None:
    """Why the usage an upstream reported cannot be believed, or None.

    `usage_from` reads garbage counts as 0 (it never raises); this says they were garbage, and
    catches counts no request can have (beyond the model's window or output limit) before they
    become dollars, budgets and counters that can never be taken back.
    """
    raw = data.get("response", data) if isinstance(data, dict) else None
    raw = raw.get("usage") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        # A count that is there must be a non-negative int (bools are not). Written out, not a helper per value
        # nor any() over a generator: this runs per request, on the request path (the cost on the answer).
        for name in _COUNTS:
            value = raw.get(name)
            if value is not None and not (type(value) is int and value >= 0):
                return "invalid_count"
        for parent, name in _DETAILS:
            details = raw.get(parent)
            if type(details) is dict:
                value = details.get(name)
                if value is not None and not (type(value) is int and value >= 0):
                    return "invalid_count"
    if usage.prompt_tokens > max_prompt:
        return "prompt_over_limit"
    if usage.completion_tokens > max_completion:
        return "completion_over_limit"
    if usage.cached_tokens > usage.prompt_tokens or usage.reasoning_tokens > usage.completion_tokens:
        return "impossible"
    return None


def usage_from(data: Any) -> Usage | None:
    """Usage from a Chat Completions answer or usage chunk, a Responses object or event, or Ollama's native reply."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("response"), dict):  # a Responses event: response.completed / incomplete / failed
        data = data["response"]
    usage = data.get("usage")
    service_tier = data.get("service_tier")
    if type(service_tier) is not str:
        service_tier = None
    if isinstance(usage, dict):
        if "input_tokens" in usage or "output_tokens" in usage:
            return Usage(
                prompt_tokens=_int(usage.get("input_tokens")),
                cached_tokens=_details(usage, "input_tokens_details", "cached_tokens"),
                completion_tokens=_int(usage.get("output_tokens")),
                reasoning_tokens=_details(usage, "output_tokens_details", "reasoning_tokens"),
                service_tier=service_tier,
            )
        return Usage(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            cached_tokens=_details(usage, "prompt_tokens_details", "cached_tokens"),
            completion_tokens=_int(usage.get("completion_tokens")),
            reasoning_tokens=_details(usage, "completion_tokens_details", "reasoning_tokens"),
            service_tier=service_tier,
        )
    if "prompt_eval_count" in data or "eval_count" in data:  # Ollama's native API
        return Usage(prompt_tokens=_int(data.get("prompt_eval_count")), completion_tokens=_int(data.get("eval_count")))
    return None


WHOLE_ANSWER_BYTES = 4096  # answers up to this are parsed whole for their usage: as fast as cutting it out


def _value_end(body: bytes, start: int) -> int:
    """Where the JSON object opening at `start` ends (one past its `}`), or -1: counts braces between closes."""
    depth, pos = 0, start
    while True:
        close = body.find(b"}", pos)
        if close < 0:
            return -1
        depth += body.count(b"{", pos, close) - 1
        pos = close + 1
        if depth <= 0:
            return pos


def _after_key(body: bytes, key: bytes) -> int:
    """Where the value of the last `key` in `body` starts (past the colon and blanks), or -1."""
    at = body.rfind(key)
    if at < 0:
        return -1
    colon = at + len(key)
    while colon < len(body) and body[colon] in b" \t\r\n":
        colon += 1
    if colon >= len(body) or body[colon] != 0x3A:  # ':' — else the name was a value, not a key
        return -1
    start = colon + 1
    while start < len(body) and body[start] in b" \t\r\n":
        start += 1
    return start


def answer_usage(body: bytes) -> dict[str, Any] | None:
    """The `usage` object and `service_tier` of a JSON answer, cut out of its bytes without parsing the answer.

    For the cost on the answer (`x-routetax-cost-usd`), priced before the answer leaves: parsing a whole answer
    costs about 0.3 µs per kilobyte, and answers can be hundreds of kilobytes; cutting out the usage costs ~2 µs
    at any size. So an answer up to WHOLE_ANSWER_BYTES is parsed whole (as metering will parse it), a larger one
    cut: its usage read from its last `"usage"` key (OpenAI's answers put it last; a key inside a string is
    escaped, `\\"usage\\"`, so it is never found there). What is returned has an answer's shape, so a dialect's
    `usage_from` reads it; None when a large answer has no usage object, or is not JSON: the caller then says
    nothing rather than guess (the ledger estimates it later, and marks it).
    """
    if len(body) <= WHOLE_ANSWER_BYTES:
        try:
            whole = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return whole if isinstance(whole, dict) else None
    start = _after_key(body, b'"usage"')
    if start < 0 or start >= len(body) or body[start] != 0x7B:  # '{'
        return None
    end = _value_end(body, start)
    if end < 0:
        return None
    try:
        usage = orjson.loads(body[start:end])
    except orjson.JSONDecodeError:
        return None
    answer: dict[str, Any] = {"usage": usage}
    tier_at = _after_key(body, b'"service_tier"')
    if tier_at >= 0 and body.startswith(b'"', tier_at):
        close = body.find(b'"', tier_at + 1)
        if close > 0:
            answer["service_tier"] = body[tier_at + 1 : close].decode("utf-8", "replace")
    return answer
