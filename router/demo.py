"""`routetax demo`: the product on embedded defaults, with nothing to set up.

It starts an emulated upstream and the proxy (in-process store, no Redis, no API key),
then drives a realistic workload through the official `openai` SDK — single-turn requests
and multi-step tool loops that feed tool results back — and prints what the router did
and what it cost. Everything printed is read from the router's own records.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from typing import Any

import orjson

from router.app import create_app
from router.config import Config, Tier, load_config
from router.emulator import build_emulator
from router.servers import RunningServer, start_in_thread

SINGLE_TURN_PROMPTS = (
    "Classify the sentiment of this review as positive, negative or neutral: 'The battery lasts two days.'",
    "Extract the invoice number and total from: 'Invoice INV-2291, total due EUR 412.50 by 3 March.'",
    "Rank these three titles by relevance to 'kubernetes autoscaling': A) HPA basics B) Baking bread C) KEDA.",
    "Translate to French: 'The meeting is moved to Thursday afternoon.'",
    "Summarise in one sentence: routing cheap requests to a small model saves money when it finishes them.",
    "Write a haiku about cache hits.",
)
AGENT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_orders",
            "description": "Search the order database.",
            "parameters": {
                "type": "object",
                "properties": {"customer_id": {"type": "string"}},
                "required": ["customer_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund_order",
            "description": "Refund one order.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
]
AGENT_TASKS = (
    "Customer C-1042 says order 7 arrived broken. Find it and refund it.",
    "Check the last order of customer C-77 and refund it if it is late.",
    "Look up customer C-9 and tell me how many orders are open.",
)


def demo_config(upstream_url: str, base: Config | None = None) -> Config:
    """The embedded world: every tier served by the emulator, an in-process store."""
    base = base or Config()
    tiers = {
        name: Tier(**{**tier.model_dump(), "base_url": f"{upstream_url}/v1", "api_key_env": None})
        for name, tier in base.tiers.items()
        if tier.dialect == "openai"
    }
    return Config.model_validate({**base.model_dump(), "tiers": tiers, "store": {"redis_url": None}})


def drive(base_url: str, requests: int, agentic_share: float, seed: int) -> list[dict[str, Any]]:
    """Send `requests` chat calls through the proxy with the openai SDK; return one row per call."""
    from openai import OpenAI

    rng = random.Random(seed)
    client = OpenAI(base_url=f"{base_url}/v1", api_key="demo-no-key-needed", max_retries=0)
    rows: list[dict[str, Any]] = []
    loop: list[dict[str, Any]] | None = None
    for i in range(requests):
        if rng.random() < agentic_share:
            if loop is None:
                loop = [
                    {"role": "system", "content": "You are a support agent. Use the tools to act."},
                    {"role": "user", "content": rng.choice(AGENT_TASKS)},
                ]
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=loop, tools=AGENT_TOOLS)
            answer = raw.parse()
            message = answer.choices[0].message
            if message.tool_calls:
                loop.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    result = {
                        "ok": True,
                        "order_id": "7",
                        "status": "refunded" if "refund" in call.function.name else "delivered",
                    }
                    loop.append({"role": "tool", "tool_call_id": call.id, "content": orjson.dumps(result).decode()})
            else:
                loop = None  # the task is finished; the next agentic request starts a new one
        else:
            stream = rng.random() < 0.3
            messages = [{"role": "user", "content": rng.choice(SINGLE_TURN_PROMPTS)}]
            if stream:
                raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages, stream=True)
                for _chunk in raw.parse():
                    pass
            else:
                raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        rows.append(
            {
                "i": i,
                "class": raw.headers.get("x-routetax-class"),
                "tier": raw.headers.get("x-routetax-tier"),
                "overhead_ms": float(raw.headers.get("x-routetax-overhead-ms", "0")),
            }
        )
    return rows


def summarise(records: list[Any]) -> dict[str, Any]:
    by: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in records:
        cell = by[(record.final_tier or "-", record.label)]
        cell["requests"] += 1
        usage = record.usage
        if usage is not None:
            cell["prompt_tokens"] += usage.prompt_tokens
            cell["cached_tokens"] += usage.cached_tokens
            cell["completion_tokens"] += usage.completion_tokens
        cell["cost_usd"] += record.cost_usd
    rows = [
        {"tier": tier, "class": label, **{k: round(v, 6) for k, v in cell.items()}}
        for (tier, label), cell in sorted(by.items())
    ]
    total = len(records)
    agentic = sum(1 for r in records if r.label == "agentic")
    overheads = sorted(r.proxy_overhead_ms for r in records) or [0.0]
    return {
        "requests": total,
        "agentic_share": round(agentic / total, 4) if total else 0.0,
        "by_tier_and_class": rows,
        "total_cost_usd": round(sum(r.cost_usd for r in records), 6),
        "proxy_overhead_ms_p50": round(overheads[len(overheads) // 2], 3),
    }


def run_demo(args: argparse.Namespace) -> int:
    base = load_config(args.config) if args.config else None
    upstream = start_in_thread(build_emulator(seed=args.seed), name="emulator")
    config = demo_config(upstream.url, base)
    app = create_app(config)
    proxy = start_in_thread(app, port=args.port, name="proxy")
    servers: list[RunningServer] = [proxy, upstream]
    try:
        print(
            f"routetax demo: emulated upstream at {upstream.url}/v1, proxy at {proxy.url}/v1 "
            "(in-process store: NON-DURABLE)",
            file=sys.stderr,
        )
        started = time.perf_counter()
        drive(proxy.url, args.requests, args.agentic_share, args.seed)
        elapsed = time.perf_counter() - started
        time.sleep(0.2)  # let the last background metering tasks finish
        summary = summarise(list(app.state.metering.recent))
        summary["elapsed_s"] = round(elapsed, 3)
        if args.json:
            print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        else:
            _print_summary(summary)
        if args.keep_running:
            print(
                f"proxy still running at {proxy.url}/v1 — point OPENAI_BASE_URL there; Ctrl-C to stop", file=sys.stderr
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    print(
        f"\n{summary['requests']} requests in {summary['elapsed_s']} s, agentic share "
        f"{summary['agentic_share']:.2f}, proxy overhead p50 {summary['proxy_overhead_ms_p50']} ms\n"
    )
    print(f"{'tier':<6} {'class':<12} {'requests':>8} {'prompt':>8} {'cached':>8} {'completion':>10} {'cost USD':>12}")
    for row in summary["by_tier_and_class"]:
        print(
            f"{row['tier']:<6} {row['class']:<12} {int(row['requests']):>8} {int(row['prompt_tokens']):>8} "
            f"{int(row['cached_tokens']):>8} {int(row['completion_tokens']):>10} {row['cost_usd']:>12.6f}"
        )
    print(f"\ntotal cost: ${summary['total_cost_usd']:.6f}")
