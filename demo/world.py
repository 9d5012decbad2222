"""`routetax demo`: the product on embedded defaults, with nothing to set up.

It starts an emulated upstream and the proxy (in-process store, no Redis, no API key), then runs the
world's tasks through the official `openai` SDK — agent tool loops (chat with and without the task header,
the ReAct text protocol, the Responses API), single calls and a person's conversations, with the
application's feedback on a stated share (demo/tasks.py plans them, demo/application.py runs them) — and
prints what the router did and what it cost. Everything printed is read from the router's own records.

`Workload.REQUESTS` is the earlier world, kept for the request-level report's truth tests: each request
judged on its own, as if it were a task.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import orjson

from demo.application import AGENT_TASKS, AGENT_TOOLS, SINGLE_TURN_PROMPTS, FeedbackBy, TaskRun, run_tasks
from demo.local_qwen import LocalEngine, with_local_qwen
from demo.local_qwen import describe as describe_qwen
from demo.tasks import TaskMix, plan_tasks
from emulator.app import EMULATED_DIALECTS, build_emulator
from router.app import create_app
from router.config import Config, Tier
from router.servers import start_in_thread

DEMO_ROUTER_HOUR_USD = 0.05  # the demo's assumed cost of running the router: one small VM
DEMO_GPU_HOUR_USD = 1.00  # the demo's assumed price of the self-hosted tier's GPU (one mid-size card)


def demo_config(upstream_urls: str | dict[str, str], base: Config | None = None) -> Config:
    """The embedded world: every tier served by the emulator of its dialect, an in-process store.

    `upstream_urls` maps a dialect to its emulator's URL (a plain URL serves the openai dialect only);
    tiers of a dialect with no emulator are left out.
    """
    base = base or Config()
    urls = {"openai": upstream_urls} if isinstance(upstream_urls, str) else upstream_urls
    tiers = {
        name: Tier(**{**tier.model_dump(), "base_url": f"{urls[tier.dialect]}/v1", "api_key_env": None})
        for name, tier in base.tiers.items()
        if tier.dialect in urls
    }
    data = base.model_dump()
    explore = data["policy"]["explore"]
    explore["tiers"] = [name for name in explore["tiers"] if name in tiers]
    return Config.model_validate({**data, "tiers": tiers, "store": {"redis_url": None}})


# The demo's world, explicit: task success by (arm, class) follows the published rates (agentic: OSWorld
# nano 0.39 / mini 0.721; single-turn: SWE-Bench Pro nano 0.5239 / mini 0.544); Qwen and gpt-5.4 have no
# published rate, so the demo assumes one, and says so. A task's arm is the tier that answered its first
# step. The application reports the outcome of a stated share of tasks with POST /v1/feedback. On top,
# the emulated upstreams emit *detectably* broken output (invalid tool-call JSON, empty answers) at the
# rates below, which routetax redoes on the next tier.
TASK_SUCCESS = {
    ("nano", "agentic"): 0.39,
    ("mini", "agentic"): 0.721,
    ("nano", "single_turn"): 0.5239,
    ("mini", "single_turn"): 0.544,
    ("qwen", "agentic"): 0.55,  # assumed: no published rate
    ("qwen", "single_turn"): 0.50,  # assumed
    ("full", "agentic"): 0.80,  # assumed
    ("full", "single_turn"): 0.60,  # assumed
}
DETECTABLE_DEGRADE = {
    "gpt-5.4-nano": {"agentic": 0.10, "single_turn": 0.02},
    "gpt-5.4-mini": {"agentic": 0.05, "single_turn": 0.01},
    "Qwen/Qwen3.5-9B": {"agentic": 0.08, "single_turn": 0.02},
}


def drive(
    base_url: str,
    requests: int,
    agentic_share: float,
    seed: int,
    task_success: dict[tuple[str, str], float] | None = None,
) -> list[dict[str, Any]]:
    """The request workload: `requests` chat calls with the openai SDK, each judged with feedback on its own.

    Each call names its task (`x-routetax-task: drive-<seed>-<i>`, a loop by its first request), so a seed gives
    the same exploration draws on every run (the arm is drawn from the task id and the explore seed).

    `task_success` is the world's truth: the chance that a request succeeds, by (tier that answered, class).
    This is what the request-level report can be checked against; the demo itself runs tasks (`run_tasks`).
    """
    task_success = task_success or TASK_SUCCESS
    from openai import OpenAI

    rng = random.Random(seed)
    outcomes = random.Random(seed + 1)  # task success draws, independent of the workload's shape
    client = OpenAI(base_url=f"{base_url}/v1", api_key="demo-no-key-needed", max_retries=0)
    rows: list[dict[str, Any]] = []
    loop: list[dict[str, Any]] | None = None
    task: dict[str, str] = {}  # the current loop's task header
    for i in range(requests):
        # agentic slots spread evenly, so the measured share is the requested one within 1/requests
        if int((i + 1) * agentic_share) > int(i * agentic_share):
            if loop is None:
                loop = [
                    {"role": "system", "content": "You are a support agent. Use the tools to act."},
                    {"role": "user", "content": rng.choice(AGENT_TASKS)},
                ]
                task = {"x-routetax-task": f"drive-{seed}-{i}"}
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=loop, tools=AGENT_TOOLS, extra_headers=task
            )
            message = raw.parse().choices[0].message
            if message.tool_calls and len(loop) < 8:
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
            messages = [{"role": "user", "content": rng.choice(SINGLE_TURN_PROMPTS)}]
            single = {"x-routetax-task": f"drive-{seed}-{i}"}
            if rng.random() < 0.3:
                raw = client.chat.completions.with_raw_response.create(
                    model="auto", messages=messages, stream=True, extra_headers=single
                )
                for _chunk in raw.parse():
                    pass
            else:
                raw = client.chat.completions.with_raw_response.create(
                    model="auto", messages=messages, extra_headers=single
                )
        label, tier = raw.headers.get("x-routetax-class"), raw.headers.get("x-routetax-tier")
        success = outcomes.random() < task_success[(tier, label)]
        client.post(
            "/feedback",
            cast_to=object,
            body={
                "request_id": raw.headers["x-routetax-request-id"],
                "success": success,
                "reason": None if success else "the application judged the task failed",
            },
        )
        rows.append(
            {
                "i": i,
                "request_id": raw.headers["x-routetax-request-id"],
                "class": label,
                "tier": tier,
                "success": success,
                "overhead_ms": float(raw.headers.get("x-routetax-overhead-ms", "0")),
            }
        )
    return rows


class Workload(StrEnum):
    """What the world's application sends."""

    TASKS = "tasks"  # agent loops, single calls and conversations, feedback per task (demo/tasks.py)
    REQUESTS = "requests"  # `drive`: calls judged one by one, for the request-level report's truth tests


