"""`routetax audit`'s report a team can share (issue 30 items 5 and 6): the logged spend on the projection's monthly
basis, breakdowns by team, key, model and session, the Markdown and HTML pages; and the issue's smaller defects.

Each test of a defect failed on main at f93f38e (said in its docstring).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax
from tests.test_audit import MINI, NANO, audit, chat, completion, litellm_row, write_jsonl


def priority_pairs(n: int, prompt: int = 1000, completion_tokens: int = 100) -> list[dict[str, Any]]:
    """Single-turn request/answer pairs whose answers report `service_tier: priority`."""
    return [{"request": chat("Hi"), "response": completion(prompt, completion_tokens, service_tier="priority")}] * n


def test_priority_requests_on_nano_are_priced_by_the_rule_and_the_report_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: nano_only priced priority-logged requests at 2× nano's standard rates with no word of it (litellm's
    map publishes no priority rate for gpt-5.4-nano). The figure is the price rules'; the report now says so, and
    what nano's share would be at its standard rates."""
    log = write_jsonl(tmp_path / "pairs.jsonl", priority_pairs(4))
    code, r = audit(capsys, str(log))
    assert code == 0
    standard = 4 * (1000 * NANO["input"] + 100 * NANO["output"])
    assert r["projected_monthly_usd"]["nano_only"] == pytest.approx(2 * standard)  # the rule's figure, kept
    priority = r["priority_on_nano"]
    assert priority["requests"] == 4 and priority["nano_multiplier"] == 2.0
    assert priority["nano_only_premium_usd_month"] == pytest.approx(standard)
    assert priority["single_turn_premium_usd_month"] == pytest.approx(standard)
    assert priority["note"] in r["assumptions"]
    assert "no priority rate for gpt-5.4-nano" in priority["note"]
    routetax(["audit", str(log)])
    page = capsys.readouterr().out
    assert "4 logged requests were served at priority" in page


def test_no_priority_request_no_priority_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"request": chat("Hi"), "response": completion(1000, 100)}]
    _, r = audit(capsys, str(write_jsonl(tmp_path / "pairs.jsonl", rows)))
    assert r["priority_on_nano"] is None
    assert not any("priority rate" in note for note in r["assumptions"])


def spend_rows(days: int, per_day: int, spend: float) -> list[dict[str, Any]]:
    """LiteLLM rows over `days` days, each with a logged `spend`."""
    return [
        litellm_row(f"r{d}-{i}", chat("Hi"), spend=spend, startTime=f"2026-11-{d + 1:02d}T{10 + i:02d}:00:00.000")
        for d in range(days)
        for i in range(per_day)
    ]


def test_logged_spend_is_put_on_the_projections_monthly_basis(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Before: 14 days' logged spend was printed beside monthly projections, on no common basis."""
    log = write_jsonl(tmp_path / "spend.jsonl", spend_rows(14, 2, 0.1))
    code, r = audit(capsys, str(log))
    assert code == 0 and r["monthly_basis"] == "observed_rate"
    assert r["logged_spend_usd"] == pytest.approx(2.8)
    scale = r["monthly_requests"] / r["requests"]
    assert r["logged_spend_monthly_usd"] == pytest.approx(2.8 * scale)
    assert r["logged_spend_requests"] == 28
    # the same basis as the projections: mini-only of these rows (logged usage, standard rates) scaled alike
    mini = 28 * ((2000 - 512) * MINI["input"] + 512 * MINI["cached"] + 100 * MINI["output"])
    assert r["projected_monthly_usd"]["mini_only"] == pytest.approx(mini * scale)
    routetax(["audit", str(log)])
    page = capsys.readouterr().out
    assert f"${2.8 * scale:,.2f} a month on the projection's basis" in page


def test_a_logged_spend_on_some_requests_says_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [litellm_row("r1", chat("Hi"), spend=0.5), {"request": chat("Hi"), "response": completion(10, 5)}]
    log = write_jsonl(tmp_path / "mixed.jsonl", rows)
    _, r = audit(capsys, str(log), "--calls-per-month", "20")
    assert r["logged_spend_requests"] == 1 and r["logged_spend_monthly_usd"] == pytest.approx(0.5 * 20 / 2)
    routetax(["audit", str(log), "--calls-per-month", "20"])
    assert "(the 1 of 2 requests that logged one)" in capsys.readouterr().out
