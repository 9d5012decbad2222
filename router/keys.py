"""Virtual API keys: who may use the gateway, on which tiers, within which budget and rate.

A key is shown once at creation and stored only as its SHA-256; lookups go by that hash
and are confirmed with a constant-time comparison, then cached for a second or two so a
revocation reaches every replica within seconds. Budgets and rate limits are enforced by
one Lua script per request over keys that share the `{keys}` hash tag (one slot: legal on
Redis Cluster), so two replicas racing on the same key cannot both spend its last cent:
each request reserves an estimate of its cost before it starts and settles the real cost
from the ledger record when it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

PREFIX = "routetax:{keys}"
KEY_TABLE = f"{PREFIX}:all"  # hash: id -> key JSON
HASH_INDEX = f"{PREFIX}:by_hash"  # hash: sha256 -> id

GATE_SCRIPT = """
-- KEYS: 1 budget hash (spent, reserved) for this period, 2 rate hash (requests, tokens) for this minute
-- ARGV: 1 budget (or -1), 2 reservation, 3 rpm (or -1), 4 tpm (or -1), 5 budget ttl, 6 rate ttl
local budget = tonumber(ARGV[1])
if budget >= 0 then
  local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
  if spent + reserved >= budget then return {'budget', tostring(spent)} end
end
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
if rpm >= 0 and tonumber(redis.call('HGET', KEYS[2], 'requests') or '0') >= rpm then return {'rpm', '0'} end
if tpm >= 0 and tonumber(redis.call('HGET', KEYS[2], 'tokens') or '0') >= tpm then return {'tpm', '0'} end
redis.call('HINCRBY', KEYS[2], 'requests', 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
if budget >= 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return {'ok', '0'}
"""

SETTLE_SCRIPT = """
-- KEYS: 1 budget hash, 2 rate hash;  ARGV: 1 reservation to release, 2 real cost, 3 tokens, 4 budget ttl, 5 rate ttl
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -tonumber(ARGV[1]))
redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('HINCRBY', KEYS[2], 'tokens', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""


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


def period_bucket(period: str, now: float | None = None) -> tuple[str, float]:
    """(bucket name, unix time it resets) for a budget period."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
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

    def _keys(self, key: VirtualKey, now: float) -> tuple[list[str], float, int]:
        bucket, reset = period_bucket(key.period, now)
        minute = int(now // 60)
        return [f"{PREFIX}:budget:{key.id}:{bucket}", f"{PREFIX}:rate:{key.id}:{minute}"], reset, minute

    async def admit(self, key: VirtualKey, reservation_usd: float) -> tuple[str, float]:
        """('ok', 0) or (which limit, seconds until it resets) — atomically across replicas."""
        now = time.time()
        script_keys, reset, minute = self._keys(key, now)
        budget_ttl = int(reset - now) + 3600
        result = await self._gate(
            keys=script_keys,
            args=[
                key.budget_usd if key.budget_usd is not None else -1,
                repr(reservation_usd),
                key.rpm if key.rpm is not None else -1,
                key.tpm if key.tpm is not None else -1,
                budget_ttl,
                120,
            ],
        )
        verdict = result[0].decode() if isinstance(result[0], bytes) else result[0]
        if verdict == "budget":
            return "budget", reset - now
        if verdict in ("rpm", "tpm"):
            return verdict, (minute + 1) * 60 - now
        return "ok", 0.0

    async def settle(
        self, key_id: str, period: str, started_at: float, reservation_usd: float, cost_usd: float, tokens: int
    ) -> None:
        key = VirtualKey(id=key_id, name="", period=period)
        script_keys, reset, _minute = self._keys(key, started_at)
        await self._settle(
            keys=script_keys, args=[repr(reservation_usd), repr(cost_usd), tokens, int(reset - time.time()) + 3600, 120]
        )

    async def spent(self, key: VirtualKey) -> float:
        script_keys, _reset, _minute = self._keys(key, time.time())
        value = await self.redis.hget(script_keys[0], "spent")
        return float(value or 0)
