"""Virtual API keys: who may use the gateway, on which tiers, within which budget and rate.

A key is shown once at creation and stored only as its SHA-256; lookups go by that hash
and are confirmed with a constant-time comparison, then cached for a second or two so a
revocation reaches every replica within seconds. Budgets and rate limits are enforced by
one Lua script per request over keys that share the `{keys}` hash tag (one slot: legal on
Redis Cluster), so two replicas racing on the same key cannot both spend its last cent:
each request reserves its worst case before it starts (router.auth works it out) and settles
the real cost from the ledger record when it ends; a request is admitted only if its
reservation fits in what the spend and the reservations in flight leave of the budget. A
reservation nobody settles (a crash) expires at its request's deadline. Rates are sliding
windows — the requests, and the tokens they were admitted with, of the last 60 s — so no
60 s window ever holds more than `rpm` requests or `tpm` tokens; the gate's answer says where
each window stands (`RateWindow`), which the key's clients see as OpenAI's `x-ratelimit-*`
headers (router/rate_headers.py).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

PREFIX = "routetax:{keys}"
SETTLED_TTL_S = 7 * 24 * 3600  # how long a repeated settlement is recognised (the ledger's records: the same)
KEY_TABLE = f"{PREFIX}:all"  # hash: id -> key JSON
HASH_INDEX = f"{PREFIX}:by_hash"  # hash: sha256 -> id

GATE_SCRIPT = """
-- KEYS: 1 budget hash of this period (spent), 2 reservations (zset: '<request id>|<usd>' scored by expiry),
--       3 the reservations' total (string), 4 requests admitted in the last minute (zset: request id by admission
--       time), 5 tokens admitted in the last minute (zset: '<request id>|<tokens>' by admission time), 6 their total
-- ARGV: 1 budget (or -1), 2 reservation usd, 3 rpm (or -1), 4 tpm (or -1), 5 budget ttl, 6 now (unix s),
--       7 request id, 8 reservation expiry (unix s), 9 reservation ttl (s), 10 tokens reserved
-- Answer: {verdict, detail, requests left, requests reset s, tokens left, tokens reset s}, numbers as strings (Lua
-- numbers reach the client truncated to integers). detail: budget -> spent; short -> what is left; held, rpm,
-- tpm -> seconds until it admits; tpm -> -1 when the request alone exceeds the limit.
-- Everything is decided from reads first, and an admission's first write is a ZADD: at maxmemory Redis refuses it
-- and the whole script fails (the gate fails closed), where a cleanup written first would let every later write in.
local now = tonumber(ARGV[6])
local function fmt(x) return string.format('%.17g', x) end
local function amount(member) return tonumber(string.match(member, '|([^|]+)$')) end
-- A zset's running total without its entries scored up to `upto` (a ZRANGEBYSCORE bound).
local function live_total(zset, total_key, upto)
  local total = tonumber(redis.call('GET', total_key) or '0')
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', upto)
  if #gone == 0 then return total, 0 end
  for _, member in ipairs(gone) do total = total - amount(member) end
  if total < 0 or redis.call('ZCARD', zset) == #gone then total = 0 end
  return total, #gone
end
-- A key's TTL only ever grows here: a request with a short deadline must not cut short one held for longer.
local function keep_for(key, ttl)
  if redis.call('TTL', key) < tonumber(ttl) then redis.call('EXPIRE', key, ttl) end
end
-- Write down what live_total left out.
local function forget(zset, total_key, upto, total, gone)
  if gone == 0 then return end
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', upto)
  redis.call('SET', total_key, fmt(total), 'KEEPTTL')
end
local since = '(' .. fmt(now - 60)  -- the window is the last 60 s, both ends included
local function in_window(zset) return redis.call('ZRANGEBYSCORE', zset, fmt(now - 60), '+inf', 'WITHSCORES') end
-- Seconds until what a window holds has all slid out of it (0 when it is empty).
local function empty_in(zset)
  local newest = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
  if #newest == 0 then return 0 end
  return math.max(0, tonumber(newest[2]) + 60 - now)
