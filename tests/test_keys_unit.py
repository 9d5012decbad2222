"""Virtual keys against a Lua-capable in-process store: lookups, revocation, budgets, reservations and rates.

The gate and settle scripts run for real (fakeredis runs Lua); time is the test's clock, so a minute of
token-bucket refill or a month's reset takes no time at all.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import orjson
import pytest

from router import keys as keys_module
from router.keys import Admission, KeyStore, KeyStoreDown, VirtualKey, dump_key, hash_key, load_key, period_bucket
from tests.in_process import Clock, InProcessStore

MAY_14_NOON = datetime(2026, 5, 14, 12, tzinfo=UTC).timestamp()
JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(MAY_14_NOON).install(monkeypatch, keys_module)


@pytest.fixture
def store() -> InProcessStore:
    return InProcessStore.open()


@pytest.fixture
def keys(store: InProcessStore, clock: Clock) -> KeyStore:
    return KeyStore(store.redis, cache_s=2.0)


async def test_a_created_key_is_found_by_its_secret_and_only_its_hash_is_stored(
    keys: KeyStore, store: InProcessStore
) -> None:
    key, secret = await keys.create("ci", budget_usd=5.0, tiers=["nano"], team="platform")
    assert secret.startswith("rt-") and len(secret) > 40
    found = await keys.lookup(secret)
    assert found is not None and (found.id, found.name, found.budget_usd, found.team) == (key.id, "ci", 5.0, "platform")
    assert found.allows("nano") and not found.allows("mini")
    table = await store.redis.hgetall(keys_module.KEY_TABLE)
    dump = repr(table) + repr(await store.redis.hgetall(keys_module.HASH_INDEX))
    assert secret not in dump and hash_key(secret) in dump
    assert await keys.lookup("rt-not-a-key") is None


async def test_keys_are_listed_oldest_first(keys: KeyStore, clock: Clock) -> None:
    first, _ = await keys.create("first", created_at=clock.now)
    second, _ = await keys.create("second", created_at=clock.now - 60)
    assert [k.id for k in await keys.list()] == [second.id, first.id]


async def test_a_revoked_key_stops_working_once_the_lookup_cache_expires(keys: KeyStore, clock: Clock) -> None:
    key, secret = await keys.create("leaked")
    assert await keys.lookup(secret) is not None
    assert await keys.revoke(key.id) is True
    assert await keys.lookup(secret) is not None  # cached: every replica learns within `cache_s`
    clock.advance(2.0)
    assert await keys.lookup(secret) is None
    assert [k.revoked for k in await keys.list()] == [True]
    assert await keys.revoke("key_unknown") is False


async def test_when_the_store_blinks_a_key_seen_recently_still_works_and_an_unseen_one_cannot_be_checked(
    keys: KeyStore, store: InProcessStore, clock: Clock
) -> None:
    _, seen = await keys.create("seen")
    _, unseen = await keys.create("unseen")
    await keys.lookup(seen)
    clock.advance(10)
    store.down()
    assert (await keys.lookup(seen) or VirtualKey("", "")).name == "seen"
    with pytest.raises(KeyStoreDown):
        await keys.lookup(unseen)


def test_stored_keys_stay_readable_across_versions() -> None:
    """A newer replica's extra fields are ignored; `team` is only written when set (older replicas lack it)."""
    assert "team" not in orjson.loads(dump_key(VirtualKey("key_1", "a")))
    assert orjson.loads(dump_key(VirtualKey("key_1", "a", team="ml")))["team"] == "ml"
    raw = orjson.dumps({"id": "key_1", "name": "a", "rpm": 3, "created_at": 1.0, "field_from_the_future": 1})
    assert load_key(raw) == VirtualKey("key_1", "a", rpm=3, created_at=1.0)


