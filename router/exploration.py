"""Exploration: measure every tier x class cell without selection bias (cost-model §3).

The routing policy never sends agentic work to nano, so routed traffic alone can only ever quote
the published 0.39 for that cell — and the verdict turns on it. `policy.explore.share` of `auto`
requests go instead to a tier drawn uniformly among the candidates; the record says so
(`explored`, and `routed_tier` is the arm drawn), and the report keeps their spend apart so that
measuring never tilts the verdict. Drawn independently per request, the share holds in each class.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from router.config import Config


class Explorer:
    """Draws the exploration arm of one `auto` request, or None when the request is routed as usual."""

    def __init__(self, config: Config) -> None:
        self.share = config.policy.explore.share
        self.candidates = config.explore_tiers()
        self._rng = random.Random(config.policy.explore.seed)

    @classmethod
    def for_config(cls, config: Config) -> Explorer | None:
        """None when exploration is off, so the hot path pays nothing for it."""
        return cls(config) if config.policy.explore.share > 0 else None

    def draw(self, allowed: Callable[[str], bool]) -> str | None:
        """A tier for this request, drawn among the candidates it may use; None: route it by the policy."""
        if self._rng.random() >= self.share:
            return None
        arms = [tier for tier in self.candidates if allowed(tier)]
        return self._rng.choice(arms) if arms else None