end
-- A reservation nobody settled (a crash, a lost settlement) expires at its request's deadline.
local reserved, expired = live_total(KEYS[2], KEYS[3], ARGV[6])
local rpm, tpm, want = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[10])
local requests = rpm >= 0 and redis.call('ZCOUNT', KEYS[4], fmt(now - 60), '+inf') or 0
local tokens, stale = 0, 0
if tpm >= 0 then tokens, stale = live_total(KEYS[5], KEYS[6], since) end
local function tidy()
  forget(KEYS[2], KEYS[3], ARGV[6], reserved, expired)
  if rpm >= 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', since) end
  if tpm >= 0 then forget(KEYS[5], KEYS[6], since, tokens, stale) end
end
-- Where the key's windows stand, for every answer, admitted or refused.
local function answer(verdict, detail)
  tidy()
  return {verdict, fmt(detail), fmt(rpm - requests), fmt(empty_in(KEYS[4])), fmt(tpm - tokens), fmt(empty_in(KEYS[5]))}
end
local budget, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
if budget >= 0 then
  local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
  if spent >= budget then return answer('budget', spent) end
  -- The request's own worst case must fit in what is left, in flight alone or not.
  if spent + cost > budget then return answer('short', budget - spent) end
  if spent + reserved + cost > budget then
    -- Held by requests in flight: it fits once enough of them end, at the latest by their deadlines.
    local held = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[6], '+inf', 'WITHSCORES')
    local room, left, wait = budget - spent - cost, reserved, 0
    for i = 1, #held, 2 do
      left = left - amount(held[i])
      wait = tonumber(held[i + 1]) - now
      if left <= room then break end
    end
    return answer('held', wait)
  end
end
-- Never more than rpm requests, nor tpm tokens (their reservations, then what they used), admitted in any 60 s.
if rpm >= 0 and requests + 1 > rpm then
  local oldest = in_window(KEYS[4])
  local index = 2 * (requests - rpm) + 2  -- the entry whose leaving makes room
  return answer('rpm', oldest[index] and tonumber(oldest[index]) + 60 - now or 60)
end
if tpm >= 0 and tokens + want > tpm then
  if want > tpm then return answer('tpm', -1) end
  local admitted = in_window(KEYS[5])
  local left, wait = tokens, 60
  for i = 1, #admitted, 2 do
    left = left - amount(admitted[i])
    wait = tonumber(admitted[i + 1]) + 60 - now
    if left + want <= tpm then break end
  end
  return answer('tpm', wait)
end
if rpm >= 0 then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[4], 120)
  requests = requests + 1
end
if tpm >= 0 then
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[7] .. '|' .. fmt(want))
  redis.call('EXPIRE', KEYS[5], 120)
end
if budget >= 0 then
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7] .. '|' .. ARGV[2])
  keep_for(KEYS[2], ARGV[9])
end
tidy()
if tpm >= 0 then
  tokens = tokens + want
  redis.call('SET', KEYS[6], fmt(tokens), 'EX', 120)
end
if budget >= 0 then
  redis.call('SET', KEYS[3], fmt(reserved + cost), 'KEEPTTL')
  keep_for(KEYS[3], ARGV[9])
end
return {'ok', '0', fmt(rpm - requests), fmt(empty_in(KEYS[4])), fmt(tpm - tokens), fmt(empty_in(KEYS[5]))}
"""

SETTLE_SCRIPT = """
-- KEYS: as the gate's, then 7 the request's settled marker (only when ARGV[7] is not '')
-- ARGV: 1 reservation member ('' when none), 2 real cost, 3 tokens, 4 budget ttl, 5 tpm (or -1), 6 now,
--       7 request id ('' when none), 8 the marker's ttl, 9 the tokens member ('' when none)
-- A settlement retried after an outage may already have landed (a timeout after Redis applied it, a replay cut
-- short by a crash): the marker makes the repeat a no-op (returns 0). Releasing is idempotent anyway (ZREM says
-- whether this request still held its reservation), so a reservation that already expired is not subtracted twice.
local function fmt(x) return string.format('%.17g', x) end
local function amount(member) return tonumber(string.match(member, '|([^|]+)$')) end
if ARGV[7] ~= '' and not redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[8]) then
  return 0
