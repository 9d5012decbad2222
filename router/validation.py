"""Request checks done before routing: a clear 400 in OpenAI's format instead of a surprise later.

Only what routing needs or what a client commonly gets wrong is checked here (types and
ranges of the fields the router reads or that upstreams reject); everything else is the
upstream's to validate, and unknown fields pass through untouched.
"""

from __future__ import annotations

from typing import Any

from router.errors import ProxyError, Refusal

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _invalid(param: str, message: str, refusal: Refusal = Refusal.INVALID_TYPE) -> ProxyError:
    return ProxyError(refusal, message, param=param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_model(body: dict[str, Any]) -> None:
    if "model" not in body:
        raise _invalid("model", "you must provide a model parameter", Refusal.MISSING_REQUIRED_PARAMETER)
    if not isinstance(body["model"], str) or not body["model"]:
        raise _invalid("model", "'model' must be a non-empty string.")


def _check_common(body: dict[str, Any], token_fields: tuple[str, ...]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "'stream' must be a boolean.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid("stream_options", "'stream_options' must be an object.")
    for name in token_fields:
        value = body.get(name)
        if value is not None and (not _is_int(value) or not 1 <= value <= 10_000_000):
            raise _invalid(name, f"'{name}' must be a positive integer.", Refusal.INVALID_VALUE)
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is not None and (not _is_number(value) or not low <= value <= high):
            raise _invalid(name, f"'{name}' must be a number between {low} and {high}.", Refusal.INVALID_VALUE)
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise _invalid("tools", "'tools' must be an array of tool objects.")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise _invalid("tool_choice", "'tool_choice' must be a string or an object.")


def validate_chat(body: dict[str, Any]) -> None:
    """A Chat Completions body the router can route."""
    _check_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "'messages' must be a non-empty array of message objects.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages[{index}]", f"'messages[{index}]' must be an object.")
        role = message.get("role")
        if not isinstance(role, str) or role not in CHAT_ROLES:
            raise _invalid(
                f"messages[{index}].role",
                f"'messages[{index}].role' must be one of {', '.join(sorted(CHAT_ROLES))}.",
                Refusal.INVALID_VALUE,
            )
    n = body.get("n")
    if n is not None and (not _is_int(n) or not 1 <= n <= 128):
        raise _invalid("n", "'n' must be an integer between 1 and 128.", Refusal.INVALID_VALUE)
    _check_common(body, ("max_tokens", "max_completion_tokens"))


def validate_responses(body: dict[str, Any]) -> None:
    """A Responses API body: a model and an input (unless it continues or uses a stored prompt)."""
    _check_model(body)
    value = body.get("input")
    if value is None and not any(body.get(k) for k in ("previous_response_id", "prompt", "conversation")):
        raise _invalid("input", "Missing required parameter: 'input'.", Refusal.MISSING_REQUIRED_PARAMETER)
    if value is not None and not isinstance(value, str | list):
        raise _invalid("input", "'input' must be a string or an array of input items.")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise _invalid("previous_response_id", "'previous_response_id' must be a string.")
    _check_common(body, ("max_output_tokens",))


def validate_embeddings(body: dict[str, Any]) -> None:
    """An embeddings body: a model, and an input of text or tokens (one or a list); no streaming."""
    _check_model(body)
    value = body.get("input")
    if value is None:
        raise _invalid("input", "Missing required parameter: 'input'.", Refusal.MISSING_REQUIRED_PARAMETER)
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        raise _invalid("input", "'input' must be a string, or a non-empty array of strings or token arrays.")
    if body.get("stream") is not None:
        raise _invalid("stream", "Embeddings are not streamed.", Refusal.INVALID_VALUE)
    dimensions = body.get("dimensions")
    if dimensions is not None and not (_is_int(dimensions) and dimensions > 0):
        raise _invalid("dimensions", "'dimensions' must be a positive integer.", Refusal.INVALID_VALUE)
