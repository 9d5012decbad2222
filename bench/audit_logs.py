"""Writes request logs in every format `routetax audit` reads, from the shipped labelled corpus.

For the audit's benchmark and for the sample log in examples/audit/. Deterministic for a
seed. Requests are drawn from classifier/data/routetax-corpus.jsonl with an agentic share
that moves linearly from --share-start to --share-end over --days; answers carry usage
(prompt tokens estimated as bytes / 4 here: generating must be fast, the audit does not
care where the numbers came from), some cached tokens, and tool calls for agentic requests.
`--pad-to` lengthens the system prompt to about that many bytes of request body, and
`--answer-bytes` makes text answers that long.

    python bench/audit_logs.py --format pairs --lines 2000 --days 14 --out examples/audit/sample-pairs.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

CORPUS = Path(__file__).resolve().parent.parent / "classifier" / "data" / "routetax-corpus.jsonl"
FORMATS = ("pairs", "bodies", "batch", "litellm")
START = 1_793_491_200  # 2026-11-01T00:00:00Z
ANSWER = (
    "The quarterly figures come from the finance warehouse (table revenue_daily); the totals below are summed "
    "per region and rounded to the nearest thousand. "
)
FILLER = (
    "You are the assistant of an internal platform team. Answer precisely, cite the document you used, keep answers "
    "short unless asked otherwise, and never invent figures. "
)


def corpus() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [orjson.loads(line) for line in CORPUS.read_bytes().splitlines() if line.strip()]
    return [r for r in rows if r["label"] == "agentic"], [r for r in rows if r["label"] == "single_turn"]


def _padded(request: dict[str, Any], api: str, pad_to: int, rng: random.Random) -> dict[str, Any]:
    body = dict(request)
    body["model"] = "gpt-5.4-mini"
    size = len(orjson.dumps(body))
    pad_to = rng.randint(pad_to // 2, pad_to * 3 // 2) if pad_to else 0  # prompts differ in length
    if pad_to <= size:
        return body
    text = (FILLER * (1 + (pad_to - size) // len(FILLER)))[: max(0, pad_to - size - 60)]
    if api == "responses":
        instructions = body.get("instructions")
        body["instructions"] = (instructions + "\n" if isinstance(instructions, str) else "") + text
    else:
        body["messages"] = [{"role": "system", "content": text}, *body.get("messages", [])]
    return body


def _usage(api: str, prompt: int, cached: int, completion: int, reasoning: int) -> dict[str, Any]:
    if api == "responses":
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _answer(
    rng: random.Random, api: str, body: dict[str, Any], agentic: bool, created: int, n: int, answer_bytes: int
) -> dict[str, Any]:
    prompt = max(1, len(orjson.dumps(body)) // 4)
    cached = (prompt // 128) * 128 if prompt >= 1024 and rng.random() < 0.5 else 0
    completion = rng.randint(60, 220) if agentic else rng.randint(120, 600)
    reasoning = completion // 3 if rng.random() < 0.3 else 0
    usage = _usage(api, prompt, cached, completion, reasoning)
    call = agentic and rng.random() < 0.7
    text = (ANSWER * (1 + answer_bytes // len(ANSWER)))[:answer_bytes] if answer_bytes else "Here is the answer."
    if api == "responses":
        item: dict[str, Any] = (
            {"type": "function_call", "call_id": f"call_{n}", "name": "lookup", "arguments": '{"q": "x"}'}
            if call
            else {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
        )
        return {
            "id": f"resp_{n:08d}",
            "object": "response",
            "created_at": created,
            "status": "completed",
            "model": "gpt-5.4-mini-2026-03-05",
            "output": [item],
            "service_tier": "default",
            "usage": usage,
        }
    message: dict[str, Any] = {"role": "assistant", "content": None if call else text}
    if call:
        message["tool_calls"] = [
            {"id": f"call_{n}", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
        ]
    return {
        "id": f"chatcmpl-{n:08d}",
        "object": "chat.completion",
        "created": created,
        "model": "gpt-5.4-mini-2026-03-05",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}],
        "service_tier": "default",
        "usage": usage,
    }


def requests(
    lines: int, days: int, share_start: float, share_end: float, pad_to: int, seed: int, answer_bytes: int = 0
) -> Iterator[tuple[int, str, dict[str, Any], dict[str, Any]]]:
    """(unix time, api, body, answer) for each request, in time order."""
    rng = random.Random(seed)
    agentic_rows, single_rows = corpus()
    span = days * 86_400
    for n in range(lines):
        offset = int(span * n / max(1, lines))
        share = share_start + (share_end - share_start) * (offset / span if span else 0)
        agentic = rng.random() < share
        row = rng.choice(agentic_rows if agentic else single_rows)
        api = row["api"]
        body = _padded(row["request"], api, pad_to, rng)
        created = START + offset + rng.randint(0, 59)
        yield created, api, body, _answer(rng, api, body, agentic, created, n, answer_bytes)


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")


LITELLM_ROW = CORPUS.parent.parent.parent / "examples" / "audit" / "litellm-spendlogs-row.json"


def litellm_row(n: int, ts: int, api: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """A LiteLLM_SpendLogs row as `row_to_json` gives it (the example row, prompts stored), for this request."""
    usage = answer["usage"]
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    cached = (usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    row = orjson.loads(LITELLM_ROW.read_bytes())
    row.update(
        request_id=answer["id"],
        call_type="acompletion" if api == "chat" else "aresponses",
        spend=round(((prompt - cached) * 0.75 + cached * 0.075 + completion * 4.5) / 1e6, 8),
        total_tokens=prompt + completion,
        prompt_tokens=prompt,
        completion_tokens=completion,
        startTime=_iso(ts),
        endTime=_iso(ts + 2),
        completionStartTime=_iso(ts + 1),
        response=answer,
        proxy_server_request=body,
        litellm_call_id=f"c0ffee-{n}",
    )
    row["metadata"]["usage_object"] = usage if api == "chat" else None
    row["metadata"]["additional_usage_values"] = {"cache_read_input_tokens": cached}
    return row


def write(fmt: str, out: Path, **kwargs: Any) -> list[Path]:
    """Write one log (two for `batch`: input and output); `.gz` names are gzipped."""
    if fmt == "batch":
        stem = out.name.removesuffix(".gz").removesuffix(".jsonl")
        inputs, outputs = out.with_name(f"{stem}-input.jsonl"), out.with_name(f"{stem}-output.jsonl")
        with _open(inputs) as fin, _open(outputs) as fout:
            for n, (_ts, api, body, answer) in enumerate(requests(**kwargs)):
                url = "/v1/chat/completions" if api == "chat" else "/v1/responses"
                custom_id = f"request-{n}"
                fin.write(orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}) + b"\n")
                response = {"status_code": 200, "request_id": f"req_{n:08d}", "body": answer}
                line = {"id": f"batch_req_{n:08d}", "custom_id": custom_id, "response": response, "error": None}
                fout.write(orjson.dumps(line) + b"\n")
        return [inputs, outputs]
    bad = kwargs.pop("bad_lines", False)
    with _open(out) as f:
        for n, (ts, api, body, answer) in enumerate(requests(**kwargs)):
            if fmt == "pairs":
                line = {"timestamp": _iso(ts) + "Z", "request": body, "response": answer}
                if bad and n == 10:  # what real logs hold too: a line cut short, and an error answer
                    f.write(orjson.dumps(line)[:300] + b"\n")
                    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}}
                    f.write(orjson.dumps({"timestamp": _iso(ts) + "Z", "request": body, "response": error}) + b"\n")
            elif fmt == "bodies":
                line = body
            else:
                line = litellm_row(n, ts, api, body, answer)
            f.write(orjson.dumps(line) + b"\n")
    return [out]


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")  # noqa: SIM115


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=FORMATS, default="pairs")
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--share-start", type=float, default=0.30)
    p.add_argument("--share-end", type=float, default=0.45)
    p.add_argument("--pad-to", type=int, default=0, help="lengthen system prompts to about this many bytes")
    p.add_argument("--answer-bytes", type=int, default=0, help="length of text answers (default: one sentence)")
    p.add_argument("--bad-lines", action="store_true", help="pairs: add a truncated line and an error answer")
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    paths = write(
        a.format,
        a.out,
        lines=a.lines,
        days=a.days,
        share_start=a.share_start,
        share_end=a.share_end,
        pad_to=a.pad_to,
        seed=a.seed,
        answer_bytes=a.answer_bytes,
        bad_lines=a.bad_lines,
    )
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
