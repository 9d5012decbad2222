"""`routetax audit`'s report a team can share (issue 30 items 5 and 6): the logged spend on the projection's monthly
basis, breakdowns by team, key, model and session, the Markdown and HTML pages; and the issue's smaller defects.

Each test of a defect failed on main at f93f38e (said in its docstring).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax
from metering.audit.groups import Dimension, Groups
from metering.audit.scan import Scanner, ScanOptions
from metering.audit.sources import Progress
from tests.test_audit import MINI, NANO, agentic_chat, audit, chat, completion, litellm_row, write_jsonl


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


# ---------------------------------------------------------------------------------------------------------------
# Breakdowns by team, key, model and session
# ---------------------------------------------------------------------------------------------------------------

HASHED_KEY = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"  # the example row's api_key column


def team_row(n: int, team: str, alias: str | None, session: str | None, agentic: bool, model: str = "gpt-5.4-mini"):
    """A LiteLLM row as `row_to_json` prints it, with the team, key alias and session LiteLLM's proxy writes."""
    row = litellm_row(
        f"r{n}",
        agentic_chat() if agentic else chat("Hi"),
        team_id=team,
        session_id=session,
        model=model,
        startTime=f"2026-11-{1 + n % 3:02d}T10:{n % 60:02d}:00.000",
        spend=0.002,
    )
    row["metadata"] = {**row["metadata"], "user_api_key_team_id": team}
    if alias is not None:
        row["metadata"]["user_api_key_alias"] = alias
    return row


def breakdown_rows() -> list[dict[str, Any]]:
    rows = []
    for n in range(30):
        team = "search" if n < 20 else "support"
        alias = "web-frontend" if n % 2 else "nightly-batch"
        rows.append(team_row(n, team, alias if n != 29 else None, f"s{n // 5}", agentic=n >= 20 or n % 4 == 0))
    rows.append(team_row(30, "support", "web-frontend", None, agentic=False, model="gpt-5.4-nano"))
    return rows


def test_breakdowns_by_team_key_model_and_session_add_up_to_the_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: no breakdown at all, though LiteLLM rows carry team_id, the key alias, the model and session_id."""
    log = write_jsonl(tmp_path / "spend.jsonl", breakdown_rows())
    code, r = audit(capsys, str(log))
    assert code == 0 and r["requests"] == 31
    b = r["breakdowns"]
    assert list(b) == ["team", "key", "model", "session"]
    teams = {row["name"]: row for row in b["team"]}
    assert teams["search"]["requests"] == 20 and teams["support"]["requests"] == 11
    assert teams["search"]["agentic_share"] == pytest.approx(5 / 20) and teams["support"]["agentic_share"] == 10 / 11
    assert teams["search"]["logged_spend_usd"] == pytest.approx(20 * 0.002)
    scale = r["monthly_requests"] / r["requests"]
    assert teams["search"]["logged_spend_monthly_usd"] == pytest.approx(20 * 0.002 * scale)
    assert {row["name"] for row in b["key"]} == {"web-frontend", "nightly-batch", "(none)"}  # aliases, never the key
    assert {row["name"]: row["requests"] for row in b["model"]} == {"gpt-5.4-mini": 30, "gpt-5.4-nano": 1}
    for dimension, rows in b.items():
        assert sum(row["requests"] for row in rows) == 31, dimension
        for policy, usd in r["projected_monthly_usd"].items():
            if usd is not None and not policy.endswith("_amortised"):
                assert sum(row["projected_monthly_usd"][policy] for row in rows) == pytest.approx(usd), (
                    dimension,
                    policy,
                )
    routetax(["audit", str(log)])
    page = capsys.readouterr().out
    assert "by team" in page and "search" in page and "web-frontend" in page
    routetax(["audit", str(log), "--markdown"])
    markdown = capsys.readouterr().out
    assert "| search | 20 | 25.0% |" in markdown
    for output in (json.dumps(r), page, markdown):
        assert HASHED_KEY not in output


def test_a_breakdown_shows_the_top_groups_and_the_rest_as_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rows = [team_row(n, "t", "k", f"session-{n % 25:02d}", agentic=False) for n in range(100)]
    rows += [team_row(100 + n, "t", "k", "session-big", agentic=True) for n in range(30)]
    _, r = audit(capsys, str(write_jsonl(tmp_path / "spend.jsonl", rows)))
    sessions = r["breakdowns"]["session"]
    assert len(sessions) == 11 and sessions[0]["name"] == "session-big" and sessions[0]["agentic_share"] == 1.0
    assert sessions[-1]["name"] == "(other)" and sessions[-1]["requests"] == 130 - 30 - 9 * 4
    assert all(row["exact"] for row in sessions)


def test_bodies_are_broken_down_by_model_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [chat("Hi"), chat("Hi", model="gpt-5.4-nano"), agentic_chat()]
    _, r = audit(capsys, str(write_jsonl(tmp_path / "bodies.jsonl", rows)))
    assert list(r["breakdowns"]) == ["model"]
    assert {row["name"]: row["requests"] for row in r["breakdowns"]["model"]} == {"gpt-5.4-mini": 2, "gpt-5.4-nano": 1}
    assert r["breakdowns"]["model"][0]["logged_spend_usd"] is None


def test_a_dimension_with_more_names_than_it_keeps_is_folded_into_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded however many sessions the logs hold (LiteLLM gives each request its own by default);
    the groups and `(other)` still add up to every request."""
    monkeypatch.setattr(Groups, "SESSIONS_KEEP", 5)
    monkeypatch.setattr(Groups, "SESSIONS_FOLD_AT", 10)
    scanner = Scanner(ScanOptions())
    for n in range(200):
        session = "busy" if n % 2 else f"once-{n}"
        scanner.feed(json.dumps(team_row(n, "t", "k", session, agentic=False)).encode())
    tally = scanner.finish()
    assert len(tally.groups.sessions) <= 10
    groups = tally.groups.group(Dimension.SESSION.value)
    assert groups["busy"].requests == 100
    assert sum(group.requests for group in groups.values()) == 200
    assert Dimension.SESSION.value in tally.groups.folded
    assert Dimension.TEAM.value not in tally.groups.folded


