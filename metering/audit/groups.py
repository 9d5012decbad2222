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
LITELLM = "litellm-spend"  # the format whose rows name a team, a key alias and a session


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
    """Per dimension, name -> Group; updated once per request counted.

    Keyed by the dimension's plain string (`Dimension.value`): hashing an enum member runs Python code, and
    this runs up to four times per request.
    """

    KEEP = 1_000
    FOLD_AT = 2 * KEEP

    def __init__(self, new_bucket: Callable[[], Bucket]) -> None:
        self.new_bucket = new_bucket
        self.by: dict[str, dict[str, Group]] = {dimension.value: {} for dimension in Dimension}
        self._model, self._team = self.by[Dimension.MODEL.value], self.by[Dimension.TEAM.value]
        self._key, self._session = self.by[Dimension.KEY.value], self.by[Dimension.SESSION.value]
        self.folded: set[str] = set()

    def add(self, o: Observation, key: tuple[str, str]) -> None:
        """Count `o` (of class × mode `key`) in each dimension it can be grouped by."""
        add = self._add
        add(self._model, o.model, o, key)
        if o.fmt == LITELLM:
            add(self._team, o.team, o, key)
            add(self._key, o.key_alias, o, key)
            add(self._session, o.session, o, key)

    def _add(self, groups: dict[str, Group], name: str | None, o: Observation, key: tuple[str, str]) -> None:
        if name is None:
            name = NONE
        group = groups.get(name)
        if group is None:
            if len(groups) >= self.FOLD_AT:
                self._fold(groups)
            group = groups[name] = Group()
        group.requests += 1
        if o.agentic:
            group.agentic += 1
        spend = o.spend_usd
        if spend is not None:
            group.spend_usd += spend
            group.spend_requests += 1
        bucket = group.buckets.get(key)
        if bucket is None:
            bucket = group.buckets[key] = self.new_bucket()
        bucket.count(o)

    def _fold(self, groups: dict[str, Group]) -> None:
        """Fold the `KEEP` names with the fewest requests into `OTHER`."""
        smallest = sorted((g.requests, name) for name, g in groups.items() if name != OTHER)[: self.KEEP]
        other = groups.setdefault(OTHER, Group())
        for _, name in smallest:
            merge(other, groups.pop(name))
        self.folded.update(dimension for dimension, held in self.by.items() if held is groups)

    def finish(self, sampler: TokenSampler) -> None:
        """Scale each group's unsampled prompts as the whole tally's are."""
        for groups in self.by.values():
            for group in groups.values():
                for (label, _mode), bucket in group.buckets.items():
                    bucket.settle(sampler, label == "agentic")

    def present(self) -> list[str]:
        """The dimensions some request names (not only `(none)`), in a fixed order."""
        return [dimension for dimension, groups in self.by.items() if any(name != NONE for name in groups)]


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
