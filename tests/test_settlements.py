"""Key settlements the store refused are never forgotten: beyond a few in memory they wait on disk, across restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from metering.metrics import Metrics
from metering.record import Record
from router.auth import Gatekeeper
from router.keys import SETTLE_SCRIPT, VirtualKey
from router.settlements import Settlement, Settlements
from tests.conftest import durable_config
from tests.waiting import async_wait_until

KEY = VirtualKey(id="key_outage", name="outage", key_hash="0" * 64)


class FlakyStore:
    """A store whose settle script refuses every call while `up` is False, and applies each request once after.

    Once per request as the real script does with its marker (tests/test_fail_safe_access.py checks the script).
    """

    def __init__(self) -> None:
        self.up = False
        self.charged: dict[str, float] = {}  # request id -> cost charged

    def register_script(self, script: str) -> Callable[..., Awaitable[int]]:
        async def run(keys: list[str], args: list[Any]) -> int:
            if not self.up:
                raise ConnectionError("the store cannot take writes")
            assert script == SETTLE_SCRIPT
            request_id = args[6]
            if request_id in self.charged:
                return 0
            self.charged[request_id] = float(args[1])
            return 1

        return run

    async def settle(self, settlement: Settlement) -> None:
        await self.register_script(SETTLE_SCRIPT)([], ["", settlement.cost_usd, 0, 0, -1, 0, settlement.request_id])


def owed(n: int) -> list[Settlement]:
    return [Settlement(f"req-{i}", KEY, 1_800_000_000.0, "", 0.001 * (i + 1), 10) for i in range(n)]


async def test_settlements_past_the_memory_bound_are_all_charged_when_the_store_returns(tmp_path: Path) -> None:
    store = FlakyStore()
    settlements = Settlements(store.settle, tmp_path / "settlements", memory=10, retry_s=0.02)
    settlements.start()
    for settlement in owed(100):  # ten times what memory keeps
        settlements.refused(settlement)
        await asyncio.sleep(0)  # not a wait: a turn of the loop, so the woken task spools as memory fills
    await async_wait_until(lambda: len(settlements._waiting) < 10, "settlements past the memory bound to go to disk")
    assert settlements.waiting == 100 and settlements.dropped == 0
    store.up = True
    await async_wait_until(lambda: settlements.waiting == 0, "every waiting settlement to be charged")
    await settlements.aclose()
    assert store.charged == {s.request_id: pytest.approx(s.cost_usd) for s in owed(100)}


async def test_a_gatekeeper_stopped_during_an_outage_leaves_its_settlements_to_the_next_process(
    tmp_path: Path,
) -> None:
    # The lost case before: settlements were kept in memory only, so a restart during an outage forgot them all.
    config = durable_config("http://127.0.0.1:9", "redis://127.0.0.1:9", tmp_path / "spool", auth={"mode": "keys"})
    store = FlakyStore()
    first = Gatekeeper(config, {}, Metrics())
    first.start(store)
    for i in range(30):
        record = Record(request_id=f"req-{i}", started_at=time.time(), cost_usd=0.01)
        await first.admit(KEY, record, ["nano"], {}, 0)  # an unlimited key: admitted without the store
        first.settle(record)
    await first.aclose()
    assert store.charged == {}

    store.up = True
    second = Gatekeeper(config, {}, Metrics())
    second.start(store)
    await async_wait_until(lambda: len(store.charged) == 30, "all 30 settlements to be charged")
    await second.aclose()
    assert sorted(store.charged) == sorted(f"req-{i}" for i in range(30))
    assert (tmp_path / "spool" / "settlements").is_dir()


async def test_a_settlement_replayed_after_it_landed_is_charged_once(tmp_path: Path) -> None:
    store = FlakyStore()
    settlements = Settlements(store.settle, tmp_path / "settlements", memory=1, retry_s=0.02)
    settlements.start()
    for settlement in owed(3):
        settlements.refused(settlement)
    await async_wait_until(
        lambda: settlements.waiting == 3 and not settlements._waiting, "the 3 refused settlements to be on disk"
    )
    store.up = True
    await store.settle(owed(1)[0])  # it landed after all (a write that timed out after Redis applied it)
    await async_wait_until(lambda: settlements.waiting == 0, "every waiting settlement to be charged")
    await settlements.aclose()
    assert list(store.charged.values()) == [pytest.approx(0.001), pytest.approx(0.002), pytest.approx(0.003)]


async def test_without_a_durable_store_settlements_past_the_hold_are_dropped_and_counted() -> None:
    store = FlakyStore()
    dropped: list[int] = []
    settlements = Settlements(store.settle, None, memory=2, hold=5, retry_s=0.02, on_dropped=dropped.append)
    settlements.start()
    for settlement in owed(8):
        settlements.refused(settlement)
    assert settlements.dropped == 3 and dropped == [1, 1, 1] and settlements.waiting == 5
    store.up = True
    await async_wait_until(lambda: settlements.waiting == 0, "every waiting settlement to be charged")
    await settlements.aclose()
    assert sorted(store.charged) == [f"req-{i}" for i in range(5)]


def test_a_spooled_settlement_reads_back_as_it_was_without_the_keys_hash() -> None:
    settlement = owed(1)[0]
    line = settlement.line()
    assert b"key_hash" not in line
    back = Settlement.from_line(line)
    assert back.request_id == settlement.request_id and back.cost_usd == settlement.cost_usd
    assert back.key.id == KEY.id and back.key.key_hash == ""
