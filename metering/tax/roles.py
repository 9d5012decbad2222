"""The parts tiers play in the routing-tax question, so that policies name roles, not tier names.

The question is about a cheap model, a mid model, a self-hosted open model and the full model
(gpt-5.4-nano, gpt-5.4-mini, Qwen 3.5 9B, gpt-5.4). A deployment may call its tiers anything; the
configuration says which tier plays which role (`tiers.<name>.role`), and by default the default tiers
play theirs: nano cheap, mini mid, qwen self-hosted, full full. A role no tier plays drops the
policies that need it.
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


DEFAULT_ROLES: Mapping[Role, str] = {
    Role.CHEAP: "nano",
    Role.MID: "mini",
    Role.SELF_HOSTED: "qwen",
    Role.FULL: "full",
}