@dataclass(frozen=True)
class World:
    """The demo's (or a test's) truth, in one place: task success by (arm, class), detectable degrade rates per
    upstream model, the self-hosted tier's GPU-hour price, and the workload (its tasks' mix)."""

    task_success: dict[tuple[str, str], float] = field(default_factory=lambda: dict(TASK_SUCCESS))
    degrade: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DETECTABLE_DEGRADE))
    gpu_hour_usd: float = DEMO_GPU_HOUR_USD
    workload: Workload = Workload.TASKS
    mix: TaskMix = field(default_factory=TaskMix)

    def describe(self, size: int, agentic_share: float, seed: int) -> dict[str, Any]:
        """The world as the demo prints it (`demo.world`): its truth and every number of its workload."""
        stated: dict[str, Any] = {
            "task_success": {f"{t}/{c}": p for (t, c), p in self.task_success.items()},
            "detectable_degrade": self.degrade,
            "gpu_hour_usd": self.gpu_hour_usd,
            "workload": self.workload.value,
        }
        if self.workload is Workload.TASKS:
            stated["tasks"] = self.mix.describe(size, agentic_share, seed)
        else:
            stated["requests"] = {"requests": size, "agentic_share": agentic_share, "feedback_share": 1.0}
        return stated


def ran(runs: list[TaskRun]) -> dict[str, Any]:
    """What the application's tasks did, counted from its side (the world states what they were to do)."""
    by_kind: dict[str, int] = {}
    for run in runs:
        by_kind[run.plan.kind.value] = by_kind.get(run.plan.kind.value, 0) + 1
    return {
        "tasks": len(runs),
        "kinds": by_kind,
        "requests": sum(len(run.request_ids) for run in runs),
        "abandoned": sum(run.abandoned for run in runs),
        "succeeded": sum(run.success is True for run in runs),
        "failed": sum(run.success is False for run in runs),
        "feedback_by_task_id": sum(run.feedback is FeedbackBy.TASK for run in runs),
        "feedback_by_request_id": sum(run.feedback is FeedbackBy.REQUEST for run in runs),
        "named_by_the_proxy": sum(any(run.task_ids) for run in runs),
    }


