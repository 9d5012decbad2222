"""Policies keyed by tier role, not tier name: a deployment that renames its tiers keeps its policies.

The report's policies (mini-only, nano-only, qwen-only, agentic to qwen) were literal tier names; a
deployment calling its tiers `small`, `medium` and `local` got every one of them "not measured", and dual
weighed against a `mini` it did not have. Roles come from `tiers.<name>.role`, else the default tier
names, else the model a tier serves (docs/routing-tax.md, tier roles).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metering.metrics import Metrics
from metering.record import Record
from metering.tasks import TaskRecord
from metering.tax import Assumptions
from metering.tax.roles import Role
from router.config import ConfigError, load_config
from router.report import assumptions_for
from tests.test_task_cells import many, report_of, request_of

RENAMED = {"nano": "small", "mini": "medium", "qwen": "local", "full": "big"}


def world() -> list[TaskRecord]:
    """Every cell measured: routed nano single-turn and mini agentic, the rest explored."""
    return [
        *many("nano", "single_turn", 0.0002, 52, 48),
        *many("mini", "single_turn", 0.0010, 54, 46, explored=True),
        *many("qwen", "single_turn", 0.0001, 40, 60, explored=True),
        *many("nano", "agentic", 0.0015, 39, 61, explored=True),
        *many("mini", "agentic", 0.0040, 72, 28),
        *many("qwen", "agentic", 0.0005, 30, 70, explored=True),
    ]


def renamed(tasks: list[TaskRecord]) -> list[TaskRecord]:
    return [dataclasses.replace(t, arm=RENAMED[t.arm or ""], tiers=[RENAMED[x] for x in t.tiers]) for t in tasks]


def requests_of(tasks: list[TaskRecord]) -> list[Record]:
    out = []
    for t in tasks:
        record = request_of(t, explored=t.explored)
        record.counterfactual_usd = {t.arm or "": t.cost_usd}
        out.append(record)
    return out


def configured(tmp_path: Path, tiers: str) -> Assumptions:
    path = tmp_path / "routetax.yaml"
    path.write_text("tiers:\n" + tiers)
    return assumptions_for(load_config(path, environ={}))


ROLES = (
    "  small: {model: gpt-5.4-nano, role: cheap}\n"
    "  medium: {model: gpt-5.4-mini, role: mid}\n"
    "  local: {model: my-own-model, base_url: 'http://127.0.0.1:8000/v1', dialect: vllm, role: self_hosted}\n"
    "  big: {model: gpt-5.4, role: full}\n"
    "policy: {single_turn: small, agentic: medium}\n"
)
DEFAULT_NAMES = (
    "  nano: {model: gpt-5.4-nano}\n  mini: {model: gpt-5.4-mini}\n"
    "  qwen: {model: my-own-model, base_url: 'http://127.0.0.1:8000/v1', dialect: vllm}\n  full: {model: gpt-5.4}\n"
)


def _by_name(value: Any) -> Any:
    """A report part with the renamed tiers' names taken back to the defaults, to compare two deployments."""
    if isinstance(value, dict):
        return {_by_name(k): _by_name(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_by_name(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[a-z]+", lambda m: {v: k for k, v in RENAMED.items()}.get(m.group(0), m.group(0)), value)
    return value


def test_a_deployment_that_renames_its_tiers_keeps_every_policy(tmp_path: Path) -> None:
    default = configured(tmp_path, DEFAULT_NAMES)
    roles = configured(tmp_path, ROLES)
    assert roles.roles == {Role.CHEAP: "small", Role.MID: "medium", Role.SELF_HOSTED: "local", Role.FULL: "big"}
    assert roles.tiers == ("small", "medium", "local")

    tasks = world()
    ours = report_of(renamed(tasks), records=requests_of(renamed(tasks)), a=roles)
    theirs = report_of(tasks, records=requests_of(tasks), a=default)
    policies = ours["measured"]["tasks"]["policies"]
    assert list(policies) == ["dual", "medium_only", "small_only", "local_only", "agentic_to_local"]
    assert all(p["measured"] for p in policies.values())
    assert _by_name(policies) == theirs["measured"]["tasks"]["policies"]  # the same figures, under its own names
    assert list(ours["measured"]["policies"]) == list(policies)  # the request-level table too
    assert ours["measured"]["policies"]["medium_only"]["measured"]
    verdict = ours["verdict"]
    assert verdict["mid_policy"] == "medium_only"
    assert _by_name(verdict["bottom_line"]) == theirs["verdict"]["bottom_line"]
    assert "against medium-only" in verdict["bottom_line"] and "mini" not in verdict["bottom_line"]
    assert ours["measured"]["tasks"]["break_even"] == theirs["measured"]["tasks"]["break_even"]


def test_roles_follow_the_model_a_tier_serves_when_unsaid(tmp_path: Path) -> None:
    a = configured(
        tmp_path,
        "  small: {model: gpt-5.4-nano}\n  medium: {model: gpt-5.4-mini}\n"
        "  local: {model: Qwen/Qwen3.5-9B, base_url: 'http://127.0.0.1:8000/v1', dialect: vllm}\n"
        "policy: {single_turn: small, agentic: medium}\n",
    )
    assert a.roles == {Role.CHEAP: "small", Role.MID: "medium", Role.SELF_HOSTED: "local"}


def test_a_role_no_tier_plays_drops_its_policies_instead_of_reporting_them_unmeasured(tmp_path: Path) -> None:
    a = configured(tmp_path, "  nano: {model: gpt-5.4-nano}\n  mini: {model: gpt-5.4-mini}\n")
    assert Role.SELF_HOSTED not in a.roles
    report = report_of([t for t in world() if t.arm != "qwen"], a=a)
    assert list(report["measured"]["tasks"]["policies"]) == ["dual", "mini_only", "nano_only"]
    assert list(report["measured"]["policies"]) == ["dual", "mini_only", "nano_only"]


def test_two_tiers_cannot_play_one_role(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tiers\.medium\.role: cheap is already played by tier 'small'"):
        configured(
            tmp_path, "  small: {model: gpt-5.4-nano, role: cheap}\n  medium: {model: gpt-5.4-mini, role: cheap}\n"
        )


def test_the_dashboard_shows_dual_against_the_mid_tier_whatever_it_is_called(tmp_path: Path) -> None:
    # The panel selected `policy=~"dual|mini_only"`: a deployment whose mid tier is `medium` saw dual alone.
    tasks = renamed(world())
    report = report_of(tasks, records=requests_of(tasks), a=configured(tmp_path, ROLES))
    metrics = Metrics()
    metrics.set_routing_tax(report, "dual")
    board = json.loads((Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "routetax.json").read_text())
    [expr] = [
        t["expr"]
        for p in board["panels"]
        for t in p.get("targets", [])
        if "routetax_policy_cost_per_completed_task_usd" in t["expr"]
    ]
    selectors = dict(re.findall(r'(\w+)=~"([^"]+)"', expr.split("routetax_policy_cost_per_completed_task_usd")[1]))
    shown = {
        sample.labels["policy"]
        for family in text_string_to_metric_families(metrics.render().decode())
        if family.name == "routetax_policy_cost_per_completed_task_usd"
        for sample in family.samples
        if all(re.fullmatch(pattern, sample.labels.get(label, "")) for label, pattern in selectors.items())
    }
    assert shown == {"dual", "medium_only"}
