"""`routetax audit --html` opened in a real browser: Debian's chromium, headless, reading the file from disk.

Chromium's `--dump-dom` prints the document as the browser built it after loading the page (its HTML
parser, its SVG parser), so the test reads what a person opening the file would get, not what the
renderer meant to write: the sections are there, the charts are SVG in the page, and every mark carries
the figure `--json` gives for the same logs. Chromium is started with no network features (and the page
has nothing to fetch: no script, stylesheet, font or image comes from outside it). No Playwright: it
would download a browser build of its own and a Node driver, and `--dump-dom` answers what is asked.

Chromium missing is a failure, not a skip: `.ci/run` installs it (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import metering.tax.audit as tax_audit
from cli import main as routetax
from tests.running import Processes
from tests.test_audit import write_jsonl
from tests.test_audit_report import breakdown_rows

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Marks(HTMLParser):
    """Every element of the dumped DOM with its attributes, and the text of the embedded JSON block."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.json_text = ""
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        self._in_json = tag == "script" and attributes.get("id") == "audit-json"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json_text += data

    def having(self, attribute: str) -> list[dict[str, str | None]]:
        return [attrs for _tag, attrs in self.elements if attribute in attrs]


def chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    assert found is not None, (
        "Debian's chromium is needed to open the HTML report in a real browser: apt-get install -y chromium "
        "(.ci/run installs it)"
    )
    return found


def dump_dom(processes: Processes, page: Path, profile: Path) -> str:
    done = processes.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def test_the_html_report_renders_in_chromium_and_its_charts_carry_the_json_figures(
    tmp_path: Path, processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_jsonl(tmp_path / "spend.jsonl", breakdown_rows())
    page = tmp_path / "report.html"
    assert routetax(["audit", str(log), "--json", "--html", str(page)]) == 0
    r: dict[str, Any] = json.loads(capsys.readouterr().out)
    source = page.read_text()
    assert not re.search(r"""(src|href)\s*=|<link|@import|url\(""", source)  # nothing fetched from anywhere

    dom = Marks()
    dom.feed(dump_dom(processes, page, tmp_path / "profile"))
    tags = [tag for tag, _ in dom.elements]
    assert tags.count("svg") == 3 and "table" in tags
    assert json.loads(dom.json_text) == r  # the page holds the very answer --json printed

    # cost by policy: a bar per policy, its figure the JSON's to the last digit, dual's interval its overhead band
    projected = r["projected_monthly_usd"]
    bars = {attrs["data-policy"]: attrs for attrs in dom.having("data-policy")}
    assert set(bars) == {policy for policy, usd in projected.items() if usd is not None} - {"dual_low", "dual_high"}
    for policy, attrs in bars.items():
        assert float(attrs["data-usd"] or "nan") == projected[policy]
    assert float(bars["dual"]["data-low"] or "nan") == projected["dual_low"]
    assert float(bars["dual"]["data-high"] or "nan") == projected["dual_high"]

    # the agentic share per day, with each day's interval
    days = {attrs["data-day"]: attrs for attrs in dom.having("data-day")}
    assert list(days) == [day["day"] for day in r["per_day"]]
    for day in r["per_day"]:
        attrs = days[day["day"]]
        assert float(attrs["data-share"] or "nan") == day["agentic_share"]
        assert float(attrs["data-low"] or "nan") == day["interval"]["low"]
        assert float(attrs["data-high"] or "nan") == day["interval"]["high"]
        assert int(attrs["data-requests"] or "0") == day["requests"]

    # the token mix: uncached input, cached input and output of each class
    parts = {}
    for _tag, attrs in dom.elements:
        if "data-class" in attrs:
            label = attrs["data-class"]
        elif "data-part" in attrs:
            parts[(label, attrs["data-part"])] = int(attrs["data-tokens"] or "0")
    for label, t in r["tokens"].items():
        assert parts[(label, "input")] == t["prompt_tokens"] - t["cached_tokens"]
        assert parts[(label, "cached")] == t["cached_tokens"]
        assert parts[(label, "output")] == t["completion_tokens"]

    # the breakdowns' tables are in the page
    sections = [attrs.get("id") for tag, attrs in dom.elements if tag == "section"]
    assert sections[:3] == ["bottom_line", "answer", "projected_monthly_usd"] and "breakdowns" in sections


def test_the_bottom_line_comes_first_when_the_answer_has_one(
    tmp_path: Path, processes: Processes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page shows what the JSON holds: a bottom line (issue 30 item 5) opens the page when present."""
    projected = tax_audit.project

    def with_bottom_line(*args: Any, **kwargs: Any) -> dict[str, Any]:
        result = projected(*args, **kwargs)
        result["bottom_line"] = {
            "text": "Deploy dual: saves $1.23 a month [0.50, 2.00] against mini_only",
            "deploy": "dual",
            "saves_usd_month": 1.23,
            "low": 0.5,
            "high": 2.0,
            "against": "mini_only",
            "flips_if": "the agentic share passes 79.7%",
        }
        return result

    monkeypatch.setattr("cli.audit.project", with_bottom_line)
    page = tmp_path / "report.html"
    assert routetax(["audit", str(write_jsonl(tmp_path / "spend.jsonl", breakdown_rows())), "--html", str(page)]) == 0
    capsys.readouterr()
    dom = Marks()
    dom.feed(dump_dom(processes, page, tmp_path / "profile"))
    sections = [attrs.get("id") for tag, attrs in dom.elements if tag == "section"]
    assert sections[0] == "bottom_line"
    assert "Deploy dual: saves $1.23 a month" in page.read_text()