def run_world(
    size: int,
    agentic_share: float,
    seed: int,
    config: Config | None = None,
    keep_running: bool = False,
    port: int = 0,
    world: World | None = None,
    qwen_engine: LocalEngine | None = None,
) -> dict[str, Any]:
    """Start the emulated world and the proxy, run the workload, and return the routing-tax report.

    `size`: how many tasks the application runs (how many requests, for `Workload.REQUESTS`). The proxy's
    `tasks.machine_pace_s` is set to the world's (`TaskMix.machine_pace_s`), so that a conversation's pauses
    read as a person's. With `qwen_engine` (a running llama.cpp server), the qwen tier is served by it
    instead of the emulator.
    """
    world = world or World()
    base = config or Config()
    dialects = {"openai", *(tier.dialect for tier in base.tiers.values() if tier.dialect in EMULATED_DIALECTS)}
    # One seed per dialect: two emulators on one seed write the same answers in the same order, so two tasks on
    # different tiers that opened with the same prompt had identical histories, which no identity can tell apart
    # (bench/task_truth.py found 16 of 10,000 tasks crossed that way). Real models on two tiers do not answer alike.
    upstreams = {
        d: start_in_thread(build_emulator(dialect=d, seed=seed * len(EMULATED_DIALECTS) + i), name=f"emulator-{d}")
        for i, d in enumerate(sorted(dialects))
    }
    for upstream in upstreams.values():
        for model, probabilities in world.degrade.items():
            httpx.post(f"{upstream.url}/_mock/script", json={"model": model, "degrade_probability": probabilities})
    demo = demo_config({d: u.url for d, u in upstreams.items()}, base)
    if qwen_engine is not None:
        demo = with_local_qwen(demo, qwen_engine)
    hosted = {"gpu_hour_usd": world.gpu_hour_usd}  # the self-hosted tiers of the demo's world run on its GPU
    tiers = {
        name: tier.model_copy(update=hosted) if tier.dialect != "openai" and tier.gpu_hour_usd is None else tier
        for name, tier in demo.tiers.items()
    }
    pace = demo.tasks.model_copy(update={"machine_pace_s": world.mix.machine_pace_s})
    demo = demo.model_copy(update={"tiers": tiers, "tasks": pace})
    app = create_app(demo)
    proxy = start_in_thread(app, port=port, name="proxy")
    try:
        emulated = ", ".join(f"{d} at {u.url}/v1" for d, u in sorted(upstreams.items()))
        print(
            f"routetax demo: emulated upstreams ({emulated}), proxy at {proxy.url}/v1 (in-process store: NON-DURABLE); "
            + describe_qwen(qwen_engine),
            file=sys.stderr,
        )
        started, run_since = time.perf_counter(), time.time()
        runs: list[TaskRun] = []
        if world.workload is Workload.TASKS:
            plans = plan_tasks(size, agentic_share, seed, world.mix)
            runs = run_tasks(proxy.url, plans, world.task_success, world.mix, seed)
            requests = sum(len(run.request_ids) for run in runs)
        else:
            requests = len(drive(proxy.url, size, agentic_share, seed, world.task_success))
        elapsed = time.perf_counter() - started
        report = _report_when(proxy.url, requests, run_since, time.time())
        report["demo"] = {
            "requests": requests,
            "requested_agentic_share": agentic_share,
            "seed": seed,
            "explore_share": demo.policy.explore.share,
            "elapsed_s": round(elapsed, 3),
            "world": world.describe(size, agentic_share, seed),
            "qwen": describe_qwen(qwen_engine),  # a real engine is not scripted: the world's Qwen degrade is unused
        }
        if runs:
            report["demo"]["ran"] = ran(runs)
            report["demo"]["tasks"] = [run.row() for run in runs]
        if keep_running:
            print(
                f"proxy still running at {proxy.url}/v1 — point OPENAI_BASE_URL there; Ctrl-C to stop", file=sys.stderr
            )
            while True:
                time.sleep(3600)
        return report
    finally:
        proxy.stop()
        for upstream in upstreams.values():
            upstream.stop()


def _report_when(proxy_url: str, requests: int, since: float, until: float) -> dict[str, Any]:
    """The routing-tax report over the run, once it counts every request (metering writes after each answer,
    in the background), or after 30 s (a loaded machine: CI's first run of the merged tree once read 25 of 27).

    The demo's window is its run: the router and the GPU are charged for the seconds the run took, as a
    real deployment's report charges the hour or the day it is asked about.
    """
    deadline = time.monotonic() + 30
    window = {"since": repr(since), "until": repr(until)}
    while True:
        report = httpx.get(f"{proxy_url}/v1/routing-tax", params=window, timeout=30).json()
        if report["measured"]["requests"] >= requests or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def demo_base_config(base: Config | None, explore: float, seed: int) -> Config:
    """The configuration the demo starts from: the user's (or the demo's router cost), exploring `explore`.

    Exploration is on so that every tier x class cell gets measured; its draws follow `seed`, as the workload does.
    """
    if base is None:
        base = Config.model_validate({"report": {"router_hour_usd": DEMO_ROUTER_HOUR_USD}})
    data = base.model_dump(exclude_unset=True)
    data.setdefault("policy", {})["explore"] = {
        **data.get("policy", {}).get("explore", {}),
        "share": explore,
        "seed": seed,
    }
    return Config.model_validate(data)
