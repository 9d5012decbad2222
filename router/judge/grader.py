"""What the judge asks its tier, and how its answer becomes a grade.

One Chat Completions call: the configured prompt as the system message, the final exchange as the user
message, and a small output limit (room for a reasoning model's thinking, then one word). The answer is a
grade only when it says exactly one of SUCCESS and FAILURE (whatever the case, a `<think>` block aside);
anything else is no grade — never a success by default.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.judge.exchange import FinalExchange

MAX_OUTPUT_TOKENS = 256
_REASONING_MODELS = ("gpt-5", "o1", "o3", "o4")  # they think inside the output limit: ask them to think little
_WORD = re.compile(r"\b(SUCCESS|FAILURE)\b", re.IGNORECASE)
_THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
REASON_CHARS = 200


def judge_body(model: str, prompt: str, exchange: FinalExchange, dialect: str) -> dict[str, Any]:
    """The request the judge's tier is sent (before its dialect adds what it must be asked for)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": exchange.render()}],
        "stream": False,
    }
    if dialect == "openai":  # OpenAI's reasoning models take only `max_completion_tokens`
        body["max_completion_tokens"] = MAX_OUTPUT_TOKENS
        if model.startswith(_REASONING_MODELS):
            body["reasoning_effort"] = "low"
    else:  # the self-hosted engines all take `max_tokens`
        body["max_tokens"] = MAX_OUTPUT_TOKENS
    return body


def answer_of(raw: bytes) -> str:
    """The text of a chat answer (empty when it has none)."""
    try:
        parsed = orjson.loads(raw)
        content = parsed["choices"][0]["message"].get("content")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


def grade_of(text: str) -> bool | None:
    """True for SUCCESS, False for FAILURE, None when the answer says neither or both."""
    words = {match.upper() for match in _WORD.findall(_THINKING.sub("", text))}
    if len(words) != 1:
        return None
    return words.pop() == "SUCCESS"


def reason_of(tier: str, text: str) -> str:
    """The reason the task record carries with the judge's grade: who graded, and what it said."""
    said = " ".join(_THINKING.sub("", text).split())
    return f"judge {tier}: {said}"[:REASON_CHARS]
