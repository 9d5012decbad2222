"""The routing-tax engine: one package for the published model, the measured report, the policies, the
statistics and the renderers, so that every reader of the tax — `routetax report`, `GET /v1/routing-tax`,
the demo, `routetax audit`, the policy switch and its gauges — computes it the same way.

- `model`: the published model of the tax, as the source analysis states it (`routetax model`).
- `report`: the measured report from ledger records (request-level cells, overhead, spend);
  `policies_by_task`, `cells`, `failure_remedy`, `measurement_spend`: the task-level figures and the verdict.
- `audit`: the same questions answered from request logs a team already has (`routetax audit`).
- `break_even`, `percentile`: the statistics both sides use.
- `report_text`, `task_text`, `audit_text`: the renderers.

The write path (metering's pipeline, ledger and metrics) never imports this package: the report reads
what the write path wrote. The verdict's closed set of decisions lives outside it (`metering.verdict`)
because the metrics export it.
"""

from metering.tax.audit import project
from metering.tax.audit_text import render as render_audit
from metering.tax.model import evaluate as evaluate_model
from metering.tax.policies_by_task import add_task_figures
from metering.tax.report import Assumptions, build_report
from metering.tax.report_text import print_report

__all__ = [
    "Assumptions",
    "add_task_figures",
    "build_report",
    "evaluate_model",
    "print_report",
    "project",
    "render_audit",
]
