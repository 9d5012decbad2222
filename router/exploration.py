"""Exploration: measure every tier x class cell without selection bias (docs/routing-tax.md).

The routing policy never sends agentic work to nano, so routed traffic alone can only ever quote
the published 0.39 for that cell — and the verdict turns on it. `policy.explore.share` of `auto`
*tasks* go instead to a tier drawn uniformly among the candidates, and every step of such a task
goes there: a task's success belongs to one tier only if the whole run was served by it (capability
fallbacks still happen and are recorded). The record says so (`explored`, and `routed_tier` is the
arm drawn), and the report keeps their spend apart so that measuring never tilts the verdict.

The draw is a keyed hash of the task id (key: `policy.explore.seed`), not a random generator: every
step, worker and replica draws the same arm for a task without telling each other anything. The
first 8 bytes decide whether the task is explored (uniform in [0, 1) against the share), the next 8
which candidate; the share holds in each class because the id says nothing about the class.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from router.config import Config

DEFAULT_KEY = b"routetax-explore"  # no seed configured: still one draw per task, the same everywhere
_SCALE = float(1 << 64)


class Explorer:
    """Draws the exploration arm of an `auto` task, or None when the task is routed as usual."""

    def __init__(self, config: Config) -> None:
        self.share = config.policy.explore.share
        self.candidates = config.explore_tiers()
        seed = config.policy.explore.seed
        self._key = DEFAULT_KEY if seed is None else str(seed).encode()

    @classmethod
    def for_config(cls, config: Config) -> Explorer | None:
        """None when exploration is off, so the hot path pays nothing for it."""
        return cls(config) if config.policy.explore.share > 0 else None

    def arm(self, task_id: str, allowed: Callable[[str], bool]) -> str | None:
        """The task's arm among the candidates it may use; None: route it by the policy."""
        digest = hashlib.blake2b(task_id.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16).digest()
        if int.from_bytes(digest[:8], "big") / _SCALE >= self.share:
            return None
        arms = [tier for tier in self.candidates if allowed(tier)]
        return arms[int.from_bytes(digest[8:], "big") % len(arms)] if arms else None
