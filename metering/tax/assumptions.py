"""What the routing-tax engine is told rather than measures: one set of inputs for the report and the audit.

Costs the traffic cannot show (the router's hours, the classifier, a failure's remedy, a GPU-hour), the
tiers each role is played by and where routing sends each class, and for the audit the volume to project
to. Every one of them is printed beside the figures it shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from metering.tax import break_even as bootstrap
from metering.tax.roles import DEFAULT_ROLES, LISTED_ROLES, Role

LISTED = tuple(DEFAULT_ROLES[role] for role in LISTED_ROLES)  # nano, mini, qwen


@dataclass(frozen=True)
class Assumptions:
    """Inputs the traffic cannot tell, printed beside the figures they shape."""

    router_hour_usd: float = 0.0
    hours: float = 0.0  # the window's length: router and GPU hours are charged for all of it (0: none charged)
    classifier_usd_per_request: float = 0.0
    failure_cost_usd: float = 0.0  # what the application pays to remedy one failed task (report.failure_cost_usd)
    failure_redo_on: str | None = None  # per task: a failed task is redone on this tier (report.failure_remedy.redo_on)
    gpu_hour_usd: Mapping[str, float] = field(default_factory=dict)  # self-hosted tier -> USD per GPU-hour
    tiers: tuple[str, ...] = LISTED  # cells always listed, measured or not
    roles: Mapping[Role, str] = field(default_factory=lambda: dict(DEFAULT_ROLES))  # role -> the tier playing it
    single_turn_tier: str = "nano"  # where routing (and agentic-to-self-hosted) sends single-turn work
    agentic_tier: str = "mini"  # where routing sends agentic work (what an explored task is measured against)
    break_even_resamples: int = bootstrap.RESAMPLES  # the break-even interval's bootstrap (metering/tax/break_even.py)
    break_even_max_draws: int = bootstrap.MAX_DRAWS
    # the audit only: the volume logs are projected to (None: the logs' own rate), the GPUs a self-hosted tier
    # keeps running, and the completion tokens per request where no answer of a class was logged
    calls_per_month: int | None = None
    gpus: int = 1
    output_tokens: int | None = None  # None: the measured or stated defaults (metering/tax/audit_estimates.py)

    def tier(self, role: Role) -> str | None:
        """The tier that plays `role`, or None: no tier does."""
        return self.roles.get(role)

    def role_of(self, tier: str) -> Role | None:
        """The role `tier` plays, or None: it plays none."""
        return next((role for role, name in self.roles.items() if name == tier), None)

    @property
    def self_hosted_tier(self) -> str | None:
        return self.tier(Role.SELF_HOSTED)

    def routed_tier(self, label: str) -> str:
        """Where routing sends a class (policy.single_turn / policy.agentic)."""
        return self.agentic_tier if label == "agentic" else self.single_turn_tier
