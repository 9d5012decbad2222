"""Cache affinity: keep a conversation on its tier while moving would cost more than it saves.

Prompt caching is per model: a conversation whose prefix is cached on mini pays full price
for that prefix the first time it lands on nano. So when the policy would move a
conversation to a *cheaper* tier, routetax compares the cached-input discount it would
forfeit with what the cheaper tier saves on this request, and stays when the discount is
worth more. Moves to a *safer* (dearer) tier for capability always happen; their forfeited
discount is metered as cache-loss spend on the record, as is any move's.

Conversations are keyed by `prompt_cache_key`, `user` / `safety_identifier`, or a hash of the
messages up to the first user turn — not by task (router.tasks): a provider caches a prefix for
every request that sends it, whichever task it belongs to, and that prefix key stays the same on
every step of a task anyway. State is in-process and bounded; with a Redis store every worker and
replica shares its settlements with the others (router.affinity_share).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from metering.cost import mode_of, rates_for
from metering.prices import Price
from metering.record import Record

CACHE_MIN_TOKENS = 1024  # below this no prefix is cached


@dataclass(slots=True)
class Conversation:
    tier: str
    prompt_tokens: int
    completion_tokens: int
    seen_at: float


def conversation_key(body: dict[str, Any], api: str) -> str | None:
    for field in ("prompt_cache_key", "user", "safety_identifier"):
        value = body.get(field)
        if isinstance(value, str) and value:
            return f"{field}:{value}"
    if api == "responses":
        head: Any = [body.get("instructions"), _first(body.get("input"))]
    else:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        head = []
        for message in messages:
            head.append(message)
            if isinstance(message, dict) and message.get("role") == "user":
                break
    if not any(head):
        return None
    try:
        raw = orjson.dumps(head)
    except TypeError:
        return None
    return "prefix:" + hashlib.blake2b(raw, digest_size=12).hexdigest()


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


class CacheAffinity:
    """The per-conversation memory and the stay-or-move rule."""

    def __init__(
        self,
        prices: Mapping[str, Price | None],
        max_entries: int = 100_000,
        ttl_s: float = 3600.0,
        regions: Mapping[str, str | None] | None = None,
    ) -> None:
        self.prices = prices
        self.regions = regions or {}  # tier -> regional processing: the cache loss is billed with its uplift
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._conversations: OrderedDict[str, Conversation] = OrderedDict()
        self.on_settle: Callable[[str, Conversation], None] | None = None  # router.affinity_share publishes it

    def get(self, key: str | None) -> Conversation | None:
        if key is None:
            return None
        conversation = self._conversations.get(key)
        if conversation is None or time.monotonic() - conversation.seen_at > self.ttl_s:
            return None
        return conversation

    def choose(self, key: str | None, target: str) -> tuple[str, bool]:
        """(tier, kept): the policy's `target`, or the conversation's tier when moving would cost more."""
        conversation = self.get(key)
        if conversation is None or conversation.tier == target:
            return target, False
        current, cheaper = self.prices.get(conversation.tier), self.prices.get(target)
        if current is None or cheaper is None or cheaper.standard.input >= current.standard.input:
            return target, False  # a move to a safer tier is for capability: always made
        cached = conversation.prompt_tokens if conversation.prompt_tokens >= CACHE_MIN_TOKENS else 0
        forfeited = cached * (current.standard.input - current.standard.cached_input)
        saved = conversation.prompt_tokens * (current.standard.input - cheaper.standard.input) + (
            conversation.completion_tokens * (current.standard.output - cheaper.standard.output)
        )
        if forfeited > saved:
            return conversation.tier, True
        return target, False

    def settle(self, key: str | None, record: Record) -> None:
        """After the request: meter the cache lost by a move, remember where the conversation is now."""
        if key is None or record.usage is None or record.final_tier is None or record.status >= 400:
            return
        previous = self.get(key)
        tier, usage = record.final_tier, record.usage
        if previous is not None and previous.tier != tier and previous.prompt_tokens >= CACHE_MIN_TOKENS:
            price = self.prices.get(tier)
            if price is not None:
                # at the rates this request was billed at: its service tier, the long-context rule, the region
                mode = mode_of(False, usage.service_tier)
                rates = rates_for(price, usage.prompt_tokens, mode, self.regions.get(tier))
                lost = min(previous.prompt_tokens, usage.prompt_tokens - usage.cached_tokens)
                record.cache_loss_usd = max(lost, 0) * (rates.input - rates.cached_input)
        conversation = Conversation(tier, usage.prompt_tokens, usage.completion_tokens, time.monotonic())
        self.remember(key, conversation)
        if self.on_settle is not None:
            self.on_settle(key, conversation)

    def remember(self, key: str, conversation: Conversation) -> None:
        """Where a conversation is now (settled here, or on another worker or replica)."""
        self._conversations[key] = conversation
        self._conversations.move_to_end(key)
        while len(self._conversations) > self.max_entries:
            self._conversations.popitem(last=False)
