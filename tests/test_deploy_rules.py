"""The Prometheus kit: promtool checks the config and rules and runs the alert unit tests (real promtool)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.running import Processes

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(processes: Processes, *args: str) -> subprocess.CompletedProcess[str]:
    result = processes.run([PROMTOOL, *args], cwd=PROM, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_config_and_rules(processes: Processes) -> None:
    out = promtool(processes, "check", "config", "prometheus.yml").stdout
    assert "2 rule files found" in out
    promtool(processes, "check", "rules", "alerts.yml", "recording.yml")


def test_promtool_alert_unit_tests_pass(processes: Processes) -> None:
    promtool(processes, "test", "rules", "alerts_test.yml", "alerts_test_weekly.yml", "recording_test.yml")


def test_alert_tests_are_current_and_cover_every_alert_both_ways(processes: Processes) -> None:
    processes.run([sys.executable, str(PROM / "gen_alerts_test.py"), "--check"], check=True, timeout=30)
    tests = [
        t
        for name in ("alerts_test.yml", "alerts_test_weekly.yml")
        for t in yaml.safe_load((PROM / name).read_text())["tests"]
    ]
    for rule in alert_rules():
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in cases), f"{rule['alert']}: no test fires it"
        assert any(not c["exp_alerts"] for c in cases), f"{rule['alert']}: no test keeps it quiet"


def test_the_unit_tests_can_fail(tmp_path: Path, processes: Processes) -> None:
    """A weakened rule (break-even moved to 0.95) must break its 'fires' test."""
    (tmp_path / "alerts.yml").write_text((PROM / "alerts.yml").read_text().replace("> 0.797", "> 0.95"))
    (tmp_path / "alerts_test.yml").write_text((PROM / "alerts_test.yml").read_text())
    (tmp_path / "recording.yml").write_text((PROM / "recording.yml").read_text())
    result = processes.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "RoutetaxAgenticShareAboveBreakEven fires" in result.stdout + result.stderr


def test_every_alert_is_documented() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", runbooks, re.M)
    }
    for rule in alert_rules():
        assert rule.get("for"), rule["alert"]
        notes = rule["annotations"]
        assert notes.get("summary") and notes.get("description"), rule["alert"]
        url = notes["runbook_url"]
        assert url.startswith("docs/runbooks.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no section {url} in docs/runbooks.md"
