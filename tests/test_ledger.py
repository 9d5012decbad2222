"""The durable ledger against a real redis-server: intact records, exact rollups, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from redis import exceptions as redis_exceptions

from metering import store as store_module
from metering.ledger import Keys, Ledger, read_records, rollup_increments
from metering.record import Attempt, Record, Usage
from metering.spool import SpoolLocked
from metering.store import NON_DURABLE_WARNING, Store, open_store
from tests.ledger_rollups import key_rollup, rollup
from tests.redis_server import RedisClusterServers, RedisServer

HOUR = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def is_durable(store: Store) -> bool:
    """False for the in-process store (fakeredis), whose contents die with the process."""
    return type(store).__module__.split(".")[0] != "fakeredis"


def make_record(i: int, *, started_at: float | None = None, key_id: str | None = "key-a") -> Record:
    """A realistic record: agentic ones retry on nano and fall back to mini."""
    agentic = i % 3 == 0
    usage = Usage(prompt_tokens=100 + i, cached_tokens=i % 50, completion_tokens=20 + i, reasoning_tokens=i % 7)
    cost = 0.001 * (i + 1)
    attempts = [Attempt(tier="nano", model="gpt-5-nano", status=200, usage=usage, cost_usd=cost, billed=True)]
    tier_path = ["nano"]
    if agentic:
        attempts.insert(0, Attempt(tier="nano", model="gpt-5-nano", status=429, ended_by="retry", reason="rate_limit"))
        attempts.append(Attempt(tier="mini", model="gpt-5-mini", status=200, usage=usage, cost_usd=0.004, billed=True))
        tier_path = ["nano", "mini"]
    return Record(
        request_id=f"req-{i:05d}",
        started_at=HOUR + i if started_at is None else started_at,
        ended_at=(HOUR + i if started_at is None else started_at) + 0.5,
        key_id=key_id,
        label="agentic" if agentic else "single_turn",
        routed_tier="nano",
        tier_path=tier_path,
        attempts=attempts,
        retries=1 if agentic else 0,
        fallbacks=1 if agentic else 0,
        usage=usage,
        cost_usd=sum(a.cost_usd for a in attempts if a.billed),
        counterfactual_usd={"mini": 0.01 * (i + 1), "nano": 0.002 * (i + 1)},
        outcome="degraded" if i % 10 == 9 else "success",
        estimated=i % 11 == 0,
    )


def expected_rollup(records: list[Record]) -> dict[str, int | float]:
    total: Counter[str] = Counter()
    for record in records:
        fields, _ = rollup_increments(record)
        for field, value in fields.items():
            total[field] += value
    return dict(total)


def assert_rollup_equal(actual: dict[str, int | float], expected: dict[str, int | float]) -> None:
    assert actual.keys() == expected.keys()
    for field, value in expected.items():
        assert actual[field] == pytest.approx(value, rel=1e-9, abs=1e-12), field


async def stored(store: object, **kwargs: object) -> list[Record]:
    return [r async for r in read_records(store, None, None, **kwargs)]  # type: ignore[arg-type]


def fast_ledger(store: object, spool: Path, **kwargs: object) -> Ledger:
    options: dict[str, object] = {"batch_size": 16, "flush_interval_s": 0.01, "retry_interval_s": 0.05}
    options.update(kwargs)
    return Ledger(store, str(spool), **options)  # type: ignore[arg-type]


# -- written and read back ------------------------------------------------------------------


async def test_records_written_and_read_back_intact(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    records = [make_record(i) for i in range(40)]
    for record in records:
        ledger.submit(record)
    assert await ledger.drain(5)
    back = await stored(store)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records]
    assert ledger.written == 40 and ledger.write_errors == 0
    await ledger.aclose()
    await store.aclose()


async def test_rollups_equal_the_sum_of_the_records(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    records = [make_record(i, key_id="key-a" if i % 2 else "key-b") for i in range(30)]
    for record in records:
        ledger.submit(record)
    await ledger.aclose()

    hour = await rollup(store, HOUR)
    assert_rollup_equal(hour, expected_rollup(records))
    assert hour["nano|agentic|requests"] == 10 and hour["nano|single_turn|requests"] == 20
    assert hour["nano|agentic|retries"] == 10 and hour["nano|agentic|fallbacks"] == 10
    assert hour["mini|agentic|billed_attempts"] == 10 and hour["mini|agentic|spend_usd"] == pytest.approx(0.04)
    assert hour["nano|single_turn|degraded"] + hour["nano|agentic|degraded"] == 3
    assert sum(v for k, v in hour.items() if k.endswith("|cost_usd")) == pytest.approx(sum(r.cost_usd for r in records))
    assert sum(v for k, v in hour.items() if k.endswith("|cf_mini_usd")) == pytest.approx(
        sum(r.counterfactual_usd["mini"] for r in records)
    )
    key_a = await key_rollup(store, "key-a", "2026010112")
    assert key_a["requests"] == 15
    assert key_a["cost_usd"] == pytest.approx(sum(r.cost_usd for r in records if r.key_id == "key-a"))

    keys = Keys()
    ttl = await store.ttl(keys.hour("2026010112"))
    assert 89 * 86400 < ttl <= 90 * 86400
    assert 0 < await store.ttl(keys.seen("req-00001")) <= 7 * 86400
    await store.aclose()


async def test_duplicate_submit_is_counted_once(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    record = make_record(1)
    ledger.submit(record)
    ledger.submit(record)  # same batch
    assert await ledger.drain(5)
    ledger.submit(record)  # a later batch
    await ledger.aclose()
    assert len(await stored(store)) == 1
    assert (await rollup(store, HOUR))["nano|single_turn|requests"] == 1
    assert ledger.written == 1 and ledger.duplicates == 2
    await store.aclose()


async def test_read_records_filters_on_started_at_not_on_arrival(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    now = time.time()
    # Appended out of time order, as a replay does: an old record arrives last.
    for i, started in enumerate([now - 60, now - 30, now - 7200, now - 10]):
        ledger.submit(make_record(i, started_at=started))
    await ledger.aclose()
    ids = [r.request_id async for r in read_records(store, now - 3600, now - 20)]
    assert ids == ["req-00000", "req-00001"]
    ids = [r.request_id async for r in read_records(store, now - 8000, None)]
    assert sorted(ids) == ["req-00000", "req-00001", "req-00002", "req-00003"]
    ids = [r.request_id async for r in read_records(store, None, now - 3600)]
    assert ids == ["req-00002"]
    await store.aclose()


# -- nothing lost, nothing doubled ------------------------------------------------------------


async def test_redis_killed_mid_stream_nothing_lost_nothing_doubled(redis_server: RedisServer, tmp_path: Path) -> None:
    store = open_store(redis_server.url, connect_timeout_s=0.3, socket_timeout_s=0.5)
    errors: list[int] = []
    depths: list[int] = []
    ledger = fast_ledger(
        store, tmp_path / "spool", on_write_error=lambda: errors.append(1), on_spool_depth=depths.append
    )
    # Which instance took each acknowledged write: the one alive when the write began.
    generation = 0
    acked_by: dict[str, int] = {}
    write = ledger._write_batch  # live batches and spool replays both end here

    async def tracked_write(batch: list) -> None:
        began = generation
        await write(batch)
        for queued in batch:
            acked_by.setdefault(queued.record.request_id, began)

    ledger._write_batch = tracked_write  # type: ignore[method-assign]
    await ledger.start()

    records = [make_record(i) for i in range(300)]
    for i, record in enumerate(records):
        ledger.submit(record)
        if i == 100:
            redis_server.kill()
            generation = 1  # down
        if i == 200:
            redis_server.start()
            generation = 2
        if i % 10 == 0:
            await asyncio.sleep(0.01)
        if 100 < i < 200 and i % 25 == 0:
            await asyncio.sleep(0.06)  # let replay attempts fail against the dead server
    assert await ledger.drain(15), f"still spooled: {ledger.spool_depth}, queued: {ledger.queue_depth}"

    # The restarted server is empty: it must hold every record the first one had not acknowledged.
    expected = [r for r in records if acked_by.get(r.request_id) != 0]
    back = await stored(store)
    counts = Counter(r.request_id for r in back)
    assert max(counts.values()) == 1, "a record was written twice"
    assert set(counts) == {r.request_id for r in expected}
    assert 100 <= len(expected) <= 300 - 50  # the first instance took some, the outage spooled some
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(expected))
    assert errors and ledger.write_errors == len(errors)
    assert max(depths) > 0 and depths[-1] == 0
    assert not list((tmp_path / "spool").glob("*.jsonl")) or all(
        p.stat().st_size == 0 for p in (tmp_path / "spool").glob("*.jsonl")
    )
    await ledger.aclose()
    await store.aclose()


async def test_spool_left_by_a_previous_process_is_replayed_at_start(redis_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    records = [make_record(i) for i in range(50)]
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    (spool / "replay-000000000001.jsonl").write_bytes(lines[: len(lines) // 2].rsplit(b"\n", 1)[0] + b"\n")
    # The rest in the active file, ending in a line torn by the crash (never acknowledged).
    rest = lines[len(lines[: len(lines) // 2].rsplit(b"\n", 1)[0] + b"\n") :]
    (spool / "spool.jsonl").write_bytes(rest + b'{"request_id": "torn", "sta')

    store = open_store(redis_url)
    ledger = fast_ledger(store, spool)
    await ledger.start()
    assert ledger.spool_depth == 51
    assert await ledger.drain(5)
    back = await stored(store)
    assert [r.request_id for r in back] == [r.request_id for r in records]  # in order
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(records))
    assert not list(spool.glob("replay-*.jsonl"))
    await ledger.aclose()
    await store.aclose()


async def test_replay_of_a_write_that_did_land_is_not_counted_twice(redis_url: str, tmp_path: Path) -> None:
    """A write that timed out but landed is spooled anyway; replaying it must change nothing."""
    store = open_store(redis_url)
    records = [make_record(i) for i in range(20)]
    first = fast_ledger(store, tmp_path / "a")
    await first.start()
    for record in records[:12]:
        first.submit(record)
    await first.aclose()

    spool = tmp_path / "b"
    spool.mkdir()
    (spool / "spool.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    second = fast_ledger(store, spool)
    await second.start()
    assert await second.drain(5)
    assert second.written == 8 and second.duplicates == 12
    assert Counter(r.request_id for r in await stored(store)) == Counter(r.request_id for r in records)
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(records))
    await second.aclose()
    await store.aclose()


async def test_aclose_with_redis_down_spools_and_a_new_ledger_replays(
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    store = open_store(redis_server.url, connect_timeout_s=0.3, socket_timeout_s=0.5)
    ledger = fast_ledger(store, spool)
    await ledger.start()
    redis_server.kill()
    records = [make_record(i) for i in range(40)]
    for record in records:
        ledger.submit(record)
    await ledger.aclose()  # straight away: the queue must reach the disk, not vanish
    assert ledger.spool_depth == 40
    assert sum(len(p.read_bytes().splitlines()) for p in spool.glob("*.jsonl")) == 40
    await store.aclose()

    redis_server.start()
    store = open_store(redis_server.url)
    again = fast_ledger(store, spool)
    await again.start()
    assert await again.drain(5)
    assert [r.request_id for r in await stored(store)] == [r.request_id for r in records]
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(records))
    await again.aclose()
    await store.aclose()


async def test_aclose_flushes_the_queue_to_redis(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    ledger = Ledger(store, str(tmp_path / "spool"), flush_interval_s=10.0)  # the writer would wait 10 s
    await ledger.start()
    for i in range(500):
        ledger.submit(make_record(i))
    await ledger.aclose()
    assert len(await stored(store)) == 500
    assert ledger.spool_depth == 0
    await store.aclose()


async def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    store = open_store(None)
    first = fast_ledger(store, tmp_path / "spool")
    await first.start()
    with pytest.raises(SpoolLocked):
        await fast_ledger(store, tmp_path / "spool").start()
    await first.aclose()


async def test_ledger_on_a_three_node_redis_cluster(redis_cluster: RedisClusterServers, tmp_path: Path) -> None:
    """Every key shares one hash tag, so the batch script runs unchanged on a cluster."""
    store = open_store(redis_cluster.url, cluster=True)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    records = [make_record(i, key_id="key-a") for i in range(60)]
    for record in records + records[:5]:
        ledger.submit(record)
    await ledger.aclose()
    assert ledger.write_errors == 0 and ledger.written == 60 and ledger.duplicates == 5
    assert [r.to_dict() for r in await stored(store)] == [r.to_dict() for r in records]
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(records))
    assert (await key_rollup(store, "key-a", HOUR))["requests"] == 60
    await store.aclose()


# -- in-process store ---------------------------------------------------------------------------


async def test_in_process_store_takes_and_returns_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="routetax.ledger"):
        store = open_store(None)
        open_store(None)
    assert [r.getMessage() for r in caplog.records].count(NON_DURABLE_WARNING) == 1
    assert not is_durable(store)
    ledger = fast_ledger(store, tmp_path / "spool")
    await ledger.start()
    records = [make_record(i) for i in range(10)]
    for record in records + records[:3]:
        ledger.submit(record)
    await ledger.aclose()
    assert [r.to_dict() for r in await stored(store)] == [r.to_dict() for r in records]
    assert_rollup_equal(await rollup(store, HOUR), expected_rollup(records))


def test_submit_never_raises_or_blocks(tmp_path: Path) -> None:
    """The request path may call submit before start, from sync code; it only queues."""
    ledger = Ledger(open_store(None), str(tmp_path / "spool"))
    started = time.perf_counter()
    for i in range(1000):
        ledger.submit(make_record(i))
    assert ledger.queue_depth == 1000
    assert time.perf_counter() - started < 0.5


async def test_the_c_command_packer_sends_what_redis_py_would(redis_url: str) -> None:
    """Values survive the hiredis packer exactly (UTF-8, binary, repr() floats); bad ones fail as before."""
    store = open_store(redis_url)
    try:
        await store.hset("packer", mapping={"name": "café ☕", "raw": b"\x00\xff", "usd": 0.1 + 0.2, "n": -7})
        assert await store.hgetall("packer") == {
            b"name": "café ☕".encode(),
            b"raw": b"\x00\xff",
            b"usd": repr(0.1 + 0.2).encode(),
            b"n": b"-7",
        }
        assert await store.execute_command("CONFIG GET", "maxmemory-policy")  # a two-word command
        with pytest.raises(redis_exceptions.DataError):
            await store.set("packer:bool", True)
    finally:
        await store.aclose()


async def test_a_record_no_json_can_carry_is_dropped_and_counted_at_submit_and_the_request_never_sees_it(
    tmp_path: Path,
) -> None:
    """The record's JSON is made when it is submitted (after its answer): one that cannot be serialised (a lone
    surrogate in a client's task id) is counted as dropped right there, and submit still neither raises nor waits."""
    from tests.in_process import InProcessStore

    dropped: list[tuple[str, int]] = []
    ledger = Ledger(
        InProcessStore.open().redis,  # type: ignore[arg-type]  # never reached: nothing is written
        str(tmp_path / "spool"),
        on_dropped=lambda reason, count: dropped.append((reason, count)),
    )
    record = make_record(0)
    record.task_id = "\ud800"
    ledger.submit(record)
    ledger.submit(make_record(1))
    assert dropped == [("unserialisable", 1)] and ledger.dropped == 1
    assert ledger.queue_depth == 1  # the next record is queued as ever
