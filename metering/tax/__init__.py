"""The routing-tax engine: one package for the published model, the measured report, the policies, the
statistics and the renderers, so that every reader of the tax — `routetax report`, `GET /v1/routing-tax`,
the demo, `routetax audit`, the policy switch and its gauges — computes it the same way.

- `model`: the published model of the tax, as the source analysis states it (`routetax model`).
- `assumptions`: what the engine is told rather than measures (one set, for the report and the audit);
  `roles`: the parts tiers play (cheap, mid, self-hosted, full); `policy_table`: every policy, by role.
- `report`: the measured report from ledger records (request-level cells, overhead, spend);
  `policies_by_task`, `cells`, `failure_remedy`, `measurement_spend`: the task-level figures and the verdict.
- `token_view`: every policy priced from tokens at the published rates; `audit`: the same questions answered
  from request logs a team already has (`routetax audit`).
- `break_even`, `trend`, `intervals`, `percentile`: the statistics both sides use.
- `figures`: the typed report objects (a policy's figures, the verdict per completed task) the JSON is
  written from and the renderers read; `report_text`, `task_text`, `audit_text`: the renderers.

The write path (metering's pipeline, ledger and metrics) never imports this package: the report reads
what the write path wrote. The verdict's closed set of decisions lives outside it (`metering.verdict`)
because the metrics export it.
"""

from metering.tax.assumptions import Assumptions
from metering.tax.audit import project
from metering.tax.audit_text import render as render_audit
from metering.tax.figures import Basis, Level, PolicyFigures, TaskVerdict
from metering.tax.model import evaluate as evaluate_model
from metering.tax.policies_by_task import add_task_figures
from metering.tax.policy_table import POLICIES, PolicyDef, policies_for
from metering.tax.report import build_report
from metering.tax.report_text import print_report
from metering.tax.roles import Role

__all__ = [
    "POLICIES",
    "Assumptions",
    "Basis",
    "Level",
    "PolicyDef",
    "PolicyFigures",
    "Role",
    "TaskVerdict",
    "add_task_figures",
    "build_report",
    "evaluate_model",
    "policies_for",
    "print_report",
    "project",
    "render_audit",
]
