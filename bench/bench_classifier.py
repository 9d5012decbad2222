"""Classify latency by request size, both labels, both APIs (targets: p99 ≤ 50 µs up to 8 KB, ≤ 200 µs at 64 KB).

Run: .venv/bin/python bench/bench_classifier.py [--repeats 2000] [--warmup 200] [--sizes 256,1024,...]
Prints p50 / p99 per case and size, the worst p99 per size and µs per KB (linearity).
The machine may be shared: run it on a quiet one, and quote figures with their date.
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from classifier import classify

FILLER = (
    "The quarterly report shows revenue growth in every region, with churn down and support tickets "
    "resolved faster than last year. "
)
ACCENTED = (
    "Le rapport trimestriel montre une croissance du chiffre d'affaires dans chaque région — le churn baisse, "
    "et les tickets sont résolus plus vite qu'en 2025 (≈ 12 % de mieux). "
)
LISTING = "-rw-r--r--  1 root root  4096 Nov 23 00:08 report.csv\n"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"tool_{i}",
            "description": FILLER[:80],
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    for i in range(20)
]


def sized(text: str, size: int) -> str:
    return (text * (size // len(text) + 1))[:size]


def cases(size: int) -> dict[str, tuple[dict, str]]:
    long_text = sized(FILLER, size)
    react = (
        "Answer the question. You have access to the following tools:\nsearch: web search\n"
        "Use the following format:\nThought: ...\nAction: search\nAction Input: ...\nObservation: ...\n"
    )
    return {
        "chat single_turn": (
            {
                "model": "auto",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": long_text}],
            },
            "chat",
        ),
        # A pasted document in lines: a user's own task with line structure is read for plans and ledgers.
        "chat lines single_turn": (
            {
                "model": "auto",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": long_text.replace(". ", ".\n")},
                ],
            },
            "chat",
        ),
        "chat multi-turn": (
            {
                "model": "auto",
                "messages": [
                    {"role": "user" if i % 2 == 0 else "assistant", "content": long_text[: size // 20]}
                    for i in range(20)
                ],
            },
            "chat",
        ),
        "chat tools": ({"model": "auto", "messages": [{"role": "user", "content": long_text}], "tools": TOOLS}, "chat"),
        "chat react": (
            {
                "model": "auto",
                "messages": [
                    {"role": "system", "content": react + long_text},
                    {"role": "user", "content": "Question: how many?"},
                ],
            },
            "chat",
        ),
        # An IDE agent: XML tool tags defined deep in a long system prompt (read whole, not a head).
        "chat ide agent, tags deep": (
            {
                "model": "auto",
                "messages": [
                    {
                        "role": "system",
                        "content": "You are a coding assistant in the editor.\n"
                        + sized(FILLER, max(0, size - 300))
                        + "\nTools are XML tags:\n<read_file>\n<path>src/app.py</path>\n</read_file>\n",
                    },
                    {"role": "user", "content": "<task>Fix the bug</task>"},
                ],
            },
            "chat",
        ),
        "chat rag, quoted react": (
            {
                "model": "auto",
                "messages": [
                    {"role": "system", "content": "Answer from the context.\n\nContext:\n" + react + long_text},
                    {"role": "user", "content": "What does Observation mean?"},
                ],
            },
            "chat",
        ),
        # A long RAG-style system prompt is the costly case: instructions are read for a protocol definition.
        "chat long system prompt": (
            {
                "model": "auto",
                "messages": [{"role": "system", "content": long_text}, {"role": "user", "content": "Summarise."}],
            },
            "chat",
        ),
        "chat long system non-ascii": (
            {
                "model": "auto",
                "messages": [
                    {"role": "system", "content": sized(ACCENTED, size)},
                    {"role": "user", "content": "Résume le document, s'il te plaît."},
                ],
            },
            "chat",
        ),
        "chat text loop running": (
            {
                "model": "auto",
                "messages": [
                    {"role": "user", "content": long_text[: size // 2]},
                    {"role": "assistant", "content": "```bash\nls -la\n```"},
                    {"role": "user", "content": sized(LISTING, size // 2)},
                ],
            },
            "chat",
        ),
        "responses single_turn": ({"model": "auto", "instructions": "Be brief.", "input": long_text}, "responses"),
        "responses tool history": (
            {
                "model": "auto",
                "input": [
                    {"role": "user", "content": long_text},
                    {"type": "function_call", "call_id": "c", "name": "tool_1", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c", "output": "ok"},
                ],
            },
            "responses",
        ),
    }


def percentile(samples: list[float], q: float) -> float:
    return samples[max(0, int(len(samples) * q) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--sizes", default="256,1024,4096,8192,16384,32768,65536", help="text sizes in bytes")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per case first")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    # Wall time is what a request waits; thread CPU time leaves out the time this thread was not
    # running (another process on a shared machine): on a quiet machine the two agree.
    print(f"{'case':<28} {'size':>8} {'label':<12} {'p50 µs':>8} {'p99 µs':>8} {'cpu p50':>8} {'cpu p99':>8}")
    worst: dict[int, list[float]] = {}
    for size in sizes:
        for name, (body, api) in cases(size).items():
            for _ in range(args.warmup):
                classify(body, api=api)
            wall, cpu = [], []
            for _ in range(args.repeats):
                start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                decision = classify(body, api=api)
                cpu.append((time.thread_time_ns() - start_cpu) / 1000)
                wall.append((time.perf_counter_ns() - start) / 1000)
            wall.sort()
            cpu.sort()
            cell = worst.setdefault(size, [0.0, 0.0])
            cell[0] = max(cell[0], percentile(wall, 0.99))
            cell[1] = max(cell[1], percentile(cpu, 0.99))
            print(
                f"{name:<28} {len(orjson.dumps(body)):>8} {decision.label:<12} {statistics.median(wall):>8.1f} "
                f"{percentile(wall, 0.99):>8.1f} {statistics.median(cpu):>8.1f} {percentile(cpu, 0.99):>8.1f}"
            )
    print("worst p99 by size (targets: ≤ 50 µs up to 8 KB, ≤ 200 µs at 64 KB)")
    for size, (wall_p99, cpu_p99) in worst.items():
        print(
            f"  {size:>6} B  wall {wall_p99:8.1f} µs   cpu {cpu_p99:8.1f} µs   {cpu_p99 / (size / 1024):6.2f} cpu µs/KB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
