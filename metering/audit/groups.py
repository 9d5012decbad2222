"""Requests grouped by team, key, model and session, in bounded memory: who sends the agentic traffic.

A LiteLLM row names its team (`team_id`), its key's alias (`metadata.user_api_key_alias` — never the
key, nor the hashed `api_key` column), its model and its `session_id`; other formats name a model. Each
group keeps what the whole tally keeps per class × pricing mode (its token `Bucket`s), so each can be
priced on the same engine as the whole (metering/tax/audit_breakdown.py).

Per request the reader updates one cell keyed by (model, team, key alias, class, mode) and, for a
LiteLLM row, one keyed by (session, class, mode); a dimension's groups are summed out of the cells
when the report is made. Bounded: past `FOLD_AT` cells (`SESSIONS_FOLD_AT` sessions: LiteLLM gives
each request a session of its own unless the application sends one, so sessions can be as many as
requests) the `KEEP` with the fewest requests are folded into `OTHER` cells. A name seen again after
it was folded starts anew, so a named group's counts are a lower bound once its dimension was folded
(`folded` says so); the groups and `OTHER` always add up to the requests counted. The session
dimension covers the LiteLLM rows (the other formats name no session).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

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
    """Token buckets per (model, team, key alias) × class × mode, and per session × class × mode.

    One dict update per request (two for a LiteLLM row): the dimensions are summed out of these cells only
    when the report asks (`group`). Team, key and model are few together; sessions can be as many as
    requests, so they are kept apart and bounded on their own.
    """

    KEEP, FOLD_AT = 5_000, 10_000  # (model, team, key) cells
    SESSIONS_KEEP, SESSIONS_FOLD_AT = 1_000, 2_000

    def __init__(self, new_bucket: Callable[[], Bucket]) -> None:
        self.new_bucket = new_bucket
        self.cells: dict[tuple[str | None, str | None, str | None, tuple[str, str]], Bucket] = {}
        self.sessions: dict[tuple[str | None, tuple[str, str]], Bucket] = {}
        self.folded: set[str] = set()
        # (model, team, key alias, session, class × mode) -> its cell's and its session's buckets: a LiteLLM row's two
        # buckets in one look-up. Emptied whenever a fold moves buckets (they may no longer be in their tables).
        self.pairs: dict[tuple[Any, ...], tuple[Bucket, Bucket]] = {}

    def add(self, o: Observation, key: tuple[str, str]) -> None:
        """Count `o` (of class × mode `key`)."""
        if o.fmt == LITELLM:  # its cell and its session's, found together while neither was folded
            both = (o.model, o.team, o.key_alias, o.session, key)
            pair = self.pairs.get(both)
            if pair is None:
                pair = self._pair(o, key, both)
            pair[0].count_with(pair[1], o)
            return
        cell = (o.model, o.team, o.key_alias, key)
        bucket = self.cells.get(cell)
        if bucket is None:
            bucket = self._new(self.cells, cell, self.FOLD_AT)
        bucket.count(o)

    def _pair(self, o: Observation, key: tuple[str, str], both: tuple[Any, ...]) -> tuple[Bucket, Bucket]:
        """A LiteLLM row's cell and session cell, made as `add` makes them one at a time (cell first, then session:
        a fold of the first cannot touch the second), and remembered until a fold moves a bucket."""
        cell = (o.model, o.team, o.key_alias, key)
        bucket = self.cells.get(cell)
        if bucket is None:
            bucket = self._new(self.cells, cell, self.FOLD_AT)
        session = (o.session, key)
        of_session = self.sessions.get(session)
        if of_session is None:
            of_session = self._new(self.sessions, session, self.SESSIONS_FOLD_AT)
        if len(self.pairs) >= self.SESSIONS_FOLD_AT:  # one per session at most: bounded as the sessions are
            self.pairs.clear()
        pair = self.pairs[both] = (bucket, of_session)
        return pair

    def _new(self, cells: dict[Any, Bucket], key: Any, fold_at: int) -> Bucket:
        if len(cells) >= fold_at:
            self._fold(cells)
        bucket = cells[key] = self.new_bucket()
        return bucket

    def _fold(self, cells: dict[Any, Bucket]) -> None:
        """Fold the cells with the fewest requests into `OTHER` cells of the same class × mode."""
        self.pairs.clear()
        sessions = cells is self.sessions
        keep = self.SESSIONS_KEEP if sessions else self.KEEP
        smallest = sorted(cells, key=lambda k: cells[k].requests)[:keep]
        for key in smallest:
            other = (OTHER, key[-1]) if sessions else (OTHER, OTHER, OTHER, key[-1])
            if key == other:
                continue
            into = cells.get(other)
            if into is None:
                into = cells[other] = self.new_bucket()
            add_bucket(into, cells.pop(key))
        self.folded.update((Dimension.SESSION.value,) if sessions else DIMENSIONS_OF_CELLS)

    def total_into(self, buckets: dict[tuple[str, str], Bucket]) -> None:
        """Add the cells' tokens to `buckets` by class × mode: the whole tally's (before any is settled, so the
        unsampled bytes are scaled once, on their sum, as they always were)."""
        for (_model, _team, _key, label_mode), bucket in self.cells.items():
            into = buckets.get(label_mode)
            if into is None:
                into = buckets[label_mode] = self.new_bucket()
            add_bucket(into, bucket)

    def finish(self, sampler: TokenSampler) -> None:
        """Scale each cell's unsampled prompts as the whole tally's are."""
        for cells in (self.cells, self.sessions):
            for key, bucket in cells.items():
                bucket.settle(sampler, key[-1][0] == "agentic")

    def group(self, dimension: str) -> dict[str, Group]:
        """The dimension's groups, name -> Group, summed out of the cells."""
        sessions = dimension == Dimension.SESSION.value
        cells: dict[Any, Bucket] = self.sessions if sessions else self.cells  # type: ignore[assignment]
        at = 0 if sessions else CELL_FIELDS.index(dimension)
        groups: dict[str, Group] = {}
        for key, bucket in cells.items():
            name = key[at]
            group = groups.get(NONE if name is None else name)
            if group is None:
                group = groups[NONE if name is None else name] = Group()
            label_mode = key[-1]
            group.requests += bucket.requests
            if label_mode[0] == "agentic":
                group.agentic += bucket.requests
            group.spend_usd += bucket.spend_usd
            group.spend_requests += bucket.spend_requests
            into = group.buckets.get(label_mode)
            if into is None:
                into = group.buckets[label_mode] = self.new_bucket()
            add_bucket(into, bucket)
        return groups

    def present(self) -> list[str]:
        """The dimensions some request names (not only `(none)`), in a fixed order."""
        named = [d for d in CELL_FIELDS if any(key[CELL_FIELDS.index(d)] is not None for key in self.cells)]
        if any(key[0] is not None for key in self.sessions):
            named.append(Dimension.SESSION.value)
        order = [dimension.value for dimension in Dimension]
        return sorted(named, key=order.index)


CELL_FIELDS = (Dimension.MODEL.value, Dimension.TEAM.value, Dimension.KEY.value)  # a cell key's first three
DIMENSIONS_OF_CELLS = CELL_FIELDS


def add_bucket(into: Bucket, bucket: Bucket) -> None:
    """Add every count `bucket` keeps to `into`."""
    for f in fields(bucket):  # every count a Bucket keeps, whatever it grows to keep
        value = getattr(bucket, f.name)
        if isinstance(value, Counter):
            getattr(into, f.name).update(value)
        elif isinstance(value, int | float):
            setattr(into, f.name, getattr(into, f.name) + value)


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
        add_bucket(mine, bucket)
