"""The truth test: scripted worlds with known success probabilities, driven over real HTTP with the
openai SDK (the demo's application), and the report must find what the world is.

Each world's analytic truth is computed here from its parameters: a cell's true success rate is the
chance the task succeeds on the tier that answers, with the detectable degrades that are redone on
the next tier; the true verdict follows from the price lists and those rates. Everything is seeded
(emulator, exploration draws, task outcomes), so each world is deterministic; how often the intervals
cover the truth across seeds is measured by the pure-simulation test in test_tax_report.py and, for
these worlds, reported in docs/routing-tax.md.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from demo.world import Workload, World
from router.config import Config

SUCCESS = {
    ("nano", "single_turn"): 0.52,
    ("mini", "single_turn"): 0.55,
    ("qwen", "single_turn"): 0.50,
    ("full", "single_turn"): 0.60,
    ("nano", "agentic"): 0.39,
    ("mini", "agentic"): 0.72,
    ("qwen", "agentic"): 0.55,
    ("full", "agentic"): 0.80,
}
NANO_AGENTIC_REDO = 0.10  # detectable broken tool calls on nano's agentic answers, redone on mini
# The report still counts requests, so its truth is checked against the request workload (each request judged
# on its own); the demo's task workload is checked in tests/test_demo_tasks.py.
WORLD = World(
    task_success=SUCCESS,
    degrade={"gpt-5.4-nano": {"agentic": NANO_AGENTIC_REDO}},
    gpu_hour_usd=1.0,
    workload=Workload.REQUESTS,
)
INPUT = {"nano": 0.20, "mini": 0.75}  # $/1M, `routetax price`
OUTPUT = {"nano": 1.25, "mini": 4.50}


def true_rate(tier: str, label: str) -> float:
    """A cell's success rate: the task on the tier that answers, after the world's redos."""
    if (tier, label) == ("nano", "agentic"):
        return (1 - NANO_AGENTIC_REDO) * SUCCESS[("nano", "agentic")] + NANO_AGENTIC_REDO * SUCCESS[("mini", "agentic")]
    return SUCCESS[(tier, label)]


def true_dual_over_mini(share: float, agentic_to_single_cost: float) -> float:
    """Dual-tier's cost per completed task over mini-only's, in this world, by its parameters.

    The same tokens cost nano between 0.20/0.75 and 1.25/4.50 of mini (input or output); a nano
    agentic answer redone on mini costs both. `agentic_to_single_cost` is how much dearer an agentic
    request is than a single-turn one; the truth must hold across a wide range of it.
    """
    worst_ratio = max(INPUT["nano"] / INPUT["mini"], OUTPUT["nano"] / OUTPUT["mini"])
    single, agentic = 1.0, agentic_to_single_cost
    dual_cost = (1 - share) * worst_ratio * single + share * agentic
    dual_done = (1 - share) * true_rate("nano", "single_turn") + share * true_rate("mini", "agentic")
    mini_cost = (1 - share) * single + share * agentic
    mini_done = (1 - share) * true_rate("mini", "single_turn") + share * true_rate("mini", "agentic")
    return (dual_cost / dual_done) / (mini_cost / mini_done)


def config(**policy: object) -> Config:
    return Config.model_validate(
        {"report": {"router_hour_usd": 0.05, "classifier_usd_per_request": 0.00001}, "policy": policy}
    )


def cell(report: dict, tier: str, label: str) -> dict:
    return next(c for c in report["measured"]["cells"] if c["tier"] == tier and c["class"] == label)


@pytest.fixture(scope="module")
def explored_world(run_demo_world: Callable[..., dict]) -> dict:
    return run_demo_world(400, 0.2, seed=21, config=config(explore={"share": 0.3, "seed": 21}), world=WORLD)


def test_exploration_measures_every_cell_and_the_intervals_contain_the_truth(explored_world: dict) -> None:
    measured = explored_world["measured"]
    assert measured["requests"] == 400 and 90 <= measured["explored_requests"] <= 150
    for tier in ("nano", "mini", "qwen"):
        for label in ("single_turn", "agentic"):
            found = cell(explored_world, tier, label)
            assert found["explored"] > 0, (tier, label)  # the 33-point cliff is measured, not quoted
            lo, hi = found["success_ci"]
            assert lo <= true_rate(tier, label) <= hi, (tier, label, found)
            assert found["feedback_coverage"] == 1.0  # the application judged every task
    assert explored_world["demo"]["world"]["task_success"]["nano/agentic"] == 0.39


def test_at_a_fifth_agentic_dual_tier_pays_as_the_world_says(explored_world: dict) -> None:
    assert all(true_dual_over_mini(0.2, k) < 1 for k in (0.5, 1, 2, 5, 20))  # the truth, from the parameters
    verdict = explored_world["verdict"]
    assert verdict["decision"] == "dual_tier_pays" and verdict["dual_tier_pays"] is True
    policies = explored_world["measured"]["policies"]
    assert policies["dual"]["ci"][1] < policies["mini_only"]["ci"][0]
    assert explored_world["measured"]["savings_vs_mini"] > 0.3
    # the self-hosted policies are measured too, at marginal and amortised cost
    qwen = policies["agentic_to_qwen"]
    assert qwen["measured"] and qwen["marginal_cost_per_completed_task_usd"] < qwen["cost_per_completed_task_usd"]
    amortised = explored_world["measured"]["self_hosted"]["qwen"]
    assert amortised["gpu_hour_usd"] == 1.0 and amortised["usd_per_token"] > 0
    assert explored_world["measured"]["spend"]["amortised_self_hosted"] == pytest.approx(
        amortised["gpu_hours"] * 1.0, rel=1e-9
    )


def test_at_full_agentic_share_dual_and_mini_only_differ_by_the_infrastructure_line(
    run_demo_world: Callable[..., dict],
) -> None:
    # Nothing goes to nano: routing adds only its own running cost (once, dual read 11% above mini-only).
    report = run_demo_world(200, 1.0, seed=7, config=config(), world=WORLD)
    measured = report["measured"]
    dual, mini = measured["policies"]["dual"], measured["policies"]["mini_only"]
    assert dual["measured"] and mini["measured"]
    parts = measured["overhead_parts_usd"]
    completed = 200 * dual["success_rate"]["agentic"]
    fixed = (parts["infrastructure"] + parts["classifier"]) / completed
    gap = dual["cost_per_completed_task_usd"] - mini["cost_per_completed_task_usd"]
    assert gap == pytest.approx(fixed, rel=1e-6) and gap >= 0
    assert measured["break_even_agentic_share"] is None  # no single-turn traffic: nothing to cross
    assert report["verdict"]["decision"] == "undecided"


def test_with_mini_only_mode_the_overhead_is_only_infrastructure_and_classifier(
    run_demo_world: Callable[..., dict],
) -> None:
    # A run with no routing at all once reported 55% routing overhead: its failed tasks.
    report = run_demo_world(120, 0.5, seed=5, config=config(mode="mini_only"), world=WORLD)
    measured = report["measured"]
    parts = measured["overhead_parts_usd"]
    assert parts["redo"] == 0 and parts["retry_fallback"] == 0 and parts["cache_loss"] == 0
    assert parts["infrastructure"] > 0 and parts["classifier"] == pytest.approx(120 * 0.00001)
    base = measured["spend"]["base"]
    assert measured["routing_overhead"] == pytest.approx((parts["infrastructure"] + parts["classifier"]) / base)
    assert measured["routing_overhead"] < 0.15
    assert all(c["tier"] == "mini" for c in measured["cells"] if c["requests"])


def test_thirty_requests_decide_nothing(run_demo_world: Callable[..., dict]) -> None:
    report = run_demo_world(30, 0.2, seed=3, config=config(explore={"share": 0.3, "seed": 3}), world=WORLD)
    verdict = report["verdict"]
    assert verdict["decision"] == "undecided" and verdict["dual_tier_pays"] is False
    assert verdict["decide_by"]  # more requests, or the cells still unmeasured
