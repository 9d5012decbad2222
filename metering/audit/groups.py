"""Requests grouped by team, key, model and session, in bounded memory: who sends the agentic traffic.

A LiteLLM row names its team (`team_id`), its key's alias (`metadata.user_api_key_alias` — never the
key, nor the hashed `api_key` column), its model and its `session_id`; other formats name a model. Each
group keeps what the whole tally keeps per class × pricing mode (its token `Bucket`s), so each can be
priced on the same engine as the whole (metering/tax/audit_breakdown.py).

Bounded: a dimension with more than `FOLD_AT` names folds the `KEEP` with the fewest requests into
`OTHER` (LiteLLM gives each request a session of its own unless the application sends one, so
sessions can be as many as requests). A name seen again after it was folded starts anew, so a named
group's counts are a lower bound only when its dimension was folded (`folded` says so); the groups
and `OTHER` always add up to the whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metering.audit.formats import Observation
    from metering.audit.scan import Bucket, TokenSampler

OTHER = "(other)"
NONE = "(none)"  # a request that does not name one (a row without a team, a line without a model)


class Dimension(StrEnum):
    TEAM = "team"
    KEY = "key"
    MODEL = "model"
    SESSION = "session"


@dataclass(slots=True)
class Group:
    requests: int = 0
    agentic: int = 0
    spend_usd: float = 0.0
    spend_requests: int = 0
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)  # (class, pricing mode) -> tokens


class Groups:
    """Per dimension, name -> Group; updated once per request counted."""

    KEEP = 1_000
    FOLD_AT = 2 * KEEP

    def __init__(self, new_bucket: Callable[[], Bucket]) -> None:
        self.new_bucket = new_bucket
        self.by: dict[Dimension, dict[str, Group]] = {dimension: {} for dimension in Dimension}
        self.named: set[Dimension] = set()  # dimensions some request gave a name
        self.folded: set[Dimension] = set()

    def add(self, o: Observation, key: tuple[str, str]) -> None:
        """Count `o` (of class × mode `key`) in each dimension it can be grouped by."""
        self._add(Dimension.MODEL, o.model, o, key)
        if o.fmt == "litellm-spend":
            self._add(Dimension.TEAM, o.team, o, key)
            self._add(Dimension.KEY, o.key_alias, o, key)
            self._add(Dimension.SESSION, o.session, o, key)

    def _add(self, dimension: Dimension, name: str | None, o: Observation, key: tuple[str, str]) -> None:
        groups = self.by[dimension]
        if name is None:
            name = NONE
        elif dimension not in self.named:
            self.named.add(dimension)
        group = groups.get(name)
        if group is None:
            if len(groups) >= self.FOLD_AT:
                self._fold(dimension)
            group = groups[name] = Group()
        group.requests += 1
        group.agentic += o.agentic
        if o.spend_usd is not None:
            group.spend_usd += o.spend_usd
            group.spend_requests += 1
        bucket = group.buckets.get(key)
        if bucket is None:
            bucket = group.buckets[key] = self.new_bucket()
        bucket.count(o)

    def _fold(self, dimension: Dimension) -> None:
        """Fold the `KEEP` names with the fewest requests into `OTHER`."""
        groups = self.by[dimension]
        smallest = sorted((g.requests, name) for name, g in groups.items() if name != OTHER)[: self.KEEP]
        other = groups.setdefault(OTHER, Group())
        for _, name in smallest:
            merge(other, groups.pop(name))
        self.folded.add(dimension)

    def finish(self, sampler: TokenSampler) -> None:
        """Scale each group's unsampled prompts as the whole tally's are."""
        for groups in self.by.values():
            for group in groups.values():
                for (label, _mode), bucket in group.buckets.items():
                    bucket.settle(sampler, label == "agentic")

    def present(self) -> list[Dimension]:
        """The dimensions the logs name, in a fixed order."""
        return [dimension for dimension in Dimension if dimension in self.named]


def merge(into: Group, group: Group) -> None:
    """Add `group`'s counts and tokens to `into`."""
    into.requests += group.requests
    into.agentic += group.agentic
    into.spend_usd += group.spend_usd
    into.spend_requests += group.spend_requests
    for key, bucket in group.buckets.items():
        mine = into.buckets.get(key)
        if mine is None:
            mine = into.buckets[key] = type(bucket)()
        for f in fields(bucket):  # every count a Bucket keeps, whatever it grows to keep
            value = getattr(bucket, f.name)
            if isinstance(value, Counter):
                getattr(mine, f.name).update(value)
            elif isinstance(value, int | float):
                setattr(mine, f.name, getattr(mine, f.name) + value)