def test_budget_periods_reset_at_midnight_and_on_the_first_of_the_month_utc() -> None:
    assert period_bucket("day", MAY_14_NOON) == ("20260514", datetime(2026, 5, 15, tzinfo=UTC).timestamp())
    assert period_bucket("month", MAY_14_NOON) == ("202605", JUNE_1)
    december = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert period_bucket("month", december) == ("202612", datetime(2027, 1, 1, tzinfo=UTC).timestamp())


async def test_a_spent_budget_refuses_until_the_period_resets(keys: KeyStore, clock: Clock) -> None:
    key, _ = await keys.create("capped", budget_usd=1.0)
    admission, wait_s, member, *_ = await keys.admit(key, 0.4, "req_1")
    assert (admission, wait_s) == (Admission.OK, 0.0) and member == "req_1|0.4"
    assert await keys.reserved(key) == pytest.approx(0.4)
    await keys.settle(key, clock.now, member, 1.0, 10)  # the real cost: more than was reserved
    assert (await keys.reserved(key), await keys.spent(key)) == (0.0, 1.0)
    admission, wait_s, member, *_ = await keys.admit(key, 0.01, "req_2")
    assert (admission, wait_s, member) == (Admission.BUDGET, JUNE_1 - clock.now, "")
    clock.now = JUNE_1 + 1
    assert (await keys.admit(key, 0.01, "req_3"))[0] is Admission.OK
    assert await keys.spent(key) == 0.0


async def test_requests_in_flight_together_cannot_reserve_past_the_budget(keys: KeyStore, clock: Clock) -> None:
    key, _ = await keys.create("shared", budget_usd=1.0)
    first = await keys.admit(key, 0.6, "a", hold_s=300)
    assert first[0] is Admission.OK
    held = await keys.admit(key, 0.6, "b")  # would hold 1.2 of 1.0: held, not spent, so it says so
    assert (held.admission, held.wait_s) == (Admission.HELD, 300.0)  # `a` ends by its deadline at the latest
    assert (await keys.admit(key, 0.3, "c"))[0] is Admission.OK
    await keys.settle(key, clock.now, first[2], 0.2, 0)
    assert (await keys.reserved(key), await keys.spent(key)) == (pytest.approx(0.3), pytest.approx(0.2))


async def test_a_held_budget_says_when_enough_reservations_end_for_the_request_to_fit(
    keys: KeyStore, clock: Clock
) -> None:
    key, _ = await keys.create("busy", budget_usd=1.0)
    for name, hold_s in (("late", 90), ("soon", 10), ("middle", 40)):
        assert (await keys.admit(key, 0.3, name, hold_s=hold_s))[0] is Admission.OK
    assert (await keys.admit(key, 0.35, "needs-one")).wait_s == 10.0  # 0.1 free: one ending is enough
    assert (await keys.admit(key, 0.65, "needs-two")).wait_s == 40.0


async def test_a_request_whose_own_worst_case_exceeds_what_is_left_is_refused_with_nothing_in_flight(
    keys: KeyStore, clock: Clock
) -> None:
    """On main a lone request was admitted whatever it could cost: one huge request spent 150x a fresh key."""
    key, _ = await keys.create("almost-spent", budget_usd=1.0)
    await keys.settle(key, clock.now, "", 0.9, 0)
    short = await keys.admit(key, 0.5, "big")
    assert (short.admission, short.left_usd, short.wait_s) == (Admission.SHORT, pytest.approx(0.1), JUNE_1 - clock.now)
    assert await keys.reserved(key) == 0.0
    fresh, _ = await keys.create("fresh", budget_usd=0.01)
    assert (await keys.admit(fresh, 1.5, "huge"))[0] is Admission.SHORT
    assert (await keys.admit(key, 0.1, "fits"))[0] is Admission.OK  # exactly what is left


