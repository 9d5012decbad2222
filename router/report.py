"""The routing-tax report as this deployment configures it: windows, assumptions, and the report read from the ledger.

The report itself is metering's (`metering.tax_report`); what it needs from routetax's configuration —
the assumed costs and the tiers its policies compare — is translated here, once, for its three users:
`GET /v1/routing-tax`, the auto mode's policy switch, and `routetax report` (cli/report.py).
"""

from __future__ import annotations

from typing import Any

from metering.feedback import FeedbackStore
from metering.ledger import read_records
from metering.tax_report import Assumptions, build_report
from router.config import Config

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}


def assumptions_for(config: Config, hours: float = 0.0) -> Assumptions:
    """What the report needs from the configuration: its assumed costs and the tiers its policies use."""
    listed = [name for name in ("nano", "mini", "qwen") if name in config.tiers]
    return Assumptions(
        router_hour_usd=config.report.router_hour_usd,
        hours=hours,
        classifier_usd_per_request=config.report.classifier_usd_per_request,
        failure_cost_usd=config.report.failure_cost_usd,
        gpu_hour_usd={name: t.gpu_hour_usd for name, t in config.tiers.items() if t.gpu_hour_usd is not None},
        tiers=tuple(dict.fromkeys([*listed, *config.explore_tiers()])),
        single_turn_tier=config.policy.single_turn,
    )


async def report_from_store(store: Any, since: float, until: float, config: Config) -> dict[str, Any]:
    """The report over [since, until): the ledger's records and the feedback, with the router charged for the window."""
    records = [record async for record in read_records(store, since, until)]
    feedback = await FeedbackStore(store).all()
    report = build_report(records, feedback, assumptions_for(config, (until - since) / 3600))
    report["window"] = {"since": since, "until": until}
    return report
