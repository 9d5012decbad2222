"""What the cost on the answer adds to each answer: `MeteringPipeline.quote` (the usage read, the price worked out)
and the header or comment made of it, on a small chat answer, on a 100 KB one, and on a stream's usage chunk —
beside a whole-answer parse, the way it was not done.

Each case runs 20,000 times after a warm-up; the best of five µs per call is printed (thread CPU time, so a
neighbour's load moves it less than wall time would).

Run: .venv/bin/python bench/answer_cost.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from metering.completion import Completion
from metering.pipeline import MeteringPipeline, MeteringSettings
from metering.prices import price_for
from metering.record import Attempt, Record
from router.serving.relay import with_cost
from router.sse import DONE, StreamState

USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 80,
    "total_tokens": 1280,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0},
}


def chat_answer(content: str) -> bytes:
    message = {"role": "assistant", "content": content, "refusal": None}
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-5.4-mini",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": USAGE,
            "service_tier": "default",
            "system_fingerprint": "fp",
        }
    )


def best_us(call: Callable[[], object], n: int = 20_000) -> float:
    for _ in range(2_000):
        call()
    runs = []
    for _ in range(5):
        start = time.thread_time()
        for _ in range(n):
            call()
        runs.append((time.thread_time() - start) / n * 1e6)
    return min(runs)


def main() -> None:
    pipeline = MeteringPipeline(MeteringSettings(prices={"mini": price_for("gpt-5.4-mini")}))
    record = Record(request_id="r", attempts=[Attempt(tier="mini", model="gpt-5.4-mini")])
    small, large = chat_answer("Hello there, how can I help?"), chat_answer("word " * 20_000)
    stream = StreamState(usage_chunk={"choices": [], "usage": USAGE})
    usage_event = b'data: {"choices":[],"usage":{}}\n\n' + DONE

    def json_case(body: bytes) -> Callable[[], object]:
        completion = Completion(request={}, bodies=[body], streams=[None])
        return lambda: f"{pipeline.quote(record, completion):.10f}"

    stream_completion = Completion(request={}, bodies=[None], streams=[stream])
    cases = {
        f"JSON answer, {len(small):,} B: quote + header": json_case(small),
        f"JSON answer, {len(large):,} B: quote + header": json_case(large),
        "stream: quote + comment": lambda: with_cost(usage_event, pipeline.quote(record, stream_completion)),
        f"(not done) orjson.loads of the {len(small):,} B answer": lambda: orjson.loads(small),
        f"(not done) orjson.loads of the {len(large):,} B answer": lambda: orjson.loads(large),
    }
    for name, call in cases.items():
        print(f"{best_us(call):7.2f} µs  {name}")


if __name__ == "__main__":
    main()
