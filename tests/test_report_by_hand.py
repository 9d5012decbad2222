"""Every figure of the routing-tax report recomputed by hand from `routetax ledger export`.

A world with exploration, a self-hosted tier (the vLLM dialect) priced by the GPU-hour, the router's
own running and classifier costs and a failure cost, driven over real HTTP into a real Redis; then the
exported records and the application's feedback are all this test reads to recompute the report.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import yaml

from cli import main as routetax
from demo.world import demo_config, drive
from emulator.app import build_emulator
from metering.ledger import Keys
from metering.record import Record
from router.config import Config
from router.servers import RunningServer
from tests.redis_server import RedisServer
from tests.running import Servers
from tests.test_routing_tax import report_when
from tests.test_verdict_truth import WORLD
from tests.waiting import wait_until

Z = 1.959963984540054


@pytest.fixture
def upstreams(serve_in_thread: Servers) -> dict[str, str]:
    servers = {d: serve_in_thread(build_emulator(dialect=d, seed=2), name=d) for d in ("openai", "vllm")}
    for server in servers.values():
        for model, probabilities in WORLD.degrade.items():
            import httpx

            httpx.post(f"{server.url}/_mock/script", json={"model": model, "degrade_probability": probabilities})
    return {d: s.url for d, s in servers.items()}


def wilson(k: int, n: int) -> list[float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def test_every_report_figure_recomputed_from_the_ledger_export(
    redis_server: RedisServer,
    upstreams: dict[str, str],
    start_proxy: Callable[[Config], RunningServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = demo_config(upstreams).model_dump()
    data["tiers"]["qwen"]["gpu_hour_usd"] = 2.0
    data["store"] = {"redis_url": redis_server.url, "spool_dir": str(tmp_path / "spool")}
    data["auth"] = {"mode": "open"}
    data["policy"]["explore"] = {"share": 0.3, "seed": 13, "tiers": ["nano", "mini", "qwen"]}
    data["report"] = {"router_hour_usd": 0.05, "classifier_usd_per_request": 0.00001, "failure_cost_usd": 0.019}
    config = Config.model_validate(data)
    proxy = start_proxy(config)
    rows = drive(proxy.url, 150, 0.4, seed=13, task_success=WORLD.task_success)
    report_when(proxy, 150)
    # every request got feedback, which ends its task: each closes a short grace later, and is then exported
    with redis.Redis.from_url(redis_server.url) as client:
        wait_until(lambda: client.zcard(Keys().tasks_open) == 0, "every task closed", timeout_s=60)
    config_file = tmp_path / "routetax.yaml"
    config_file.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))

    assert routetax(["ledger", "export", "--redis-url", redis_server.url]) == 0
    records = [Record.from_dict(json.loads(line)) for line in capsys.readouterr().out.splitlines()]
    assert routetax(["report", "--config", str(config_file), "--window", "1h", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    measured = report["measured"]
    feedback = {row["request_id"]: row["success"] for row in rows}
    assert len(records) == 150 and measured["requests"] == 150

    # --- overhead
    hours = 1.0  # `--window 1h`: the router and the GPU are charged the whole hour asked for
    billed = sum(a.cost_usd for r in records for a in r.attempts if a.billed)
    parts = {
        "redo": sum(a.cost_usd for r in records for a in r.attempts[:-1] if a.billed and a.ended_by == "redo"),
        "retry_fallback": sum(
            a.cost_usd for r in records for a in r.attempts[:-1] if a.billed and a.ended_by != "redo"
        ),
        "cache_loss": sum(r.cache_loss_usd for r in records),
        "infrastructure": 0.05 * hours,
        "classifier": 0.00001 * 150,
    }
    actual = billed + parts["infrastructure"] + parts["classifier"]
    base = sum((r.attempts[-1].cost_usd if r.attempts[-1].billed else 0.0) - r.cache_loss_usd for r in records)
    assert measured["spend"]["actual"] == pytest.approx(actual, rel=1e-9)
    assert measured["spend"]["base"] == pytest.approx(base, rel=1e-9)
    assert measured["routing_overhead"] == pytest.approx((actual - base) / base, rel=1e-9)
    for name, value in parts.items():
        assert measured["overhead_parts_usd"][name] == pytest.approx(value, rel=1e-9, abs=1e-15), name
    assert abs(sum(measured["overhead_parts_usd"].values()) - (actual - base)) < 1e-9

    # --- amortised GPU cost: the window's GPU-hours spread over the tokens qwen served, adding up exactly
    qwen_tokens = sum(a.usage.total_tokens for r in records for a in r.attempts if a.tier == "qwen" and a.billed)
    per_token = 2.0 * hours / qwen_tokens
    assert measured["self_hosted"]["qwen"]["usd_per_token"] == pytest.approx(per_token, rel=1e-9)
    assert measured["spend"]["amortised_self_hosted"] == pytest.approx(2.0 * hours, rel=1e-9)

    # --- cells
    def ok(r: Record) -> bool:
        return r.outcome == "success" and r.status < 400 and feedback[r.request_id]

    for found in measured["cells"]:
        mine = [r for r in records if r.routed_tier == found["tier"] and r.label == found["class"]]
        assert found["requests"] == len(mine)
        if not mine:
            assert found["success_rate"] is None
            continue
        wins = sum(ok(r) for r in mine)
        spend = sum(a.cost_usd for r in mine for a in r.attempts if a.billed)
        assert found["successes"] == wins and found["explored"] == sum(r.explored for r in mine)
        assert found["success_ci"] == pytest.approx(wilson(wins, len(mine)), rel=1e-9)
        assert found["cost_per_request_usd"] == pytest.approx(spend / len(mine), rel=1e-9)

    # --- policies: per class, the tier's own cell: what its requests cost (GPU time amortised) and how they did
    classes = ("single_turn", "agentic")
    n = {c: sum(r.label == c for r in records) for c in classes}

    def full_cost(r: Record) -> float:
        return sum(
            a.cost_usd + (a.usage.total_tokens * per_token if a.tier == "qwen" else 0.0) for a in r.attempts if a.billed
        )

    def single_tier(tier_of: dict[str, str]) -> tuple[float, list[float]]:
        lines = {}
        for c in classes:
            mine = [r for r in records if r.routed_tier == tier_of[c] and r.label == c]
            wins = sum(ok(r) for r in mine)
            lines[c] = (sum(full_cost(r) for r in mine) / len(mine), wins / len(mine), *wilson(wins, len(mine)))
        return cost_per_task(lines)

    def cost_per_task(lines: dict[str, tuple[float, float, float, float]]) -> tuple[float, list[float]]:
        def at(index: int) -> float:
            cost = sum(
                n[c] * (cpr + (1 - line[index]) * 0.019) for c, (cpr, *_) in lines.items() for line in [lines[c]]
            )
            return cost / sum(n[c] * lines[c][index] for c in classes)

        return at(1), [at(3), at(2)]

    for name, tier_of in (
        ("mini_only", {"single_turn": "mini", "agentic": "mini"}),
        ("nano_only", {"single_turn": "nano", "agentic": "nano"}),
        ("qwen_only", {"single_turn": "qwen", "agentic": "qwen"}),
        ("agentic_to_qwen", {"single_turn": "nano", "agentic": "qwen"}),
    ):
        point, ci = single_tier(tier_of)
        policy = measured["policies"][name]
        assert policy["cost_per_completed_task_usd"] == pytest.approx(point, rel=1e-9), name
        assert policy["ci"] == pytest.approx(ci, rel=1e-9), name

    fixed = (parts["infrastructure"] + parts["classifier"]) / 150
    dual_lines = {}
    for c in classes:
        routed = [r for r in records if r.label == c and not r.explored and not r.pinned]
        spent = sum(full_cost(r) for r in routed)
        wins = sum(ok(r) for r in routed)
        dual_lines[c] = (spent / len(routed) + fixed, wins / len(routed), *wilson(wins, len(routed)))
    point, ci = cost_per_task(dual_lines)
    assert measured["policies"]["dual"]["cost_per_completed_task_usd"] == pytest.approx(point, rel=1e-9)
    assert measured["policies"]["dual"]["ci"] == pytest.approx(ci, rel=1e-9)
    mini = measured["policies"]["mini_only"]["cost_per_completed_task_usd"]
    assert measured["savings_vs_mini"] == pytest.approx(1 - point / mini, rel=1e-9)

    # --- the measured break-even: where dual's and mini-only's costs per completed task meet
    mini_lines = {
        c: (
            measured["policies"]["mini_only"]["cost_per_request_usd"][c],
            measured["policies"]["mini_only"]["success_rate"][c],
        )
        for c in classes
    }

    def gap(s: float) -> float:
        def cost(lines: dict) -> float:
            (cs, ps), (ca, pa) = (lines[c][:2] for c in classes)
            return ((1 - s) * (cs + (1 - ps) * 0.019) + s * (ca + (1 - pa) * 0.019)) / ((1 - s) * ps + s * pa)

        return cost(dual_lines) - cost(mini_lines)

    share = measured["break_even_agentic_share"]
    if gap(0) >= 0:
        assert share == 0.0
    elif gap(1) < 0:
        assert share == 1.0
    else:
        assert abs(gap(share)) < 1e-6

    # --- the report per task, recomputed from `routetax ledger export --tasks`
    assert routetax(["ledger", "export", "--tasks", "--redis-url", redis_server.url]) == 0
    tasks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_task = measured["tasks"]
    assert by_task["tasks"] == len(tasks) > 0 and by_task["open_tasks"] == 0
    gpu_of: dict[tuple[str, str], float] = defaultdict(float)
    for r in records:
        for a in r.attempts:
            if a.billed and a.tier == "qwen" and r.task_id:
                gpu_of[(r.key_id or "-", r.task_id)] += a.usage.total_tokens * per_token

    def task_cost(t: dict) -> float:
        return t["cost_usd"] + gpu_of[(t["key_id"] or "-", t["task_id"])]

    def figures(mine: list[dict]) -> tuple[float, float | None, list[float] | None, list[float]]:
        """cost per task, judged rate, its Wilson interval, bounds (unknowns as failures, as successes)."""
        judged = [t for t in mine if t["outcome_source"] in ("feedback", "judge")]
        wins = sum(t["outcome"] == "success" for t in judged)
        unknown = sum(t["outcome"] == "unknown" for t in mine)
        rate = wins / len(judged) if judged else None
        bounds = [wins / len(mine), (wins + unknown) / len(mine)]
        return statistics.fmean(task_cost(t) for t in mine), rate, wilson(wins, len(judged)) if judged else None, bounds

    cells = {}
    for found in by_task["cells"]:
        mine = [t for t in tasks if t["arm"] == found["tier"] and t["task_class"] == found["class"]]
        assert found["tasks"] == len(mine), (found["tier"], found["class"])
        if not mine:
            assert found["status"] == "not measured" and found["cost_per_task_usd"] is None
            continue
        cost, rate, ci, bounds = figures(mine)
        cells[(found["tier"], found["class"])] = (cost, rate, ci, bounds)
        assert found["steps_per_task"] == pytest.approx(sum(t["steps"] for t in mine) / len(mine))
        assert found["cost_per_task_usd"] == pytest.approx(cost, rel=1e-9)
        assert found["success_rate"] == (pytest.approx(rate, rel=1e-12) if rate is not None else None)
        assert found["success_bounds"] == pytest.approx(bounds, rel=1e-12)
        if ci is not None:
            assert found["success_ci"] == pytest.approx(ci, rel=1e-9)
        if rate:
            assert found["cost_per_completed_task_usd"] == pytest.approx(cost / rate, rel=1e-9)

    mix = {c: sum(t["task_class"] == c for t in tasks) for c in classes}
    mix = {c: k for c, k in mix.items() if k}

    def per_completed(lines: dict[str, tuple[float, float]]) -> float:
        spent = sum(mix[c] * (cost + (1 - rate) * 0.019) for c, (cost, rate) in lines.items())
        return spent / sum(mix[c] * rate for c, (_, rate) in lines.items())

    for name, tier_of in (
        ("mini_only", {"single_turn": "mini", "agentic": "mini"}),
        ("nano_only", {"single_turn": "nano", "agentic": "nano"}),
        ("qwen_only", {"single_turn": "qwen", "agentic": "qwen"}),
        ("agentic_to_qwen", {"single_turn": "nano", "agentic": "qwen"}),
    ):
        policy = by_task["policies"][name]
        needed = {c: cells.get((tier_of[c], c)) for c in mix}
        if any(v is None for v in needed.values()):
            assert policy["measured"] is False and policy["cost_per_completed_task_usd"] is None, name
            continue
        if any(v[1] is None for v in needed.values()):
            assert policy["cost_per_completed_task_usd"] is None, name
            continue
        point = per_completed({c: (v[0], v[1]) for c, v in needed.items()})  # type: ignore[misc]
        assert policy["cost_per_completed_task_usd"] == pytest.approx(point, rel=1e-9), name

    fixed_per_task = (parts["infrastructure"] + parts["classifier"]) / len(tasks)
    task_dual = {}
    for c in mix:
        routed = [t for t in tasks if t["task_class"] == c and not t["explored"] and not t["pinned"]]
        cost, rate, _, _ = figures(routed)
        task_dual[c] = (cost + fixed_per_task, rate)
    dual = by_task["policies"]["dual"]
    assert dual["fixed_per_task_usd"] == pytest.approx(fixed_per_task, rel=1e-9)
    assert dual["cost_per_completed_task_usd"] == pytest.approx(per_completed(task_dual), rel=1e-9)
    assert report["verdict"]["cheapest"] in {*by_task["policies"], "undecided"}

    # --- exploration as a measurement line: each explored task against the cell routing would have used
    routed_tier = {"single_turn": config.policy.single_turn, "agentic": config.policy.agentic}
    explored = [t for t in tasks if t["explored"]]
    line = by_task["measurement"]["exploration"]
    assert line["tasks"] == len(explored) > 0
    usd = forgone = 0.0
    for t in explored:
        routed_cost, routed_rate, _, _ = cells[(routed_tier[t["task_class"]], t["task_class"])]
        usd += task_cost(t) - routed_cost
        forgone += routed_rate - cells[(t["arm"], t["task_class"])][1]
    assert line["usd"] == pytest.approx(usd, rel=1e-9, abs=1e-15)
    assert line["completions_forgone"] == pytest.approx(forgone, rel=1e-9, abs=1e-12)

    # --- the break-even share per task: where dual as run (routed tasks + its fixed lines) meets mini's own cells
    found = by_task["break_even"]
    mini_lines = {c: cells.get(("mini", c)) for c in ("single_turn", "agentic")}
    if all(v is not None and v[1] is not None for v in mini_lines.values()) and set(task_dual) == set(mini_lines):
        from metering.tax.break_even import crossing

        share = crossing(
            {c: (cost, rate) for c, (cost, rate) in task_dual.items()},
            {c: (v[0], v[1]) for c, v in mini_lines.items()},  # type: ignore[index]
            0.019,
        )
        assert found["share"] == pytest.approx(share, abs=1e-9)
        assert found["ci"][0] <= found["share"] <= found["ci"][1]
    else:
        assert found["share"] is None