end
if ARGV[1] ~= '' and redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  local total = tonumber(redis.call('GET', KEYS[3]) or '0') - amount(ARGV[1])
  if total < 0 or redis.call('ZCARD', KEYS[2]) == 0 then total = 0 end
  redis.call('SET', KEYS[3], fmt(total), 'KEEPTTL')
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
-- The tokens the request was admitted with become the tokens it used, at its admission time; once that has slid
-- out of the window there is nothing left to correct.
if tonumber(ARGV[5]) >= 0 and ARGV[9] ~= '' then
  local admitted = redis.call('ZSCORE', KEYS[5], ARGV[9])
  if admitted then
    local used = tonumber(ARGV[3])
    redis.call('ZREM', KEYS[5], ARGV[9])
    redis.call('ZADD', KEYS[5], admitted, string.match(ARGV[9], '^(.*)|[^|]+$') .. '|' .. fmt(used))
    local total = tonumber(redis.call('GET', KEYS[6]) or '0') + used - amount(ARGV[9])
    redis.call('SET', KEYS[6], fmt(math.max(total, 0)), 'KEEPTTL')
  end
end
return 1
"""


EXTEND_SCRIPT = """
-- KEYS: 1 reservations, 2 the reservations' total. ARGV: 1 reservation member, 2 its new expiry (unix s), 3 ttl (s)
-- A request still running near its reservation's expiry keeps it; one that settled (or whose reservation expired)
-- has nothing to extend. The keys' TTLs only ever grow here: other requests may hold reservations for longer.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
for _, key in ipairs(KEYS) do
  if redis.call('TTL', key) < tonumber(ARGV[3]) then redis.call('EXPIRE', key, ARGV[3]) end
end
return 1
"""


class Admission(StrEnum):
    """The gate script's answer: admitted, or the limit that refused the request (its Lua return values)."""

    OK = "ok"
    BUDGET = "budget"  # the period's budget is spent
    SHORT = "short"  # the request's own worst case is more than what is left of the budget
    HELD = "held"  # what is left is held by requests in flight: it fits once enough of them end
    RPM = "rpm"  # requests per minute
    TPM = "tpm"  # tokens per minute


@dataclass(frozen=True, slots=True)
class RateWindow:
    """Where one of a key's per-minute rates stands, as a client pacing itself needs it (OpenAI's headers).

    `remaining` is what could be admitted right now; `reset_s` is how long until everything admitted so far
    has left the 60 s window (OpenAI's "time until the rate limit resets to its initial state").
    """

    limit: int
    remaining: int
    reset_s: float

    @classmethod
    def of_window(cls, limit: int, left: float, reset_s: float) -> RateWindow:
        """The window with `left` of `limit` unused, empty again in `reset_s`."""
        return cls(limit, max(0, math.floor(left)), max(0.0, reset_s))


class GateAnswer(NamedTuple):
    """The gate script's one answer: the verdict, and where the key's rates stand after it (None: no such limit)."""

    admission: Admission
    wait_s: float  # refused: seconds until the limit admits again (inf: never, as the request stands)
    member: str  # admitted with a budget: the reservation to settle
    requests: RateWindow | None
    tokens: RateWindow | None
    tokens_member: str = ""  # admitted with a tpm: the tokens reserved, to settle with those used
    left_usd: float = 0.0  # refused as SHORT: what is left of the budget


class KeyStoreDown(Exception):
    """The store holding the keys cannot be reached."""


@dataclass
class VirtualKey:
    id: str
    name: str
    budget_usd: float | None = None
    period: str = "month"  # day | month
    rpm: int | None = None
    tpm: int | None = None
    tiers: list[str] | None = None  # None: every tier
    revoked: bool = False
    created_at: float = field(default_factory=time.time)
    key_hash: str = ""
    team: str | None = None  # who owns the key: a Prometheus label, so alerts can be routed to that team
    # the output cap of its requests that set none (None: the model's output limit, which a small budget cannot
    # cover: such requests are refused as request_over_budget)
    max_output_tokens: int | None = None

    def allows(self, tier: str) -> bool:
        return self.tiers is None or tier in self.tiers

    @property
    def limited(self) -> bool:
        """A budget or a rate to enforce: only such keys cost the gate a round trip to the store."""
        return self.budget_usd is not None or self.rpm is not None or self.tpm is not None


