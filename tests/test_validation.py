"""What a client with a malformed body is told, before any routing: OpenAI's 400, the right `code` and `param`."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.errors import ProxyError, Refusal
from router.validation import validate_chat, validate_responses

HELLO = [{"role": "user", "content": "hi"}]


def refusal_of(validate: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, error object) the client would be answered for `body`."""
    with pytest.raises(ProxyError) as caught:
        validate(body)
    return caught.value.status, orjson.loads(caught.value.body())["error"]


def test_a_well_formed_chat_body_passes_with_its_unknown_fields() -> None:
    validate_chat(
        {
            "model": "auto",
            "messages": [{"role": "system", "content": "x"}, *HELLO, {"role": "tool", "content": "4"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 10,
            "temperature": 2,
            "top_p": 0.5,
            "n": 3,
            "tools": [{"type": "function"}],
            "tool_choice": "auto",
            "x_vendor_field": {"kept": True},
        }
    )


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": HELLO}, "missing_required_parameter", "model"),
        ({"model": "", "messages": HELLO}, "invalid_type", "model"),
        ({"model": ["auto"], "messages": HELLO}, "invalid_type", "model"),
        ({"model": "auto"}, "invalid_type", "messages"),
        ({"model": "auto", "messages": []}, "invalid_type", "messages"),
        ({"model": "auto", "messages": {"role": "user"}}, "invalid_type", "messages"),
        ({"model": "auto", "messages": [*HELLO, "hi"]}, "invalid_type", "messages[1]"),
        ({"model": "auto", "messages": HELLO, "n": 0}, "invalid_value", "n"),
        ({"model": "auto", "messages": HELLO, "n": "2"}, "invalid_value", "n"),
        ({"model": "auto", "messages": HELLO, "n": True}, "invalid_value", "n"),
        ({"model": "auto", "messages": HELLO, "stream": "true"}, "invalid_type", "stream"),
        ({"model": "auto", "messages": HELLO, "stream_options": []}, "invalid_type", "stream_options"),
        ({"model": "auto", "messages": HELLO, "max_tokens": 0}, "invalid_value", "max_tokens"),
        ({"model": "auto", "messages": HELLO, "max_completion_tokens": 1.5}, "invalid_value", "max_completion_tokens"),
        ({"model": "auto", "messages": HELLO, "max_tokens": 10_000_001}, "invalid_value", "max_tokens"),
        ({"model": "auto", "messages": HELLO, "temperature": 2.5}, "invalid_value", "temperature"),
        ({"model": "auto", "messages": HELLO, "temperature": False}, "invalid_value", "temperature"),
        ({"model": "auto", "messages": HELLO, "top_p": -0.1}, "invalid_value", "top_p"),
        ({"model": "auto", "messages": HELLO, "tools": {"type": "function"}}, "invalid_type", "tools"),
        ({"model": "auto", "messages": HELLO, "tools": ["search"]}, "invalid_type", "tools"),
        ({"model": "auto", "messages": HELLO, "tool_choice": 1}, "invalid_type", "tool_choice"),
    ],
)
def test_a_bad_chat_body_is_a_400_naming_the_parameter(body: dict[str, Any], code: str, param: str) -> None:
    status, error = refusal_of(validate_chat, body)
    assert (status, error["type"], error["code"], error["param"]) == (400, "invalid_request_error", code, param)
    assert param.split("[")[0] in error["message"]


@pytest.mark.parametrize("role", ["wizard", None, 7])
def test_an_unknown_message_role_is_a_400_listing_the_roles(role: object) -> None:
    """It was a 500: the refusal was a bare string where a Refusal belongs, so answering it failed."""
    status, error = refusal_of(validate_chat, {"model": "auto", "messages": [*HELLO, {"role": role}]})
    assert (status, error["code"], error["param"]) == (400, Refusal.INVALID_VALUE.code, "messages[1].role")
    assert "assistant, developer, function, system, tool, user" in error["message"]


def test_a_responses_body_needs_an_input_unless_it_continues_or_names_a_prompt() -> None:
    status, error = refusal_of(validate_responses, {"model": "auto"})
    assert (status, error["code"], error["param"]) == (400, "missing_required_parameter", "input")
    for body in (
        {"model": "auto", "input": "hi"},
        {"model": "auto", "input": [{"role": "user", "content": "hi"}]},
        {"model": "auto", "previous_response_id": "resp_1"},
        {"model": "auto", "prompt": {"id": "pmpt_1"}},
        {"model": "auto", "conversation": "conv_1"},
    ):
        validate_responses(body)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"input": "hi"}, "missing_required_parameter", "model"),
        ({"model": "auto", "input": 3}, "invalid_type", "input"),
        ({"model": "auto", "input": "hi", "previous_response_id": 1}, "invalid_type", "previous_response_id"),
        ({"model": "auto", "input": "hi", "max_output_tokens": -1}, "invalid_value", "max_output_tokens"),
        ({"model": "auto", "input": "hi", "stream": 1}, "invalid_type", "stream"),
    ],
)
def test_a_bad_responses_body_is_a_400_naming_the_parameter(body: dict[str, Any], code: str, param: str) -> None:
    status, error = refusal_of(validate_responses, body)
    assert (status, error["code"], error["param"]) == (400, code, param)


def test_chat_token_limits_are_not_the_responses_ones() -> None:
    """Each API checks its own limit field; the other API's field is an unknown field and passes through."""
    validate_chat({"model": "auto", "messages": HELLO, "max_output_tokens": "ignored"})
    validate_responses({"model": "auto", "input": "hi", "max_tokens": "ignored"})
