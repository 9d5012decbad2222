"""The policies the routing tax compares, defined once by tier role: the report, the task-level verdict and
the audit all price the same list.

A policy says, for each class of work, which role's tier serves it — or that it goes where routing sends
it (`policy.single_turn` / `policy.agentic`). Its name in every report is derived from the tiers playing
those roles, so the default deployment keeps the names it always had (`mini_only`, `nano_only`,
`qwen_only`, `agentic_to_qwen`) and a deployment that calls its cheap tier `small` gets `small_only`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from metering.tax.assumptions import Assumptions
from metering.tax.roles import Role

ROUTED = None  # in a policy's routes: where routing sends the class


@dataclass(frozen=True)
class PolicyDef:
    """One way of serving the traffic: by class, the role whose tier serves it (ROUTED: as routing does)."""

    routes: Mapping[str, Role | None]
    as_run: bool = False  # dual as run: read from the routed traffic itself, not from the tiers' cells

    @property
    def splits_by_class(self) -> bool:
        """Sends the classes to different places: it needs the router and the classifier (and pays for them)."""
        return self.as_run or len(set(self.routes.values())) > 1

    @property
    def self_hosted(self) -> bool:
        """Serves some work on the self-hosted tier: its GPU hours are a cost, and the marginal view is shown."""
        return Role.SELF_HOSTED in self.routes.values()

    def tiers(self, a: Assumptions) -> dict[str, str] | None:
        """Class -> the tier serving it under this deployment's roles; None when a role it needs has no tier."""
        out = {}
        for label, role in self.routes.items():
            tier = a.routed_tier(label) if role is ROUTED else a.tier(role)
            if tier is None:
                return None
            out[label] = tier
        return out

    def name(self, a: Assumptions) -> str | None:
        """The policy's key in the reports: `dual`, `<tier>_only`, `agentic_to_<tier>`; None without its tiers."""
        if self.as_run:
            return "dual"
        tiers = self.tiers(a)
        if tiers is None:
            return None
        if len(set(self.routes.values())) == 1:
            return f"{tiers['agentic']}_only"
        return f"agentic_to_{tiers['agentic']}"

    @property
    def key(self) -> str:
        """The policy's name by role, whatever the tiers are called (`dual`, `mid_only`, `cheap_only`,
        `self_hosted_only`, `agentic_to_self_hosted`): what a dashboard selects on across deployments."""
        if self.as_run:
            return "dual"
        roles = set(self.routes.values())
        if len(roles) == 1:
            return f"{self.routes['agentic']}_only"
        return f"agentic_to_{self.routes['agentic']}"

    def role_names(self) -> dict[str, str]:
        """Class -> the role serving it, in words (`routed` where routing decides): printed with the policy."""
        return {label: "routed" if role is ROUTED else str(role) for label, role in self.routes.items()}


def _routes(single_turn: Role | None, agentic: Role | None) -> Mapping[str, Role | None]:
    return MappingProxyType({"single_turn": single_turn, "agentic": agentic})


DUAL = PolicyDef(_routes(ROUTED, ROUTED), as_run=True)
MID_ONLY = PolicyDef(_routes(Role.MID, Role.MID))
CHEAP_ONLY = PolicyDef(_routes(Role.CHEAP, Role.CHEAP))
SELF_HOSTED_ONLY = PolicyDef(_routes(Role.SELF_HOSTED, Role.SELF_HOSTED))
AGENTIC_TO_SELF_HOSTED = PolicyDef(_routes(ROUTED, Role.SELF_HOSTED))

POLICIES: tuple[PolicyDef, ...] = (DUAL, MID_ONLY, CHEAP_ONLY, SELF_HOSTED_ONLY, AGENTIC_TO_SELF_HOSTED)


def policies_for(a: Assumptions) -> dict[str, tuple[PolicyDef, dict[str, str]]]:
    """Every policy this deployment's roles allow, by its name, with the tier serving each class (dual: routing's)."""
    out = {}
    for policy in POLICIES:
        name, tiers = policy.name(a), policy.tiers(a)
        if name is not None and tiers is not None:
            out[name] = (policy, tiers)
    return out


def mid_policy(a: Assumptions) -> str | None:
    """The name of everything-to-the-mid-tier (`mini_only` by default): the policy dual is weighed against."""
    return MID_ONLY.name(a)
