"""Usage extraction from every shape upstreams send."""

from __future__ import annotations

import pytest

from metering.record import Usage
from metering.usage import usage_from, usage_problem


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "usage": {
                    "prompt_tokens": 1200,
                    "completion_tokens": 300,
                    "prompt_tokens_details": {"cached_tokens": 1024},
                    "completion_tokens_details": {"reasoning_tokens": 200},
                },
                "service_tier": "flex",
            },
            Usage(1200, 1024, 300, 200, service_tier="flex"),
        ),
        ({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}, Usage(9, 0, 4, 0)),  # SSE chunk, vLLM
        ({"usage": {"prompt_tokens": 9, "completion_tokens": 4, "prompt_tokens_details": None}}, Usage(9, 0, 4, 0)),
        (
            {
                "object": "response",
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 20,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 12},
                },
            },
            Usage(50, 0, 20, 12),
        ),
        (
            {"type": "response.completed", "response": {"usage": {"input_tokens": 7, "output_tokens": 3}}},
            Usage(7, 0, 3, 0),
        ),
        ({"model": "qwen3.5:9b", "prompt_eval_count": 26, "eval_count": 290}, Usage(26, 0, 290, 0)),  # Ollama native
    ],
)
def test_usage_shapes(data: dict, expected: Usage) -> None:
    assert usage_from(data) == expected


@pytest.mark.parametrize("data", [None, [], {}, {"usage": None}, {"choices": []}, {"response": {"usage": None}}])
def test_no_usage_is_none(data: object) -> None:
    assert usage_from(data) is None


def test_garbage_counts_are_zero_not_errors_and_flagged() -> None:
    data = {"usage": {"prompt_tokens": "12", "completion_tokens": -3}}
    assert usage_from(data) == Usage(0, 0, 0, 0)
    assert usage_problem(data, Usage(0, 0, 0, 0), 1000, 1000) == "invalid_count"
