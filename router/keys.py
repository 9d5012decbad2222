"""Virtual API keys: who may use the gateway, on which tiers, within which budget and rate.

A key is shown once at creation and stored only as its SHA-256; lookups go by that hash
and are confirmed with a constant-time comparison, then cached for a second or two so a
revocation reaches every replica within seconds. Budgets and rate limits are enforced by
one Lua script per request over keys that share the `{keys}` hash tag (one slot: legal on
Redis Cluster), so two replicas racing on the same key cannot both spend its last cent:
each request reserves what its plan can cost before it starts and settles the real cost
from the ledger record when it ends. A reservation nobody settles (a crash) expires once
the request's deadline has passed. Rates are token buckets, so no 60 s window ever holds
more than `rpm` requests; the gate's answer says where each bucket stands (`RateWindow`), which
the key's clients see as OpenAI's `x-ratelimit-*` headers (router/rate_headers.py).
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
-- KEYS: 1 budget hash of this period (spent), 2 rate hash (token buckets r, t and their time ts),
--       3 reservations (zset: '<request id>|<usd>' scored by expiry), 4 the reservations' total (string)
-- ARGV: 1 budget (or -1), 2 reservation usd, 3 rpm (or -1), 4 tpm (or -1), 5 budget ttl, 6 now (unix s),
--       7 reservation member, 8 reservation expiry (unix s), 9 reservation ttl (s)
local now = tonumber(ARGV[6])
-- A reservation whose request never settled (a crash, a lost settlement) expires instead of holding the budget.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #expired > 0 then
  local total = tonumber(redis.call('GET', KEYS[4]) or '0')
  for _, member in ipairs(expired) do
    total = total - tonumber(string.match(member, '|([^|]+)$'))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if total < 0 or redis.call('ZCARD', KEYS[3]) == 0 then total = 0 end
  redis.call('SET', KEYS[4], string.format('%.17g', total), 'EX', ARGV[9])
end
-- The rate buckets as they stand now (token buckets, full at rest, refilled continuously), read before any decision
-- so that every answer, admitted or refused, can tell the client where the key's own windows stand.
local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local r, t = -1, -1
if rpm >= 0 or tpm >= 0 then
  local state = redis.call('HMGET', KEYS[2], 'r', 't', 'ts')
  local elapsed = math.max(0, now - tonumber(state[3] or now))
  if rpm >= 0 then r = math.min(rpm, tonumber(state[1] or rpm) + elapsed * rpm / 60) end
  if tpm >= 0 then t = math.min(tpm, tonumber(state[2] or tpm) + elapsed * tpm / 60) end
end
-- {verdict, its wait or spend, the request bucket, the token bucket}: numbers as strings (Lua numbers reach the
-- client truncated to integers).
local function answer(verdict, detail)
  return {verdict, detail, string.format('%.17g', r), string.format('%.17g', t)}
end
local budget = tonumber(ARGV[1])
if budget >= 0 then
  local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
  local reserved = tonumber(redis.call('GET', KEYS[4]) or '0')
  -- In flight together, requests may reserve up to the budget; a lone request may use whatever remains.
  if spent + reserved >= budget or (reserved > 0 and spent + reserved + tonumber(ARGV[2]) > budget) then
    return answer('budget', tostring(spent))
  end
end
-- Never more than rpm requests in any 60 s.
if rpm >= 0 and r < 1 then return answer('rpm', tostring(rpm > 0 and (1 - r) * 60 / rpm or 60)) end
if tpm >= 0 and t <= 0 then return answer('tpm', tostring(tpm > 0 and -t * 60 / tpm or 60)) end
if rpm >= 0 or tpm >= 0 then
  if rpm >= 0 then r = r - 1 end
  redis.call('HSET', KEYS[2], 'r', string.format('%.17g', r), 't', string.format('%.17g', t), 'ts', ARGV[6])
  redis.call('EXPIRE', KEYS[2], 120)
end
if budget >= 0 then
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[9])
  local total = tonumber(redis.call('GET', KEYS[4]) or '0') + tonumber(ARGV[2])
  redis.call('SET', KEYS[4], string.format('%.17g', total), 'EX', ARGV[9])
end
return answer('ok', '0')
"""

