"""Token usage out of whatever the upstream sent: Chat JSON, the SSE usage chunk, Responses shapes.

Pure and forgiving: missing or null fields count as zero, vLLM and Ollama shapes (no
details; Ollama's native `prompt_eval_count` / `eval_count`) are understood, and anything
without usage gives None so the caller can estimate and mark the record.
"""

from __future__ import annotations

from typing import Any

from metering.record import Usage


def _int(value: Any) -> int:
    # `type(...) is int` keeps bools (and other int subclasses) out in one test: this runs per request.
    return value if type(value) is int and value >= 0 else 0


def _details(usage: dict[str, Any], key: str, field: str) -> int:
    details = usage.get(key)
    return _int(details.get(field)) if type(details) is dict else 0


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
