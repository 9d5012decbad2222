"""The relay's per-event work on a stream's events, and what one open stream's StreamState holds (issue 33).

Every event a routetax stream relays goes through `EventSplitter.feed` and `filter_events` (router/sse.py);
every `COMPACT_EVERY` of them are folded into their text (`StreamState.fold`). At 1,000 streams that work was
a third of the proxy's samples (py-spy), so this measures it in process, where neighbours on a shared machine
move it little: CPU time (`time.process_time`, the best of `--repeat` runs) per event over `--events` events
of four shapes, each fed as the upstream tap hands them on (one read, one event):

- `bench`: bench/stream_upstream.py's token event (what bench/streams.py relays), with a task (answer kept);
- `openai`: an OpenAI chat chunk as the API sends it with `include_usage` (`"usage":null`, `obfuscation`);
- `tools`: OpenAI tool-call argument chunks on a request that declared tools (`keep_calls`);
- `responses`: Responses API `response.output_text.delta` events (an `event:` line, then the data line).

Then the bytes a StreamState holds (`sys.getsizeof`, each object once) at `--hold` events of the `bench`
shape, the length of a bench/streams.py stream (12-15 s at 20-50 ms): the kept events, the folded text, the
task's answer text.

Instructions per event, which a shared machine does not move: run one shape under callgrind twice, relaying N
and then 2N of the same 2N events, and divide the difference by N (`--shape S --relay N`, see docs/performance.md).

Run: PYTHONPATH=. .venv/bin/python bench/fold_cpu.py [--events 200000] [--repeat 5] [--hold 400]
     [--shape bench --events 40000 --relay 20000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable

from router.sse import EventSplitter, StreamState, filter_events

BENCH_PREFIX = b'data: {"id":"chatcmpl-streams","object":"chat.completion.chunk","created":0,"model":"gpt-5.4-nano",'
OPENAI_PREFIX = (
    b'data: {"id":"chatcmpl-CkYv2bN7dpAhVq4o3G","object":"chat.completion.chunk","created":1765100000,'
    b'"model":"gpt-4.1-mini-2025-04-14","service_tier":"default","system_fingerprint":"fp_4c2851f862",'
)


def bench_event(i: int) -> bytes:
    return BENCH_PREFIX + b'"choices":[{"index":0,"delta":{"content":" @%.6f"},"finish_reason":null}]}\n\n' % (
        63000 + i / 1000
    )


def openai_event(i: int) -> bytes:
    return OPENAI_PREFIX + (
        b'"choices":[{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}],'
        b'"usage":null,"obfuscation":"q7Xk2"}\n\n' % (i % 1000)
    )


def tools_event(i: int) -> bytes:
    return OPENAI_PREFIX + (
        b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"k%d\\": "}}]},'
        b'"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Zp"}\n\n' % (i % 1000)
    )


def responses_event(i: int) -> bytes:
    return (
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_68a1f2c3d4e5",'
        b'"output_index":0,"content_index":0,"delta":" word%d","logprobs":[],"obfuscation":"Yh3"}\n\n' % (i, i % 1000)
    )


SHAPES: dict[str, tuple[Callable[[int], bytes], bool, bool]] = {  # shape: (event, a task keeps the answer, tools)
    "bench": (bench_event, True, False),
    "openai": (openai_event, True, False),
    "tools": (tools_event, True, True),
    "responses": (responses_event, False, False),
}


def new_state(answer: bool, tools: bool) -> StreamState:
    state = StreamState(compact=True, keep_calls=tools)
    if answer:
        state.answer_text = []
    return state


def relay(events: list[bytes], answer: bool, tools: bool) -> StreamState:
    """What `_Passing.body` does with each read: split, filter (and fold)."""
    state = new_state(answer, tools)
    feed = EventSplitter().feed
    for event in events:
        filter_events(feed(event), state, False)
    return state


def cpu_per_event(shape: str, count: int, repeat: int) -> tuple[float, str]:
    make, answer, tools = SHAPES[shape]
    events = [make(i) for i in range(count)]
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        state = relay(events, answer, tools)
        best = min(best, time.process_time() - t0)
    return best / count * 1e6, state.text()


def held_bytes(count: int) -> dict[str, int]:
    """Bytes a StreamState holds after `count` bench events, by field (each object counted once: an answer
    string that is the folded text itself costs only its list slot)."""
    state = relay([bench_event(i) for i in range(count)], True, False)
    seen: set[int] = set()

    def size(value: object) -> int:
        if id(value) in seen:
            return 0
        seen.add(id(value))
        if isinstance(value, list):
            return sys.getsizeof(value) + sum(size(v) for v in value)
        return sys.getsizeof(value)

    held = {"events": size(state.events), "folded": size(state.folded), "answer_text": size(state.answer_text)}
    return {**held, "total": sum(held.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--hold", type=int, default=400)
    ap.add_argument("--shape", choices=SHAPES, help="only relay `--relay` of `--events` events of this shape, once")
    ap.add_argument("--relay", type=int, default=0)
    args = ap.parse_args()
    if args.shape:
        make, answer, tools = SHAPES[args.shape]
        relay([make(i) for i in range(args.events)][: args.relay], answer, tools)
        return
    for shape in SHAPES:
        us, text = cpu_per_event(shape, args.events, args.repeat)
        print(f"{shape:10} {us:6.3f} us/event  (text {len(text)} chars)")
    held = held_bytes(args.hold)
    print(f"StreamState after {args.hold} bench events: {held}")


if __name__ == "__main__":
    main()
