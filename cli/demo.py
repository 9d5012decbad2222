"""`routetax demo`: emulated upstreams and the proxy in-process, a workload through them, the report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from cli.command import Subparsers, load_config_or_say


def register(subparsers: Subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run emulated upstreams, the proxy and an application's tasks, then print the routing-tax report"
    )
    demo.add_argument("--config", help="YAML configuration (tiers are pointed at the emulator)")
    demo.add_argument("--tasks", type=int, default=150, help="tasks the demo's application runs (default 150)")
    demo.add_argument(
        "--agentic-share", type=float, default=0.3, help="share of the tasks that are agent loops (default 0.3)"
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--explore",
        type=float,
        default=0.2,
        help="share of auto traffic sent to a random tier so every tier x class is measured (default 0.2)",
    )
    demo.add_argument(
        "--qwen",
        choices=["emulated", "local"],
        default="emulated",
        help="local: serve the qwen tier with a real llama.cpp engine and a tiny Qwen3 model (built on first use)",
    )
    demo.add_argument("--llama-server", metavar="PATH", help="with --qwen local: use this llama-server binary")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--port", type=int, default=0, help="proxy port (default: a free one)")
    demo.add_argument(
        "--keep-running", action="store_true", help="after the demo, keep proxy and emulator up for your own client"
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from demo.local_qwen import LocalEngineError, start_engine
    from demo.world import demo_base_config, run_world

    if args.tasks < 1:
        print("routetax demo: --tasks must be at least 1", file=sys.stderr)
        return 2
    if not 0 <= args.agentic_share <= 1:
        print("routetax demo: --agentic-share must be between 0 and 1", file=sys.stderr)
        return 2
    if not 0 <= args.explore <= 1:
        print("routetax demo: --explore must be between 0 and 1", file=sys.stderr)
        return 2
    base = None
    if args.config:
        base = load_config_or_say(args.config, "routetax demo")
        if base is None:
            return 2
    base = demo_base_config(base, args.explore, args.seed)
    try:
        engine = start_engine(args.llama_server) if args.qwen == "local" else None
    except LocalEngineError as exc:
        print(f"routetax demo: --qwen local: {exc}", file=sys.stderr)
        return 1
    try:
        report = run_world(
            args.tasks, args.agentic_share, args.seed, base, args.keep_running, args.port, qwen_engine=engine
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if engine is not None:
            engine.stop()
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        _print(report)
    return 0


def _print(report: dict[str, Any]) -> None:
    from metering.tax.report_text import print_report

    print()
    print_report(report)
    world = report["demo"]["world"]
    print(
        "\nThe demo's world (its truth, which the report had to find): task success by (arm, class) "
        + ", ".join(f"{cell} {p}" for cell, p in world["task_success"].items())
        + f"; GPU ${world['gpu_hour_usd']}/hour. The measured break-even differs from the model's 0.797: the "
        "model applies one overhead to all traffic and prices input tokens only, the measurement carries each "
        "cell's own cost per completed task."
    )
    if "tasks" in world:
        _print_tasks(world["tasks"], report["demo"]["ran"])


KIND_NAMES = {
    "tool_loop": "chat tool loops",
    "tool_loop_header": "chat tool loops sending x-routetax-task",
    "text_protocol": "ReAct loops in text",
    "responses_loop": "Responses loops sending the full input",
    "single_turn": "single calls",
    "conversation": "conversations",
}


def _print_tasks(stated: dict[str, Any], ran: dict[str, Any]) -> None:
    kinds = ", ".join(f"{n} {KIND_NAMES.get(kind, kind)}" for kind, n in stated["kinds"].items())
    low, high = stated["tool_rounds"]
    turns = "–".join(str(n) for n in stated["conversation_turns"])
    print(
        f"\nIts application ran {stated['tasks']} tasks ({stated['requests']} requests) through the openai SDK: "
        f"{kinds}. Agent loops take {low}–{high} tool rounds, executed by the application; "
        f"{stated['abandoned']} of them ({stated['abandoned_share_of_agent_tasks']:.0%}) were abandoned right "
        f"after a tool call. Conversations are {turns} turns {stated['person_pause_s']} s apart (a person's "
        f"pace, shortened: the demo sets the proxy's tasks.machine_pace_s to {stated['machine_pace_s']} s, "
        f"default 5 s); {stated['concurrency']} tasks run at once. Feedback on {stated['feedback']} of the "
        f"{stated['tasks'] - stated['abandoned']} tasks not abandoned ({stated['feedback_share']:.0%}): "
        f"{ran['feedback_by_task_id']} by task id, {ran['feedback_by_request_id']} by the request id of the "
        f"task's last step (the proxy named no task, or refused task feedback); {ran['succeeded']} succeeded, "
        f"{ran['failed']} failed. The TASKS tables read those tasks (the ones still open as they stand: an "
        "abandoned task is found once its idle time has passed); the request-level tables still count a "
        "request without feedback as a success."
    )