@pytest.mark.parametrize("fold", [False, True])
def test_a_rows_cell_and_session_counted_in_one_pass_give_the_breakdowns_of_counting_each(
    monkeypatch: pytest.MonkeyPatch, fold: bool
) -> None:
    """A LiteLLM row's model × team × key cell and its session cell are counted together (issue 30, speed): the same
    breakdowns as counting each on its own, with rows of logged and of estimated tokens, and while the sessions and
    the cells are folded (a fold moves buckets the pair looked up before it may no longer be in its table)."""
    from metering.audit.scan import Bucket

    if fold:
        monkeypatch.setattr(Groups, "SESSIONS_KEEP", 3)
        monkeypatch.setattr(Groups, "SESSIONS_FOLD_AT", 6)
        monkeypatch.setattr(Groups, "KEEP", 2)
        monkeypatch.setattr(Groups, "FOLD_AT", 4)

    def tally_of_rows() -> Any:
        scanner = Scanner(ScanOptions())
        for n in range(120):
            row = team_row(n, f"team-{n % 3}", f"key-{n % 4}", f"s{n % 9}" if n % 5 else None, agentic=n % 3 == 0)
            row["model"] = f"gpt-5.4-{('mini', 'nano')[n % 2]}"
            if n % 7 == 0:  # no usage logged: its tokens are estimated
                row["prompt_tokens"] = row["completion_tokens"] = 0
            scanner.feed(json.dumps(row).encode())
        return scanner.finish()

    def breakdowns(tally: Any) -> dict[str, Any]:
        return {
            dimension: {
                name: (g.requests, g.agentic, g.spend_usd, g.spend_requests, {k: vars(b) for k, b in g.buckets.items()})
                for name, g in tally.groups.group(dimension).items()
            }
            for dimension in tally.groups.present()
        } | {"folded": sorted(tally.groups.folded)}

    together = breakdowns(tally_of_rows())

    def each(self: Bucket, other: Bucket, o: Any) -> None:
        self.count(o)
        other.count(o)

    monkeypatch.setattr(Bucket, "count_with", each)
    assert together == breakdowns(tally_of_rows())
    assert list(together) == ["team", "key", "model", "session", "folded"]
    assert together["folded"] == (["key", "model", "session", "team"] if fold else [])


# ---------------------------------------------------------------------------------------------------------------
# --markdown, --html, --progress
# ---------------------------------------------------------------------------------------------------------------


def test_markdown_goes_to_standard_output_or_a_file_beside_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    log = write_jsonl(tmp_path / "spend.jsonl", breakdown_rows())
    assert routetax(["audit", str(log), "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("# routetax audit\n") and "## Cost by policy" in markdown
    assert "| dual tier |" in markdown and "routetax audit: 31 requests" not in markdown  # instead of the text page
    report = tmp_path / "report.md"
    assert routetax(["audit", str(log), "--json", "--markdown", str(report)]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)  # standard output is still the JSON, whole
    assert f"report written to {report}" in captured.err
    assert report.read_text() == markdown
    assert f"| mini only | ${r['projected_monthly_usd']['mini_only']:.4f} |" in markdown


def test_two_outputs_on_standard_output_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_jsonl(tmp_path / "spend.jsonl", breakdown_rows())
    assert routetax(["audit", str(log), "--json", "--markdown"]) == 2
    assert "--json and --markdown would both write standard output" in capsys.readouterr().err
    assert routetax(["audit", str(log), "--html", "-", "--markdown"]) == 2


def test_an_html_report_of_nothing_read_says_so_without_a_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    log = tmp_path / "junk.jsonl"
    log.write_text("not json\n")
    page = tmp_path / "report.html"
    assert routetax(["audit", str(log), "--html", str(page), "--markdown"]) == 2
    markdown = capsys.readouterr().out
    assert "## No request could be read" in markdown and "invalid_json" in markdown
    html = page.read_text()
    assert "No request could be read" in html and "no verdict" in html and "Cost by policy" not in html


def test_progress_is_plain_lines_on_a_pipe_when_asked_and_never_on_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quiet when standard error is not a terminal unless --progress; then lines a log file can hold (no `\\r`)."""
    log = write_jsonl(tmp_path / "pairs.jsonl", [{"request": chat("Hi"), "response": completion(10, 5)}] * 50)
    monkeypatch.setattr(Progress, "EVERY_LINES", 10)
    monkeypatch.setattr(Progress, "EVERY_S_LOG", 0.0)
    assert routetax(["audit", str(log), "--json"]) == 0
    quiet = capsys.readouterr()
    assert "lines/s" not in quiet.err and "lines read" not in quiet.err
    assert routetax(["audit", str(log), "--json", "--progress"]) == 0
    loud = capsys.readouterr()
    assert json.loads(loud.out)["requests"] == 50
    assert "routetax audit: 50 lines, " in loud.err and "lines/s - " in loud.err
    assert "routetax audit: 50 lines read in " in loud.err and "\r" not in loud.err
