"""The test suite's own rules hold: markers follow fixtures, a unit test cannot start anything, waits have deadlines."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from starlette.applications import Starlette

from router.servers import start_in_thread
from tests.running import StartedInUnitTest, starts_something
from tests.waiting import async_wait_until, wait_until


def test_a_test_without_starting_fixtures_is_unit(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") and not request.node.get_closest_marker("e2e")
    assert not starts_something(["tmp_path", "monkeypatch", "capsys"])
    assert starts_something(["tmp_path", "processes"]) and starts_something(["serve_in_thread"])


def test_a_unit_test_that_starts_a_process_fails_naming_the_fixture() -> None:
    with pytest.raises(StartedInUnitTest, match="use a fixture"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_a_unit_test_that_starts_a_server_fails() -> None:
    with pytest.raises(StartedInUnitTest, match="started a server"):
        start_in_thread(Starlette(), name="forbidden")


async def test_a_unit_test_that_starts_an_asyncio_subprocess_fails() -> None:
    with pytest.raises(StartedInUnitTest):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


def test_wait_until_returns_the_first_truthy_value_and_names_what_never_happened() -> None:
    seen = iter([0, None, "ready"])
    assert wait_until(lambda: next(seen), "the third call", interval_s=0) == "ready"
    with pytest.raises(AssertionError, match="waited 0.05 s for the ledger to flush; last seen: 0"):
        wait_until(lambda: 0, "the ledger to flush", timeout_s=0.05, interval_s=0.01)


async def test_async_wait_until_awaits_coroutine_predicates() -> None:
    calls = []

    async def third_time() -> bool:
        calls.append(1)
        return len(calls) >= 3

    assert await async_wait_until(third_time, "three calls", interval_s=0) is True
    with pytest.raises(AssertionError, match="waited 0.05 s for nothing"):
        await async_wait_until(lambda: False, "nothing", timeout_s=0.05, interval_s=0.01)
