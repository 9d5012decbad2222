"""`routetax ledger export` against a real redis-server: formats, time filters, exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

import orjson
import pytest

from cli import main as routetax
from metering.ledger import Ledger
from metering.ledger_export import CSV_COLUMNS
from metering.record import Attempt, Record, Usage
from metering.store import open_store
from metering.timespec import parse_time
from tests.redis_server import free_port

NOW = time.time()


def record(i: int, age_s: float) -> Record:
    usage = Usage(prompt_tokens=1000, cached_tokens=200, completion_tokens=50, reasoning_tokens=10)
    return Record(
        request_id=f"req-{i}",
        started_at=NOW - age_s,
        ended_at=NOW - age_s + 1,
        label="agentic",
        routed_tier="nano",
        tier_path=["nano", "mini"],
        attempts=[
            Attempt(tier="nano", model="gpt-5-nano", status=200, usage=usage, cost_usd=0.001, billed=True),
            Attempt(tier="mini", model="gpt-5-mini", status=200, usage=usage, cost_usd=0.003, billed=True),
        ],
        fallbacks=1,
        usage=usage,
        cost_usd=0.004,
        outcome="success",
    )


# Three records: 2 days, 2 hours and 10 minutes old.
RECORDS = [record(0, 2 * 86400), record(1, 2 * 3600), record(2, 600)]


@pytest.fixture
def filled(redis_url: str, tmp_path: Path) -> str:
    async def fill() -> None:
        store = open_store(redis_url)
        ledger = Ledger(store, str(tmp_path / "spool"))
        await ledger.start()
        for r in RECORDS:
            ledger.submit(r)
        await ledger.aclose()
        await store.aclose()

    asyncio.run(fill())
    return redis_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = routetax(["ledger", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_jsonl_is_every_record_intact(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "export", "--redis-url", filled)
    assert code == 0, err
    assert [orjson.loads(line) for line in out.splitlines()] == [r.to_dict() for r in RECORDS]
    assert "exported 3 record(s)" in err


def test_export_csv_flattens_one_row_per_request(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "export", "--format", "csv", "--since", "1d", "--redis-url", filled)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert [row["request_id"] for row in rows] == ["req-1", "req-2"]
    row = rows[0]
    assert row["final_tier"] == "mini" and row["routed_tier"] == "nano" and row["label"] == "agentic"
    assert row["attempts"] == "2" and row["fallbacks"] == "1" and row["retries"] == "0"
    assert row["prompt_tokens"] == "2000" and row["cached_tokens"] == "400"  # both billed attempts
    assert row["completion_tokens"] == "100" and row["reasoning_tokens"] == "20"
    assert float(row["cost_usd"]) == pytest.approx(0.004)
    assert row["outcome"] == "success" and row["estimated"] == "false"


def test_export_since_and_until_select_by_start_time(
    filled: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def ids(*argv: str) -> list[str]:
        code, out, err = run(capsys, "export", "--redis-url", filled, *argv)
        assert code == 0, err
        return [orjson.loads(line)["request_id"] for line in out.splitlines()]

    assert ids("--since", "3h") == ["req-1", "req-2"]
    assert ids("--since", "3h", "--until", "1h") == ["req-1"]
    assert ids("--until", str(NOW - 86400)) == ["req-0"]
    assert ids("--until", "2000-01-01T00:00:00Z") == []
    output = tmp_path / "out.jsonl"
    code, _, _ = run(capsys, "export", "--redis-url", filled, "--since", "30m", "-o", str(output))
    assert code == 0 and [orjson.loads(x)["request_id"] for x in output.read_bytes().splitlines()] == ["req-2"]


def test_export_with_redis_unreachable_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "--redis-url", f"redis://:secret@127.0.0.1:{free_port()}/0")
    assert code == 1
    assert "cannot reach Redis" in err and "secret" not in err


def test_export_bad_time_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "--since", "yesterday-ish")
    assert code == 2 and "not a time" in err
    code, _, err = run(capsys, "export", "--since", "1h", "--until", "2h")
    assert code == 2 and "--until must be after --since" in err


def test_export_reads_the_url_from_the_environment(
    filled: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTETAX_STORE__REDIS_URL", filled)
    code, out, _ = run(capsys, "export")
    assert code == 0 and len(out.splitlines()) == 3


def test_parse_time_accepts_iso_unix_and_relative() -> None:
    assert parse_time("2026-01-01T12:00:00Z") == 1_767_268_800.0
    assert parse_time("2026-01-01T12:00:00") == 1_767_268_800.0  # naive means UTC
    assert parse_time("2026-01-01T13:00:00+01:00") == 1_767_268_800.0
    assert parse_time("1767268800.5") == 1_767_268_800.5
    assert parse_time("1h", now=10_000.0) == 6_400.0
    assert parse_time("24h", now=100_000.0) == 13_600.0
    assert parse_time("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_time("30m", now=10_000.0) == 8_200.0


@pytest.mark.parametrize("where", ["after", "before"])
def test_export_reads_the_store_from_the_configuration(
    where: str, filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--config FILE` names the store, on either side of `export`; an explicit --redis-url still wins."""
    monkeypatch.delenv("ROUTETAX_STORE__REDIS_URL", raising=False)
    config = tmp_path / "routetax.yaml"
    config.write_text(f"store: {{redis_url: '{filled}'}}\n")
    argv = ["export", "--config", str(config)] if where == "after" else ["--config", str(config), "export"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and len(out.splitlines()) == 3, err
    code, _, err = run(capsys, *argv, "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1 and "cannot reach Redis" in err


def test_export_with_a_bad_configuration_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "routetax.yaml"
    config.write_text("store: {redis_url: 7}\n")
    code, _, err = run(capsys, "export", "--config", str(config))
    assert code == 2 and err.startswith("routetax ledger: ")
