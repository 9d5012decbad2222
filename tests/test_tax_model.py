"""The published model reproduces every figure of the README's routing-tax check."""

from __future__ import annotations

import json
import re

import pytest

from cli import main as routetax
from metering.tax.model import (
    blended_rate,
    break_even_agentic_share,
    cost_of_inaction,
    evaluate,
    quarters_to_cross,
    savings_vs_mini,
    verdict_for_share,
    with_overhead,
)


def test_worked_blends() -> None:
    assert round(blended_rate(0.8), 2) == 0.31
    assert round(savings_vs_mini(blended_rate(0.8)), 2) == 0.59
    assert blended_rate(0.5) == pytest.approx(0.475)
    assert round(with_overhead(blended_rate(0.5)), 3) == 0.558
    assert round(savings_vs_mini(with_overhead(blended_rate(0.5))), 2) == 0.26
    assert blended_rate(0.3) == pytest.approx(0.585)
    assert round(with_overhead(blended_rate(0.3)), 3) == 0.687
    assert round(savings_vs_mini(with_overhead(blended_rate(0.3))), 2) == 0.08


def test_break_even_shares() -> None:
    assert round(break_even_agentic_share(0.175), 3) == 0.797
    assert round(break_even_agentic_share(0.20), 3) == 0.773
    assert round(break_even_agentic_share(0.15), 3) == 0.822


def test_success_correction_compresses_the_ratio() -> None:
    corrected = evaluate()["success_corrected"]
    assert round(corrected["nano"], 3) == 0.513
    assert round(corrected["mini"], 3) == 1.040
    assert round(corrected["corrected_ratio"], 2) == 2.03 and corrected["headline_ratio"] == 3.75


def test_trajectory_crosses_after_six_quarters() -> None:
    assert quarters_to_cross(0.20, 0.10, 0.80) == 6


def test_cost_of_inaction() -> None:
    inaction = cost_of_inaction(10_000_000)
    assert inaction.nano_monthly_usd == pytest.approx(14_500)
    assert inaction.mini_monthly_usd == pytest.approx(52_500)
    assert inaction.nano_yearly_usd == pytest.approx(174_000)
    assert inaction.mini_yearly_usd == pytest.approx(630_000)
    assert inaction.yearly_difference_usd == pytest.approx(456_000)
    assert round(inaction.degraded_per_month_at_60pct / 1e6, 2) == 1.99
    assert round(inaction.degraded_per_year_at_60pct / 1e6) == 24
    assert round(inaction.break_even_fix_cost_usd, 3) == 0.019


def test_verdict_table() -> None:
    assert verdict_for_share(0.1).startswith("nano")
    assert verdict_for_share(0.4) == "mini"
    assert "self-hosted" in verdict_for_share(0.7)


def test_model_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["model", "--nano-share", "0.5", "--overhead", "0.175", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert round(result["rate_with_overhead"], 3) == 0.558
    assert round(result["break_even_agentic_share"], 3) == 0.797
    assert result["dual_tier_pays"] is True


def test_model_command_text_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["model"]) == 0
    out = capsys.readouterr().out
    for figure in ("0.310", "0.797", "0.513", "1.040", "2.03x", "$174,000", "$630,000", "$456,000", "$0.019"):
        assert figure in out
    assert routetax(["model", "--nano-share", "1.5"]) == 2


def test_verdict_thresholds_are_exact_despite_floating_point() -> None:
    # 1 - 0.8 is 0.19999999999999996: the verdict once read "nano" at an agentic share of exactly 20%
    assert evaluate(nano_share=0.8)["verdict"] == "mini"
    assert evaluate(nano_share=0.8)["agentic_share"] == 0.2
    assert evaluate(nano_share=0.4)["verdict"] == "mini"  # 60% is still the table's "mini" band


def test_quarters_to_break_even_follow_the_overhead_given() -> None:
    # it was 6 whatever --overhead was: the crossing is of the break-even that overhead implies
    assert evaluate(overhead=0.175)["quarters_to_break_even_from_20pct_at_10pts"] == 6
    assert evaluate(overhead=0.30)["quarters_to_break_even_from_20pct_at_10pts"] == 5  # break-even 0.685
    assert evaluate(overhead=0.0)["quarters_to_break_even_from_20pct_at_10pts"] == 8  # break-even 1.0


def test_model_command_prints_its_rates_and_the_sources_inconsistencies(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["model", "--overhead", "0.3"]) == 0
    out = capsys.readouterr().out
    for text in ("$0.20 in / $1.25 out", "$0.75 / $4.50", "nano 0.39, mini 0.721", "nano 0.5239, mini 0.544"):
        assert text in out
    assert "crosses the break-even 0.685 after 5 quarters" in out
    assert "implied by the $174,000/year figure" in out and "about 14 calls" in out
    assert routetax(["model", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["assumptions"]["inconsistencies"]) == 4


def test_the_break_even_exists_only_while_all_nano_traffic_with_its_overhead_is_cheaper_than_mini() -> None:
    # s* = (0.75/(1+o) − 0.20) / 0.55 is a share in [0, 1] for 0 ≤ o ≤ 0.75/0.20 − 1 = 2.75; above that even
    # traffic sent wholly to nano costs 0.20 × (1 + o) > 0.75: dual tier never pays, and there is no share.
    assert break_even_agentic_share(0.0) == pytest.approx(1.0)
    assert break_even_agentic_share(2.75) == pytest.approx(0.0, abs=1e-12)
    assert break_even_agentic_share(2.76) is None
    assert break_even_agentic_share(4.99) is None
    result = evaluate(nano_share=1.0, overhead=4.99)
    assert result["break_even_agentic_share"] is None
    assert result["quarters_to_break_even_from_20pct_at_10pts"] is None
    assert result["dual_tier_pays"] is False
    assert evaluate(overhead=2.0)["quarters_to_break_even_from_20pct_at_10pts"] == 0  # s* 0.091: 20% is already past it


def test_model_command_says_there_is_no_break_even_rather_than_a_negative_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert routetax(["model", "--overhead", "4.99"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("break-even agentic share"))
    assert "none" in line and "2.75" in line and not re.search(r"-\d", line)
    assert not re.search(r"-\d+%", out)  # nor a negative saving: 148% above mini, not -148% below it
    trajectory = next(line for line in out.splitlines() if line.startswith("trajectory"))
    assert "never" in trajectory
    assert routetax(["model", "--overhead", "4.99", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["break_even_agentic_share"] is None
    assert result["break_even_max_overhead"] == pytest.approx(2.75)
    assert routetax(["model", "--overhead", "2.0"]) == 0
    assert "20% is already above the break-even 0.091" in capsys.readouterr().out
