"""One tax engine: `routetax audit` and the routing-tax report give the same policy figures for the same requests.

The audit reads request logs a team already has; the report reads the ledger routetax writes. Before the
engine they priced policies with two codes (their own Assumptions, policy lists and break-even solvers),
so a team comparing its audit with its first report could not tell a difference in traffic from a
difference in arithmetic. Here the same requests go both ways: as a request/response log to the audit,
and as ledger records — each with the repricing the metering pipeline attaches (`counterfactuals`, the
same call the pipeline makes) — to the report. Every policy's token-priced spend and cost per completed
task at the published success rates (the report's `measured.published_view`, the audit's projection with
the logs taken as one month) must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from classifier import classify
from cli import main as routetax
from metering.cost import counterfactuals
from metering.prices import price_for
from metering.record import Attempt, Record, Usage
from metering.tax import build_report
from tests.test_audit import agentic_chat, chat, completion, tool_loop, write_jsonl

PRICES = {"nano": price_for("gpt-5.4-nano"), "mini": price_for("gpt-5.4-mini"), "qwen": price_for("Qwen/Qwen3.5-9B")}

# (request body, prompt tokens, cached tokens, completion tokens, reported service tier)
REQUESTS: list[tuple[dict[str, Any], int, int, int, str | None]] = [
    (chat("Summarise this paragraph for me."), 900, 0, 240, None),
    (chat("Translate 'good morning' to Portuguese."), 300, 0, 40, None),
    (chat("Write a haiku about invoices."), 120, 0, 60, "flex"),
    (chat("What is the capital of Australia?"), 80, 0, 12, None),
    (agentic_chat(), 2400, 1024, 180, None),
    (agentic_chat("Book the cheapest flight to Porto."), 3100, 2048, 320, None),
    (tool_loop(), 5200, 4096, 90, None),
    (tool_loop(), 6100, 5120, 75, "flex"),
]


def as_record(i: int, body: dict[str, Any], prompt: int, cached: int, out: int, tier: str | None) -> Record:
    """The request as the ledger keeps it: its class, its usage, and the pipeline's repricing at every tier."""
    usage = Usage(prompt, cached, out, 0, service_tier=tier or "default")
    label = classify(body).label
    served = "mini" if label == "agentic" else "nano"
    cost = counterfactuals(usage, {served: PRICES[served]})[served]
    return Record(
        request_id=f"r{i}",
        label=label,
        routed_tier=served,
        attempts=[Attempt(tier=served, model=served, cost_usd=cost, billed=True, usage=usage)],
        tier_path=[served],
        usage=usage,
        counterfactual_usd=counterfactuals(usage, PRICES),
    )


def test_the_audit_and_the_report_give_the_same_policy_figures_for_the_same_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = []
    for body, prompt, cached, out, tier in REQUESTS:
        response = completion(prompt, out, cached=cached, **({"service_tier": tier} if tier else {}))
        rows.append({"request": body, "response": response})
    log = write_jsonl(tmp_path / "pairs.jsonl", rows)
    assert routetax(["audit", str(log), "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["monthly_basis"] == "log_as_one_month"  # no times in the log: the projection is the log itself

    records = [as_record(i, *request) for i, request in enumerate(REQUESTS)]
    report = build_report(records)
    assert report["measured"]["agentic_share"] == audit["agentic_share"] == 0.5  # both classify alike

    published = report["measured"]["published_view"]["policies"]
    projected = audit["projected_monthly_usd"]
    per_task = audit["success_corrected"]["cost_per_completed_task_usd"]
    compared = ["dual", "mini_only", "nano_only", "agentic_to_qwen"]
    for name in compared:
        assert published[name]["spend_usd"] == pytest.approx(projected[name], rel=1e-12), name
        expected = per_task[name]
        got = published[name]["cost_per_completed_task_usd"]
        assert got is None if expected is None else got == pytest.approx(expected, rel=1e-12), name
    assert published["nano_only"]["cost_per_completed_task_usd"] is not None  # compared on numbers, not on Nones
    assert per_task["agentic_to_qwen"] is None  # no published rate for the self-hosted model, on either side
    completed = audit["success_corrected"]["completed_tasks_per_month"]
    for name in ("dual", "mini_only", "nano_only"):
        assert published[name]["completed_tasks"] == pytest.approx(completed[name], rel=1e-12), name
    # an unmeasured policy's estimate in the report is the audit's figure
    for name in ("nano_only", "qwen_only"):
        estimate = report["measured"]["policies"][name].get("estimate_at_published_rates_usd")
        assert estimate == (per_task.get(name) and pytest.approx(per_task[name], rel=1e-12))
    # and the logs' own tokens price mini-only the same on both sides
    assert report["measured"]["spend"]["counterfactual"]["mini"] == pytest.approx(projected["mini_only"], rel=1e-12)
