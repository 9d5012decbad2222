"""The routing-tax report as this deployment configures it: windows, assumptions, and the report read from the ledger.

The report itself is metering's (`metering.tax.report`); what it needs from routetax's configuration —
the assumed costs and the tiers its policies compare — is translated here, once, for its three users:
`GET /v1/routing-tax`, the auto mode's policy switch, and `routetax report` (cli/report.py). The window
is read here too, once for the endpoint and the command, so that both charge the same router and GPU
hours for the same question.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from metering.feedback import FeedbackStore
from metering.ledger import read_records
from metering.tasks import TaskBook, TaskSettings
from metering.tax import Assumptions, build_report
from metering.tax.policies_by_task import add_task_figures
from metering.tax.roles import LISTED_ROLES
from metering.timespec import parse_time
from router.config import Config

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}


class WindowError(ValueError):
    """A window that cannot be read or holds no time; `param` names the input at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ReportWindow:
    """The time a report covers, `since <= started_at < until`: its records, and the hours it charges.

    Router and GPU hours are paid by the hour whether traffic comes or not, so the report charges the
    whole window asked for; charging only the span between the first and last request made a report's
    figures jump with every late request, and made 1 h and 24 h windows over the same traffic identical.
    """

    since: float
    until: float

    @property
    def hours(self) -> float:
        return (self.until - self.since) / 3600


def report_window(window: str, since: str | None, until: str | None, now: float) -> ReportWindow:
    """The window `routetax report` and `GET /v1/routing-tax` are asked for: `since`/`until` when given
    (ISO-8601, unix seconds, or `1h` for an hour ago), else the named `window` (1h, 24h, 7d) ending at `until`."""
    try:
        end = parse_time(until, now) if until else now
    except argparse.ArgumentTypeError as exc:
        raise WindowError(str(exc), "until") from None
    if since:
        try:
            start = parse_time(since, now)
        except argparse.ArgumentTypeError as exc:
            raise WindowError(str(exc), "since") from None
    elif window in WINDOWS:
        start = end - WINDOWS[window]
    else:
        raise WindowError(f"window must be one of {', '.join(sorted(WINDOWS))}", "window")
    if start >= end:
        raise WindowError("the window is empty: since must be before until", "since")
    return ReportWindow(start, end)


def assumptions_for(config: Config, hours: float = 0.0) -> Assumptions:
    """What the report needs from the configuration: its assumed costs, the tier playing each role (the policies
    are keyed by role), and where routing sends each class."""
    roles = config.roles()
    listed = [roles[role] for role in LISTED_ROLES if role in roles]
    remedy = config.report.failure_remedy
    return Assumptions(
        router_hour_usd=config.report.router_hour_usd,
        hours=hours,
        classifier_usd_per_request=config.report.classifier_usd_per_request,
        failure_cost_usd=config.report.failure_cost_usd or (remedy.usd or 0.0 if remedy is not None else 0.0),
        failure_redo_on=remedy.redo_on if remedy is not None else None,
        gpu_hour_usd={name: t.gpu_hour_usd for name, t in config.tiers.items() if t.gpu_hour_usd is not None},
        tiers=tuple(dict.fromkeys([*listed, *config.explore_tiers()])),
        roles=roles,
        single_turn_tier=config.policy.single_turn,
        agentic_tier=config.policy.agentic,
    )


async def report_from_store(store: Any, since: float, until: float, config: Config) -> dict[str, Any]:
    """The report over [since, until): the ledger's records and the feedback, with the router charged for the window,
    and the tasks that started in it — closed ones as recorded, open ones as they stand now."""
    records = [record async for record in read_records(store, since, until)]
    feedback = await FeedbackStore(store).all()
    window = ReportWindow(since, until)
    assumptions = assumptions_for(config, window.hours)
    report = build_report(records, feedback, assumptions)
    book = TaskBook(store, _task_settings(config))
    closed = [task async for task in book.read(since, until)]
    open_ = await book.read_open(since, until)
    add_task_figures(report, records, closed, open_, assumptions, config.report.outcomes_are_a_sample)
    report["window"] = {"since": since, "until": until, "hours": window.hours}
    return report


def _task_settings(config: Config) -> TaskSettings:
    """The failure rules an open task is read with: the ones its closing will apply."""
    tasks = config.tasks
    return TaskSettings(
        enabled=tasks.enabled, idle_s=tasks.idle_s, max_steps=tasks.max_steps, repeated_calls=tasks.repeated_calls
    )
