"""Typed report objects: the policies and the verdict are objects that write the JSON contract and read it back.

The demo prints a report it read back over HTTP, `routetax report` one it computed in-process: the two must
print the same, and the objects must write exactly the fields the contract has always had.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from metering.tax import Assumptions
from metering.tax.figures import Level, PolicyFigures, TaskVerdict
from tests.test_measurement_spend import text_of
from tests.test_task_cells import report_of
from tests.test_tax_roles import requests_of, world

SELF_HOSTED = Assumptions(tiers=("nano", "mini", "qwen"), gpu_hour_usd={"qwen": 1.5}, hours=1.0, router_hour_usd=0.4)


def reports() -> list[dict[str, Any]]:
    """A world with every cell measured, and one where the self-hosted tier's agentic cell has no task."""
    full = world()
    partial = [t for t in full if not (t.arm == "qwen" and t.task_class == "agentic")]
    return [report_of(tasks, records=requests_of(tasks), a=SELF_HOSTED) for tasks in (full, partial)]


@pytest.mark.parametrize("index", [0, 1])
def test_the_report_read_back_from_json_prints_as_the_report_computed(index: int) -> None:
    report = reports()[index]
    read_back = json.loads(json.dumps(report))  # what the demo gets from GET /v1/routing-tax
    assert text_of(read_back) == text_of(report)


def test_policies_and_the_verdict_write_the_fields_they_read() -> None:
    for report in reports():
        report = json.loads(json.dumps(report))
        for level, policies in (
            (Level.REQUEST, report["measured"]["policies"]),
            (Level.TASK, report["measured"]["tasks"]["policies"]),
        ):
            for name, data in policies.items():
                assert PolicyFigures.from_json(name, data, level).to_json() == data, (level, name)
        verdict = report["verdict"]
        fields = {f.name for f in dataclasses.fields(TaskVerdict)}
        assert TaskVerdict.from_json(verdict).to_json() == {k: v for k, v in verdict.items() if k in fields}
    partial = reports()[1]["measured"]["tasks"]["policies"]
    assert partial["qwen_only"]["measured"] is False and partial["qwen_only"]["missing_cells"] == ["qwen/agentic"]
    assert "marginal_cost_per_completed_task_usd" in reports()[0]["measured"]["tasks"]["policies"]["qwen_only"]
