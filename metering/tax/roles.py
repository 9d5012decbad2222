"""The parts tiers play in the routing-tax question, so that policies name roles, not tier names.

The question is about a cheap model, a mid model, a self-hosted open model and the full model
(gpt-5.4-nano, gpt-5.4-mini, Qwen 3.5 9B, gpt-5.4). A deployment may call its tiers anything; the
configuration says which tier plays which role (`tiers.<name>.role`). Unsaid, the default tiers play
theirs (nano cheap, mini mid, qwen self-hosted, full full), and then a tier serving one of the models
the question names plays that model's role. A role no tier plays drops the policies that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

CLASSES = ("single_turn", "agentic")  # the classes of work every cell, policy and verdict is split by


class Role(StrEnum):
    """A tier's part in the routing-tax question."""

    CHEAP = "cheap"
    MID = "mid"
    SELF_HOSTED = "self_hosted"
    FULL = "full"


LISTED_ROLES = (Role.CHEAP, Role.MID, Role.SELF_HOSTED)  # the roles whose cells a report lists, measured or not

DEFAULT_ROLES: Mapping[Role, str] = {
    Role.CHEAP: "nano",
    Role.MID: "mini",
    Role.SELF_HOSTED: "qwen",
    Role.FULL: "full",
}


# The models the question is about, and the role each plays when no tier is named for it.
ROLE_OF_MODEL: Mapping[str, Role] = {
    "gpt-5.4-nano": Role.CHEAP,
    "gpt-5.4-mini": Role.MID,
    "Qwen/Qwen3.5-9B": Role.SELF_HOSTED,
    "qwen3.5:9b": Role.SELF_HOSTED,
    "gpt-5.4": Role.FULL,
}


def assign_roles(tiers: Mapping[str, tuple[str, Role | None]]) -> dict[Role, str]:
    """Role -> the tier playing it, from tier -> (its model, the role configured for it): a configured role
    first, then a default tier name, then a known model; each tier plays at most one role."""
    found = {role: name for name, (_model, role) in tiers.items() if role is not None}
    taken = set(found.values())
    for role, name in DEFAULT_ROLES.items():
        if role not in found and name in tiers and name not in taken:
            found[role] = name
            taken.add(name)
    for name, (model, _role) in tiers.items():
        role = ROLE_OF_MODEL.get(model)
        if role is not None and role not in found and name not in taken:
            found[role] = name
            taken.add(name)
    return {role: found[role] for role in Role if role in found}
