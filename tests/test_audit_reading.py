"""The audit's fast per-line readers give exactly what their plain definitions give.

`routetax audit` reads tens of thousands of lines a second, so the seed's grep and the logged
usage are read by hand-unrolled code (metering/audit/formats.py). A user comparing the audit's
grep share with `grep -c` on the same file, or its token totals with what the proxy meters for
the same answers (`metering.usage.usage_from`), must see the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from metering.audit.formats import _usage, grep_hit
from metering.usage import usage_from

GREP_LINES = [
    b'{"type":"tool_use","id":"x"}',
    b'{"function_call":{"name":"f"}}',
    b"tool_use",
    b"xx function_call",
    b"tool_us function_cal",  # neither word whole
    b"TOOL_USE FUNCTION_CALL",  # grep is case-sensitive
    b'{"type":"tool\\u005fuse"}',  # escaped in JSON: grep does not see it either
    b"tool_tool_use",
    b"functionfunction_call",
    b"\xff\xfe not utf-8 tool_use",
    b"a" * 100_000 + b"function_call",
    b"a" * 100_000,
    b"",
]


@pytest.mark.parametrize("line", GREP_LINES, ids=range(len(GREP_LINES)))
def test_grep_hit_is_the_seeds_grep(line: bytes) -> None:
    assert grep_hit(line) == (b"tool_use" in line or b"function_call" in line)


class SubDict(dict):  # a dict that is not exactly `dict`: the fast path leaves it to usage_from
    pass


ANSWERS: list[dict[str, Any]] = [
    {"usage": {"prompt_tokens": 100, "completion_tokens": 20}},
    {"usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 40}}},
    {"usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": None}},
    {"usage": {"prompt_tokens": 10, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 40}}},
    {"usage": {"prompt_tokens": 100, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 9}}},
    {"usage": {"prompt_tokens": -1, "completion_tokens": True, "prompt_tokens_details": {"cached_tokens": "3"}}},
    {"usage": {"prompt_tokens": 7.0, "completion_tokens": None}, "service_tier": "flex"},
    {"usage": {"input_tokens": 50, "output_tokens": 20, "input_tokens_details": {"cached_tokens": 10}}},
    {"usage": {"output_tokens": 3, "prompt_tokens": 9, "output_tokens_details": {"reasoning_tokens": 1}}},
    {"usage": {}, "service_tier": 5},
    {"response": {"usage": {"input_tokens": 5, "output_tokens": 2}, "service_tier": "priority"}},
    {"response": {"status": "failed"}, "usage": {"prompt_tokens": 5}},
    {"response": SubDict(usage={"input_tokens": 5, "output_tokens": 2})},
    {"usage": SubDict(prompt_tokens=5, completion_tokens=1)},
    {"usage": "none", "prompt_eval_count": 12, "eval_count": 4},
    {"prompt_eval_count": 12},
    {"model": "gpt-5.4-mini"},
]


@pytest.mark.parametrize("answer", ANSWERS, ids=range(len(ANSWERS)))
def test_audit_reads_logged_usage_as_the_proxy_meters_it(answer: dict[str, Any]) -> None:
    usage, cached_known = _usage(answer)
    expected = usage_from(answer)
    if expected is not None and (
        expected.cached_tokens > expected.prompt_tokens or expected.reasoning_tokens > expected.completion_tokens
    ):
        expected = None  # impossible counts: the audit estimates instead
    assert usage == expected
    inner = answer["response"] if isinstance(answer.get("response"), dict) else answer
    logged = inner.get("usage")
    assert cached_known == (
        expected is not None
        and type(logged) is dict
        and ("prompt_tokens_details" in logged or "input_tokens_details" in logged)
    )


def test_an_answer_whose_response_field_is_not_an_object_is_read_not_a_crash(tmp_path: Path) -> None:
    """`{"response": "text", "usage": {...}}` in a pair's answer: usage_from reads the top-level usage; the
    audit used to look for the cached-token details in the text and stop with AttributeError."""
    from metering.audit.scan import ScanOptions, scan
    from metering.audit.sources import Source

    log = tmp_path / "log.jsonl"
    request = {"messages": [{"role": "user", "content": "hi"}]}
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}
    lines = [{"request": request, "response": {"response": odd, "usage": usage}} for odd in ("text", None, 3)]
    log.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    tally = scan([Source(str(log))], ScanOptions())
    assert (tally.requests, tally.skipped_total) == (3, 0)
    bucket = tally.buckets[("single_turn", "standard")]
    assert (bucket.logged, bucket.prompt, bucket.cached, bucket.cached_known_cached) == (3, 27, 12, 12)