SETTLE_SCRIPT = """
-- KEYS: as the gate's, then 5 the request's settled marker (only when ARGV[7] is not '')
-- ARGV: 1 reservation member ('' when none), 2 real cost, 3 tokens, 4 budget ttl, 5 tpm (or -1), 6 now,
--       7 request id ('' when none), 8 the marker's ttl
-- A settlement retried after an outage may already have landed (a timeout after Redis applied it, a replay cut
-- short by a crash): the marker makes the repeat a no-op (returns 0). Releasing is idempotent anyway (ZREM says
-- whether this request still held its reservation), so a reservation that already expired is not subtracted twice.
if ARGV[7] ~= '' and not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[8]) then
  return 0
end
if ARGV[1] ~= '' and redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  local total = tonumber(redis.call('GET', KEYS[4]) or '0') - tonumber(string.match(ARGV[1], '|([^|]+)$'))
  if total < 0 or redis.call('ZCARD', KEYS[3]) == 0 then total = 0 end
  redis.call('SET', KEYS[4], string.format('%.17g', total), 'KEEPTTL')
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
local tpm, tokens = tonumber(ARGV[5]), tonumber(ARGV[3])
if tpm >= 0 and tokens > 0 then
  local t = tonumber(redis.call('HGET', KEYS[2], 't') or ARGV[5])
  if t < 0 and tpm > 0 and t < -tpm then t = -tpm end
  redis.call('HSET', KEYS[2], 't', string.format('%.17g', t - tokens))
  if redis.call('HEXISTS', KEYS[2], 'ts') == 0 then redis.call('HSET', KEYS[2], 'ts', ARGV[6]) end
  redis.call('EXPIRE', KEYS[2], 120)
end
return 1
"""


class Admission(StrEnum):
    """The gate script's answer: admitted, or the limit that refused the request (its Lua return values)."""

    OK = "ok"
    BUDGET = "budget"  # the period's budget is spent (or held by requests in flight)
    RPM = "rpm"  # requests per minute
    TPM = "tpm"  # tokens per minute


@dataclass(frozen=True, slots=True)
class RateWindow:
    """Where one of a key's per-minute rates stands, as a client pacing itself needs it (OpenAI's headers).

    `remaining` is what could be admitted right now; `reset_s` is how long until the bucket is full again
    (OpenAI's "time until the rate limit resets to its initial state").
    """

    limit: int
    remaining: int
    reset_s: float

    @classmethod
    def of_bucket(cls, limit: int, level: float) -> RateWindow:
        """The window of a token bucket holding `level` of `limit`, refilled at `limit` per 60 s."""
        reset_s = (limit - level) * 60 / limit if limit > 0 else 0.0
        return cls(limit, max(0, math.floor(level)), max(0.0, reset_s))


class GateAnswer(NamedTuple):
    """The gate script's one answer: the verdict, and where the key's rates stand after it (None: no such limit)."""

    admission: Admission
    wait_s: float  # refused: seconds until the limit admits again
    member: str  # admitted with a budget: the reservation to settle
    requests: RateWindow | None
    tokens: RateWindow | None


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
    """A key as stored; `team` only when set, so keys without one stay readable by older replicas."""
    data = asdict(key)
    if data["team"] is None:
        del data["team"]
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
            f"{PREFIX}:rate:{key_id}",
            f"{PREFIX}:reservations:{key_id}",
            f"{PREFIX}:reserved:{key_id}",
        ], reset

    async def admit(
        self, key: VirtualKey, reservation_usd: float, request_id: str = "", hold_s: float = 3600.0
    ) -> GateAnswer:
        """Admitted (with the reservation member to settle) or the limit that refused and the seconds until it
        admits again — atomically, with the key's rate windows from the same round trip.

        The reservation expires after `hold_s` (the request's longest possible life) if nothing settles it.
        """
        now = time.time()
        script_keys, reset = self._keys(key.id, key.period, now)
        member = f"{request_id or uuid.uuid4().hex}|{reservation_usd!r}"
        result = await self._gate(
            keys=script_keys,
            args=[
                key.budget_usd if key.budget_usd is not None else -1,
                repr(reservation_usd),
                key.rpm if key.rpm is not None else -1,
                key.tpm if key.tpm is not None else -1,
                int(reset - now) + 3600,
                repr(now),
                member,
                repr(now + hold_s),
                int(hold_s) + 60,
            ],
        )
        verdict, detail, requests, tokens = (item.decode() if isinstance(item, bytes) else item for item in result)
        admission = Admission(verdict)
        wait_s = 0.0  # a budget admits again when its period resets; a rate says when its bucket holds enough
        if admission is not Admission.OK:
            wait_s = reset - now if admission is Admission.BUDGET else float(detail)
        return GateAnswer(
            admission,
            wait_s,
            member if admission is Admission.OK and key.budget_usd is not None else "",
            RateWindow.of_bucket(key.rpm, float(requests)) if key.rpm is not None else None,
            RateWindow.of_bucket(key.tpm, float(tokens)) if key.tpm is not None else None,
        )

    async def settle(
        self, key: VirtualKey, started_at: float, member: str, cost_usd: float, tokens: int, request_id: str = ""
    ) -> None:
        """Release the request's reservation (if it still holds one) and charge its real cost and tokens.

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
            ],
        )

    # reserved() and spent() are read by the tests only (the gate reads both inside its Redis script); they
    # stay here because they are the only code besides that script that knows the budget keys' layout.
    async def reserved(self, key: VirtualKey) -> float:
        """The budget currently held by requests in flight."""
        value = await self.redis.get(self._keys(key.id, key.period, time.time())[0][3])
        return float(value or 0)

    async def spent(self, key: VirtualKey) -> float:
        script_keys, _reset = self._keys(key.id, key.period, time.time())
        value = await self.redis.hget(script_keys[0], "spent")
        return float(value or 0)