async def test_a_reservation_nobody_settles_expires_at_its_deadline_and_is_not_released_twice(
    keys: KeyStore, clock: Clock
) -> None:
    key, _ = await keys.create("crashy", budget_usd=1.0)
    crashed = await keys.admit(key, 0.6, "crashed", hold_s=10)
    blocked = await keys.admit(key, 0.6, "blocked", hold_s=10)
    assert (blocked.admission, blocked.wait_s) == (Admission.HELD, 10.0)
    clock.advance(10.001)
    later = await keys.admit(key, 0.6, "later", hold_s=10)
    assert later[0] is Admission.OK and await keys.reserved(key) == pytest.approx(0.6)
    await keys.settle(key, clock.now, crashed[2], 0.0, 0)  # the crashed request's late settlement
    assert await keys.reserved(key) == pytest.approx(0.6)  # `later` still holds its own


async def test_no_60_second_window_holds_more_than_rpm_requests(keys: KeyStore, clock: Clock) -> None:
    """On main the token bucket admitted a full bucket and then its refill: 2 rpm let 3 through in 30 s."""
    key, _ = await keys.create("rpm", rpm=2)
    assert (await keys.admit(key, 0.0))[0] is Admission.OK
    clock.advance(20)
    assert (await keys.admit(key, 0.0))[0] is Admission.OK
    admission, wait_s, *_ = await keys.admit(key, 0.0)
    assert (admission, wait_s) == (Admission.RPM, pytest.approx(40.0))  # when the first leaves the window
    clock.advance(30)
    assert (await keys.admit(key, 0.0))[0] is Admission.RPM  # 50 s after the first: still two in the window
    clock.advance(10.001)
    assert (await keys.admit(key, 0.0))[0] is Admission.OK
    assert (await keys.admit(key, 0.0))[0] is Admission.RPM


async def test_tokens_per_minute_are_reserved_at_admission_and_settled_to_what_was_used(
    keys: KeyStore, clock: Clock
) -> None:
    """On main tokens were charged only at settlement, so a burst was admitted at once, far past the tpm."""
    key, _ = await keys.create("tpm", tpm=100)
    admission, _, member, _, _, tokens_member, _ = await keys.admit(key, 0.0, "long", tokens=80)
    assert (admission, member, tokens_member) == (Admission.OK, "", "long|80")  # no budget: no money reserved
    refused = await keys.admit(key, 0.0, "burst", tokens=30)
    assert (refused.admission, refused.wait_s) == (Admission.TPM, 60.0)  # 110 > 100 while `long` runs
    await keys.settle(key, clock.now, member, 0.0, 50, tokens_member=tokens_member)  # it used 50 of its 80
    assert (await keys.admit(key, 0.0, "next", tokens=30))[0] is Admission.OK
    too_large = await keys.admit(key, 0.0, "huge", tokens=101)
    assert (too_large.admission, too_large.wait_s) == (Admission.TPM, math.inf)  # never, as it stands
    clock.advance(60.001)
    assert (await keys.admit(key, 0.0, "after", tokens=100))[0] is Admission.OK


async def test_a_settlement_charges_the_period_the_request_started_in(keys: KeyStore, clock: Clock) -> None:
    key, _ = await keys.create("daily", budget_usd=1.0, period="day")
    started = clock.now
    clock.now = datetime(2026, 5, 15, 0, 0, 5, tzinfo=UTC).timestamp()
    await keys.settle(key, started, "", 0.7, 0)
    assert await keys.spent(key) == 0.0  # today's budget is untouched
    clock.now = started
    assert await keys.spent(key) == pytest.approx(0.7)


async def test_a_request_with_a_short_deadline_does_not_cut_short_the_reservations_held_for_longer(
    keys: KeyStore, store: InProcessStore
) -> None:
    """main set the reservations' TTL to each admitted request's own: a 10 s request made a 300 s one's vanish."""
    key, _ = await keys.create("mixed", budget_usd=1.0)
    await keys.admit(key, 0.5, "long", hold_s=300)
    await keys.admit(key, 0.1, "short", hold_s=10)
    for name in ("reservations", "reserved"):
        assert await store.redis.ttl(f"{keys_module.PREFIX}:{name}:{key.id}") > 300
