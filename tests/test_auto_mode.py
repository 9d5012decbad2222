"""`policy.mode: auto`: when the router switches to mini-only and back, judged on its own recent traffic."""

from __future__ import annotations

import pytest

from metering.record import Attempt, Record
from metering.tax import model as tax_model
from router import auto_mode as auto_module
from router.auto_mode import DUAL, MINI_ONLY, AutoMode
from tests.in_process import Clock

PUBLISHED_BREAK_EVEN = tax_model.break_even_agentic_share()  # ≈ 0.797


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock().install(monkeypatch, auto_module)


class Traffic:
    """Finished records fed to the policy, numbered so every request id is new."""

    def __init__(self, auto: AutoMode, clock: Clock) -> None:
        self.auto, self.clock, self.count = auto, clock, 0

    def send(self, agentic: int, single_turn: int) -> None:
        for label, n in (("agentic", agentic), ("single_turn", single_turn)):
            for _ in range(n):
                self.served(label, "mini" if label == "agentic" else "nano")

    def served(self, label: str, tier: str, *, explored: bool = False, cost: float = 0.0) -> str:
        self.count += 1
        now = self.clock.time()
        record = Record(
            request_id=f"req_{self.count}",
            label=label,
            routed_tier=tier,
            explored=explored,
            tier_path=[tier],
            started_at=now,
            ended_at=now + 1,
            attempts=[Attempt(tier=tier, model=tier, status=200, billed=True, cost_usd=cost)],
            counterfactual_usd={"nano": 0.001, "mini": 0.004},
        )
        self.auto.observe(record)
        return record.request_id

    def every_cell(self, nano_single_turn: int, agentic: int, failed_single_turn: int = 0) -> None:
        """Traffic that measures every cell both policies need: single-turn on nano (some failing), the rest on mini."""
        for index in range(nano_single_turn):
            request_id = self.served("single_turn", "nano", cost=0.001)
            self.auto.feedback(request_id, index >= failed_single_turn)
        self.served("single_turn", "mini", explored=True, cost=0.004)
        self.served("agentic", "nano", explored=True, cost=0.001)
        for _ in range(agentic):
            self.served("agentic", "mini", cost=0.004)


def auto(**settings: object) -> AutoMode:
    return AutoMode(**{"enabled": True, "window_requests": 100, "min_requests": 10, "evaluate_every_s": 0, **settings})


def test_a_share_above_the_published_break_even_by_the_margin_switches_to_mini_only(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    policy = auto(hysteresis=0.03)
    Traffic(policy, clock).send(agentic=9, single_turn=1)
    assert policy.mini_only and policy.mode == MINI_ONLY
    assert policy.switches == [
        {
            "at": clock.now,
            "from": DUAL,
            "to": MINI_ONLY,
            "agentic_share": 0.9,
            "break_even": PUBLISHED_BREAK_EVEN,
            "break_even_source": "model",
        }
    ]
    assert "policy auto: dual -> mini_only (agentic share 0.900 vs model break-even 0.797)" in caplog.text


def test_a_share_hovering_at_the_break_even_does_not_flap(clock: Clock) -> None:
    policy = auto(hysteresis=0.03)
    traffic = Traffic(policy, clock)
    traffic.send(agentic=8, single_turn=2)  # 0.80: above the break-even, within the margin
    assert policy.mode == DUAL
    traffic.send(agentic=2, single_turn=0)  # 10 / 12 = 0.83: past the margin
    assert policy.mode == MINI_ONLY
    traffic.send(agentic=78, single_turn=22)  # 0.78: below the break-even, within the margin
    assert policy.mode == MINI_ONLY and len(policy.switches) == 1
    traffic.send(agentic=0, single_turn=50)  # the window slides to 28 agentic of 100: well below
    assert policy.mode == DUAL
    assert [(s["from"], s["to"]) for s in policy.switches] == [(DUAL, MINI_ONLY), (MINI_ONLY, DUAL)]


def test_a_new_regime_is_judged_on_its_own_traffic_only(clock: Clock) -> None:
    policy = auto()
    traffic = Traffic(policy, clock)
    traffic.send(agentic=9, single_turn=1)
    assert policy.mode == MINI_ONLY
    traffic.send(agentic=0, single_turn=1)
    assert policy.last_report is not None and policy.last_report["measured"]["requests"] == 1


def test_too_little_traffic_never_switches(clock: Clock) -> None:
    policy = auto(min_requests=50)
    Traffic(policy, clock).send(agentic=49, single_turn=0)
    assert policy.mode == DUAL and policy.switches == []
    assert policy.last_report is not None and policy.last_report["measured"]["agentic_share"] == 1.0


def test_when_disabled_the_figures_are_measured_but_the_mode_never_changes(clock: Clock) -> None:
    policy = auto(enabled=False)
    Traffic(policy, clock).send(agentic=100, single_turn=0)
    assert policy.mode == DUAL and policy.last_report is not None
    assert policy.last_report["measured"]["requests"] == 100


def test_the_window_holds_the_most_recent_requests_only(clock: Clock) -> None:
    policy = auto(enabled=False, window_requests=10)
    traffic = Traffic(policy, clock)
    traffic.send(agentic=10, single_turn=0)
    traffic.send(agentic=0, single_turn=10)
    assert policy.last_report is not None
    assert (policy.last_report["measured"]["requests"], policy.last_report["measured"]["agentic_share"]) == (10, 0.0)


def test_the_policy_is_evaluated_every_few_seconds_not_on_every_request(clock: Clock) -> None:
    policy = auto(evaluate_every_s=5.0)
    traffic = Traffic(policy, clock)
    traffic.send(agentic=0, single_turn=1)
    traffic.send(agentic=20, single_turn=0)  # within the same 5 s: not evaluated yet
    assert policy.mode == DUAL and policy.last_report is not None
    assert policy.last_report["measured"]["requests"] == 1
    clock.advance(5.0)
    traffic.send(agentic=1, single_turn=0)
    assert policy.mode == MINI_ONLY


def test_a_measured_break_even_overrides_the_published_one(clock: Clock) -> None:
    """Dual-tier measured cheaper at every share: even 90 % agentic traffic stays on dual-tier."""
    policy = auto()
    Traffic(policy, clock).every_cell(nano_single_turn=1, agentic=17)
    report = policy.evaluate()
    assert report["measured"]["agentic_share"] > PUBLISHED_BREAK_EVEN + policy.hysteresis
    assert policy.mode == DUAL
    assert (policy.break_even, policy.break_even_source) == (report["measured"]["break_even_agentic_share"], "measured")


def test_the_way_back_is_judged_against_the_break_even_measured_while_dual(clock: Clock) -> None:
    """Mini-only cannot measure dual-tier's costs: the figure measured before the switch decides the way back."""
    policy = auto()
    traffic = Traffic(policy, clock)
    traffic.every_cell(nano_single_turn=10, agentic=1, failed_single_turn=9)  # nano fails single-turn work
    assert policy.mode == MINI_ONLY
    assert policy.switches[0]["break_even_source"] == "measured" and policy.switches[0]["break_even"] == 0.0
    traffic.send(agentic=0, single_turn=20)  # would be dual again under the published break-even
    assert policy.mode == MINI_ONLY
