"""Build deploy/grafana/routetax.json, the routetax Grafana dashboard.

Run: python deploy/grafana/build_dashboard.py  (tests/test_deploy_dashboard.py checks the committed
JSON is current and runs every panel query against a real Prometheus scraping a real proxy).
Queries use fixed windows, never Grafana variables, so they run as they are against the HTTP API.

The dashboard imports into an existing Grafana: every panel reads the `datasource` variable (any Prometheus
the user picks, no fixed uid), and `__inputs` / `__requires` make Grafana's import ask for that Prometheus
(Dashboards > New > Import), whose choice becomes the variable's default. Provisioned from a file (compose),
the placeholder is not replaced and the variable falls back to the default Prometheus.
Panels whose metrics may legitimately have no series (no retries yet, no open breaker) end in
`or on() vector(0)`: an empty panel reads as a defect, a zero reads as "none".
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "routetax.json"
DS_INPUT = "DS_PROMETHEUS"  # what Grafana's import asks for (`__inputs`)
DS = {"type": "prometheus", "uid": "${datasource}"}  # every panel and query: the dashboard's datasource variable
GRAFANA_VERSION = "11.1.0"  # the version compose runs; `__requires` says the dashboard needs it or later
DEGRADED = 'reason=~"bad_tool_json|empty|undeclared_tool|length_nothing_usable"'


def panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    w: int = 12,
    h: int = 8,
    description: str = "",
    thresholds: list[tuple[str, float]] | None = None,
) -> dict:
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]}},
        "targets": [
            {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": c, "value": v} for c, v in thresholds],
        }
    return p


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": 24, "h": 1}, "panels": []}


PANELS = [
    row("Spend and the routing tax"),
    panel(
        "Spend per hour by tier and class",
        [
            ("sum by (tier, class) (rate(routetax_cost_usd_total[1h])) * 3600", "{{tier}} / {{class}}"),
            ("routetax:spend_usd_per_hour:rate1h", "total"),
            ("routetax:budget_usd_per_hour", "budget (alert constant)"),
        ],
        unit="currencyUSD",
        description="Billed spend over all attempts, USD/hour at the last hour's rate.",
    ),
    panel(
        "Savings vs mini-only",
        [
            ("routetax_savings_vs_mini", "per completed task, {{instance}} policy window (the verdict's figure)"),
            ("routetax:savings_vs_mini_tokens:1h", "token view, cluster, last hour (same tokens at mini's rates)"),
        ],
        unit="percentunit",
        description=(
            "Per completed task: 1 - dual-tier's cost per completed task / mini-only's (measured cells, fair "
            "baseline). The token view ignores success rates: it is not the verdict. Below 0: dual-tier costs more."
        ),
        thresholds=[("red", None), ("green", 0)],
    ),
    panel(
        "Cost per completed task: dual-tier vs everything on the mid tier (95% interval)",
        [
            (
                # by role, not by tier name: a deployment whose mid tier is not called mini still gets its line
                'max by (policy, bound) (routetax_policy_cost_per_completed_task_usd{role=~"dual|mid_only"})',
                "{{policy}} {{bound}}",
            ),
            ("max by (decision) (routetax_verdict)", "verdict: {{decision}}"),
        ],
        unit="currencyUSD",
        description=(
            "Dual-tier as run and everything on the mid tier (mini_only by default; the role label selects it "
            "whatever the tier is called), each per completed task with its interval's ends (low, high), from "
            "each replica's policy window; the mid tier's policy is priced on the mid tier's own requests. The "
            "verdict (1 = in force) is dual_tier_pays or mini_only_cheaper only when the intervals are apart. A "
            "policy whose cells are unmeasured is absent: turn on policy.explore."
        ),
    ),
    panel(
        "Agentic share vs the published break-even (0.797)",
        [
            ("routetax:agentic_share:1h", "agentic share, last hour"),
            ("routetax:break_even_agentic_share:published", "published break-even 0.797"),
            (
                'max(routetax_break_even_agentic_share{source="measured"})'
                " or on() routetax:break_even_agentic_share:published",
                "measured break-even (published until measured)",
            ),
        ],
        unit="percentunit",
    ),
    panel(
        "Routing overhead vs the published band (0.15-0.20)",
        [
            ("routetax:routing_overhead:1h", "measured, cluster-wide, last hour (the alert's figure)"),
            ('max(routetax_routing_overhead{source="measured"}) or on() vector(0)', "measured (per replica window)"),
            ("routetax:routing_overhead:published_low", "published low 0.15"),
            ("routetax:routing_overhead:published_high", "published high 0.20"),
        ],
        unit="percentunit",
    ),
    row("Quality"),
    panel(
        "Success rate per tier x class",
        [
            (
                'sum by (tier, class) (rate(routetax_requests_total{outcome="success"}[5m]))'
                " / sum by (tier, class) (rate(routetax_requests_total[5m]))",
                "{{tier}} / {{class}} (outcome, by serving tier)",
            ),
            (
                "avg by (tier, class) (routetax_success_rate)",
                "{{tier}} / {{class}} (docs/routing-tax.md definition, first-routed tier)",
            ),
            ("routetax:success_rate:published", "published {{tier}} / {{class}}"),
        ],
        unit="percentunit",
        description=(
            "Outcome success by the tier that served the request; the cost model's success rate (first-routed "
            "tier, failure feedback applied, each replica over the auto policy's window); the published 0.39 / 0.721."
        ),
    ),
    panel(
        "Degraded and failed rate per tier x class",
        [
            (
                '(sum by (tier, class) (rate(routetax_requests_total{outcome=~"degraded|failed"}[5m]))'
                " / sum by (tier, class) (rate(routetax_requests_total[5m])))"
                " or (sum by (tier, class) (rate(routetax_requests_total[5m])) * 0)",
                "{{tier}} / {{class}}",
            ),
            (
                f"(sum by (from_tier) (rate(routetax_fallbacks_total{{{DEGRADED}}}[5m]))"
                " / on() group_left sum(rate(routetax_requests_total[5m]))) or on() vector(0)",
                "redone for degraded output: {{from_tier}}",
            ),
        ],
        unit="percentunit",
    ),
    row("Tokens and cache"),
    panel(
        "Tokens by kind",
        [
            ("sum by (kind) (rate(routetax_tokens_total[5m]))", "{{kind}}"),
        ],
        unit="short",
        description="Billed tokens/s; cached is inside prompt, reasoning inside completion.",
    ),
    panel(
        "Cache hit share (cached / prompt tokens)",
        [
            (
                '(sum(rate(routetax_tokens_total{kind="cached"}[1h]))'
                ' / sum(rate(routetax_tokens_total{kind="prompt"}[1h])))'
                " or on() vector(0)",
                "cache hit share",
            ),
        ],
        unit="percentunit",
    ),
    row("Resilience"),
    panel(
        "Retries by tier and reason",
        [
            ("sum by (tier, reason) (rate(routetax_retries_total[5m])) or on() vector(0)", "{{tier}} {{reason}}"),
        ],
        unit="reqps",
        w=8,
    ),
    panel(
        "Fallbacks by route and reason",
        [
            (
                "sum by (from_tier, to_tier, reason) (rate(routetax_fallbacks_total[5m])) or on() vector(0)",
                "{{from_tier}} -> {{to_tier}} {{reason}}",
            ),
        ],
        unit="reqps",
        w=8,
    ),
    panel(
        "Breaker open",
        [
            ("max by (tier) (routetax_breaker_open) or on() vector(0)", "{{tier}}"),
        ],
        kind="stat",
        w=8,
        thresholds=[("green", None), ("red", 1)],
    ),
    panel(
        "Upstream attempts by result",
        [
            ("sum by (tier, result) (rate(routetax_attempts_total[5m]))", "{{tier}} {{result}}"),
        ],
        unit="reqps",
    ),
    panel(
        "Requests per second by tier and class",
        [
            ("sum by (tier, class) (rate(routetax_requests_total[5m]))", "{{tier}} / {{class}}"),
        ],
        unit="reqps",
    ),
    row("Latency"),
    panel(
        "Proxy overhead p50 / p99",
        [
            ("histogram_quantile(0.5, sum by (le) (rate(routetax_proxy_overhead_seconds_bucket[5m])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(routetax_proxy_overhead_seconds_bucket[5m])))", "p99"),
        ],
        unit="s",
        w=8,
    ),
    panel(
        "Request duration p99 by tier",
        [
            (
                "histogram_quantile(0.99, sum by (le, tier) (rate(routetax_request_duration_seconds_bucket[5m])))",
                "{{tier}}",
            ),
        ],
        unit="s",
        w=8,
    ),
    panel(
        "Classifier time p99",
        [
            ("histogram_quantile(0.99, sum by (le) (rate(routetax_classifier_seconds_bucket[5m])))", "p99"),
        ],
        unit="s",
        w=8,
    ),
    row("Ledger and replicas"),
    panel(
        "Ledger spool depth",
        [
            ("max by (instance) (routetax_ledger_spool_depth) or on() vector(0)", "{{instance}}"),
        ],
        w=6,
        thresholds=[("green", None), ("red", 1)],
    ),
    panel(
        "Ledger write errors / records written",
        [
            (
                "sum by (instance) (rate(routetax_ledger_write_errors_total[5m])) or on() vector(0)",
                "errors {{instance}}",
            ),
            (
                "sum by (instance) (rate(routetax_ledger_records_written_total[5m])) or on() vector(0)",
                "written {{instance}}",
            ),
        ],
        unit="ops",
        w=12,
    ),
    panel(
        "Replicas up",
        [
            ('sum(up{job="routetax"})', "up"),
        ],
        kind="stat",
        w=6,
    ),
    # What the clients see: refusals, each virtual key's spend, time to first token (issue 31).
    row("Clients"),
    panel(
        "Refusals by status and reason",
        [
            (
                "sum by (status, reason) (rate(routetax_rejections_total[5m])) or on() vector(0)",
                "{{status}} {{reason}}",
            ),
        ],
        unit="reqps",
        w=8,
        description=(
            "Requests routetax answered with an error before any upstream was called: bad keys, budgets and "
            "rates (budget_exceeded, rate_limit_exceeded), bodies too large, unknown models. 0: none."
        ),
    ),
    panel(
        "Spend per virtual key (top 10)",
        [
            (
                "topk(10, sum by (key, team) (rate(routetax_key_spend_usd_total[1h])) * 3600) or on() vector(0)",
                "{{key}} ({{team}})",
            ),
        ],
        unit="currencyUSD",
        w=8,
        description=(
            "USD/hour each virtual key is charged (the real cost of its requests), summed over replicas, the ten "
            "biggest; compare with its budget (routetax_key_budget_usd, max by key). 0: open mode, no keys."
        ),
    ),
    panel(
        "Time to first token p50 / p99 by tier",
        [
            (
                "histogram_quantile(0.5, sum by (le, tier) (rate(routetax_ttft_seconds_bucket[5m])))",
                "p50 {{tier}}",
            ),
            (
                "histogram_quantile(0.99, sum by (le, tier) (rate(routetax_ttft_seconds_bucket[5m])))",
                "p99 {{tier}}",
            ),
        ],
        unit="s",
        w=8,
        description="Streams only: from the request to the first streamed event the client got, by serving tier.",
    ),
]


def layout(panels: list[dict]) -> list[dict]:
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y = 0, y + row_h
            row_h = 0
        p["gridPos"].update(x=x, y=y)
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return panels


def requires(panels: list[dict]) -> list[dict]:
    """What Grafana's import checks before it loads the dashboard: its version, the datasource, the panel types."""
    kinds = sorted({p["type"] for p in panels if p["type"] != "row"})
    return [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *({"type": "panel", "id": kind, "name": kind, "version": ""} for kind in kinds),
    ]


def datasource_variable() -> dict:
    """The Prometheus every panel reads, chosen from the Grafana's own: at import, the one picked for `__inputs`."""
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": False, "text": "Prometheus", "value": "${" + DS_INPUT + "}"},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def build() -> dict:
    panels = layout(PANELS)
    return {
        "__inputs": [
            {
                "name": DS_INPUT,
                "label": "Prometheus",
                "description": "The Prometheus that scrapes routetax (and loads deploy/prometheus/recording.yml)",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": requires(panels),
        "uid": "routetax",
        "title": "routetax",
        "tags": ["routetax"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource_variable()]},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