_FIELDS = frozenset(VirtualKey.__dataclass_fields__)


def load_key(raw: bytes | str) -> VirtualKey:
    """A stored key; fields this version does not know (written by a newer one) are ignored."""
    data = orjson.loads(raw)
    return VirtualKey(**{k: v for k, v in data.items() if k in _FIELDS})


def dump_key(key: VirtualKey) -> bytes:
    """A key as stored; `team` and `max_output_tokens` only when set, so keys without them stay readable by older
    replicas."""
    data = asdict(key)
    for name in ("team", "max_output_tokens"):
        if data[name] is None:
            del data[name]
    return orjson.dumps(data)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "rt-" + secrets.token_urlsafe(32)


def period_bucket(period: str, now: float) -> tuple[str, float]:
    """(bucket name, unix time it resets) for a budget period."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        reset = start.timestamp() + 86400
        return start.strftime("%Y%m%d"), reset
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.strftime("%Y%m"), start.replace(year=year, month=month).timestamp()


class KeyStore:
    """Keys in the store, with a short in-process cache for lookups on the request path."""

    def __init__(self, redis: Any, cache_s: float = 2.0) -> None:
        self.redis = redis
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, VirtualKey | None]] = {}
        self._gate = redis.register_script(GATE_SCRIPT)
        self._settle = redis.register_script(SETTLE_SCRIPT)
        self._extend = redis.register_script(EXTEND_SCRIPT)

    async def create(self, name: str, **limits: Any) -> tuple[VirtualKey, str]:
        secret = new_key()
        key = VirtualKey(id="key_" + uuid.uuid4().hex[:16], name=name, key_hash=hash_key(secret), **limits)
        await self.redis.hset(KEY_TABLE, key.id, dump_key(key))
        await self.redis.hset(HASH_INDEX, key.key_hash, key.id)
        return key, secret

    async def list(self) -> list[VirtualKey]:
        raw = await self.redis.hgetall(KEY_TABLE)
        return sorted((load_key(v) for v in raw.values()), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> bool:
        raw = await self.redis.hget(KEY_TABLE, key_id)
        if raw is None:
            return False
        key = load_key(raw)
        key.revoked = True
        await self.redis.hset(KEY_TABLE, key.id, dump_key(key))
        return True

    async def lookup(self, secret: str) -> VirtualKey | None:
        """The live key for a presented secret, or None (unknown or revoked)."""
        digest = hash_key(secret)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        key: VirtualKey | None = None
        try:
            key_id = await self.redis.hget(HASH_INDEX, digest)
        except Exception as exc:  # the store blinked: a key seen recently still works, an unseen one cannot
            if cached is not None:
                return cached[1]
            raise KeyStoreDown(str(exc)) from exc
        if key_id is not None:
            raw = await self.redis.hget(KEY_TABLE, key_id)
            if raw is not None:
                candidate = load_key(raw)
                if hmac.compare_digest(candidate.key_hash, digest) and not candidate.revoked:
                    key = candidate
        self._cache[digest] = (now, key)
        if len(self._cache) > 100_000:
            self._cache.clear()
        return key

    def _keys(self, key_id: str, period: str, now: float) -> tuple[list[str], float]:
        bucket, reset = period_bucket(period, now)
        return [
            f"{PREFIX}:budget:{key_id}:{bucket}",
            f"{PREFIX}:reservations:{key_id}",
            f"{PREFIX}:reserved:{key_id}",
            f"{PREFIX}:requests:{key_id}",
            f"{PREFIX}:tokens:{key_id}",
            f"{PREFIX}:tokens_total:{key_id}",
        ], reset

    async def admit(
        self, key: VirtualKey, reservation_usd: float, request_id: str = "", hold_s: float = 3600.0, tokens: int = 0
    ) -> GateAnswer:
        """Admitted (with the reservations to settle) or the limit that refused and the seconds until it admits
        again — atomically, with the key's rate windows from the same round trip.

        `reservation_usd` and `tokens` are the request's worst case: what it may cost and the tokens it may use.
        The money is held until the request settles, or `hold_s` (its deadline) if nothing settles it.
        """
        now = time.time()
        script_keys, reset = self._keys(key.id, key.period, now)
        request_id = request_id or uuid.uuid4().hex
        result = await self._gate(
            keys=script_keys,
            args=[
                key.budget_usd if key.budget_usd is not None else -1,
                repr(reservation_usd),
                key.rpm if key.rpm is not None else -1,
                key.tpm if key.tpm is not None else -1,
                int(reset - now) + 3600,
                repr(now),
                request_id,
                repr(now + hold_s),
                math.ceil(hold_s) + 60,
                tokens,
            ],
        )
        verdict, detail, requests_left, requests_reset, tokens_left, tokens_reset = (
            float(item) if index else Admission(item.decode() if isinstance(item, bytes) else item)
            for index, item in enumerate(result)
        )
        assert isinstance(verdict, Admission)
        admitted = verdict is Admission.OK
        wait_s = 0.0
        if verdict in (Admission.BUDGET, Admission.SHORT):  # admits again when the period resets
            wait_s = reset - now
        elif verdict is Admission.TPM and detail < 0:  # the request alone is more than a minute's tokens
            wait_s = math.inf
        elif not admitted:
            wait_s = max(0.0, detail)
        return GateAnswer(
            verdict,
            wait_s,
            f"{request_id}|{reservation_usd!r}" if admitted and key.budget_usd is not None else "",
            RateWindow.of_window(key.rpm, requests_left, requests_reset) if key.rpm is not None else None,
            RateWindow.of_window(key.tpm, tokens_left, tokens_reset) if key.tpm is not None else None,
            f"{request_id}|{tokens}" if admitted and key.tpm is not None else "",
            detail if verdict is Admission.SHORT else 0.0,
        )

    async def settle(
        self,
        key: VirtualKey,
        started_at: float,
        member: str,
        cost_usd: float,
        tokens: int,
        request_id: str = "",
        tokens_member: str = "",
    ) -> None:
        """Release the request's reservation (if it still holds one), charge its real cost, and put the tokens it
        used in place of those it was admitted with.

        With `request_id`, once only: a repeat of a settlement that landed is recognised and changes nothing.
        """
        now = time.time()
        script_keys, reset = self._keys(key.id, key.period, started_at)
        if request_id:
            script_keys.append(f"{PREFIX}:settled:{request_id}")
        await self._settle(
            keys=script_keys,
            args=[
                member,
                repr(cost_usd),
                tokens,
                max(int(reset - now), 0) + 3600,
                key.tpm if key.tpm is not None else -1,
                repr(now),
                request_id,
                SETTLED_TTL_S,
                tokens_member,
            ],
        )

    async def extend(self, key: VirtualKey, member: str, until: float) -> bool:
        """Hold a running request's reservation until `until` (unix s); False when it holds none any more."""
        script_keys, _reset = self._keys(key.id, key.period, time.time())
        ttl = max(1, math.ceil(until - time.time())) + 60
        return bool(await self._extend(keys=script_keys[1:3], args=[member, repr(until), ttl]))

    # reserved() and spent() are read by the tests only (the gate reads both inside its Redis script); they
    # stay here because they are the only code besides that script that knows the budget keys' layout.
    async def reserved(self, key: VirtualKey) -> float:
        """The budget currently held by requests in flight."""
        value = await self.redis.get(self._keys(key.id, key.period, time.time())[0][2])
        return float(value or 0)

    async def spent(self, key: VirtualKey) -> float:
        script_keys, _reset = self._keys(key.id, key.period, time.time())
        value = await self.redis.hget(script_keys[0], "spent")
        return float(value or 0)
