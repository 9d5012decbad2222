"""`routetax serve --workers N`: real worker processes on one port, real HTTP, real Redis.

One scrape of /metrics is the group's totals and equals the ledger; SIGTERM loses nothing (the
requests in flight finish and every record reaches the ledger); breakers and cache affinity are
shared between workers as between replicas; the metrics merge and the spool hand-over follow
their rules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from metering.metrics_group import merge
from metering.spool import ACTIVE, adopt_orphans
from metering.store import open_store
from router.affinity import CacheAffinity, Conversation
from router.affinity_share import CHANNEL, SharedAffinity
from router.servers import RunningServer
from router.workers import prepare_spools
from tests.conftest import durable_config, script, serve_config_file
from tests.running import Processes
from tests.test_cli import free_port, wait_until_up
from tests.test_metering_e2e import counter_total, ledger_records
from tests.waiting import async_wait_until, wait_until

HELLO = {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]}


def _serve(
    processes: Processes, tmp_path: Path, emulator: RunningServer, redis_url: str, workers: str
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = serve_config_file(tmp_path, emulator.url, redis_url, port)
    process = processes.start(
        [sys.executable, "-m", "cli", "serve", "--config", str(config), "--workers", workers],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/healthz", process)
    return process, url


def _post(url: str, body: dict) -> httpx.Response:
    # a new connection per request: the kernel hands each to one of the workers
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def test_two_workers_one_port_metrics_add_up_to_the_ledger(
    tmp_path: Path, emulator: RunningServer, redis_server, processes: Processes
) -> None:
    process, url = _serve(processes, tmp_path, emulator, redis_server.url, "2")
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: _post(url, HELLO), range(80)))
        assert all(r.status_code == 200 for r in responses)
        sent = sorted(r.headers["x-routetax-request-id"] for r in responses)
        deadline = time.monotonic() + 15
        while len(records := ledger_records(redis_server.url)) < 80 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(r.request_id for r in records) == sent  # one record per request, from both workers
        wait_until(  # each worker publishes its snapshot every second
            lambda: (
                'routetax_agentic_share{worker="1"}' in httpx.get(f"{url}/metrics").text
                and counter_total(url, "routetax_requests_total") == 80
            ),
            "both workers' snapshots to hold every request",
        )
        scrape = httpx.get(f"{url}/metrics").text
        assert 'routetax_agentic_share{worker="0"}' in scrape and 'routetax_agentic_share{worker="1"}' in scrape
        linted = processes.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr  # the merged exposition is valid
        assert counter_total(url, "routetax_requests_total") == 80  # one scrape: the group's totals
        assert counter_total(url, "routetax_ledger_records_written_total") == 80
        ledger_cost = sum(r.cost_usd for r in records)
        assert ledger_cost > 0 and counter_total(url, "routetax_cost_usd_total") == pytest.approx(ledger_cost)
        # a histogram is summed bucket by bucket: its count is every request of the group
        assert counter_total(url, "routetax_proxy_overhead_seconds_count") == 80
    finally:
        process.terminate()
        process.wait(40)


def test_sigterm_finishes_requests_in_flight_and_loses_no_record(
    tmp_path: Path, emulator: RunningServer, redis_server, processes: Processes
) -> None:
    script(emulator, "gpt-5.4-nano", chunk_delay_ms=150)  # streams that last about a second
    process, url = _serve(processes, tmp_path, emulator, redis_server.url, "2")
    before = [_post(url, HELLO) for _ in range(6)]  # finished before the signal: their records may be queued
    started = threading.Barrier(9)

    def stream() -> tuple[str, str]:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**HELLO, "stream": True}, timeout=30) as r:
            chunks = r.iter_text()
            first = next(chunks)
            started.wait(20)  # every stream is mid-way when the signal comes
            return r.headers["x-routetax-request-id"], first + "".join(chunks)

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(stream) for _ in range(8)]
            started.wait(20)
            process.send_signal(signal.SIGTERM)
            streams = [f.result() for f in futures]
        assert process.wait(40) == 0
        assert all(text.rstrip().endswith("data: [DONE]") for _, text in streams)  # finished, not cut
        records = ledger_records(redis_server.url)
        sent = [r.headers["x-routetax-request-id"] for r in before] + [request_id for request_id, _ in streams]
        assert sorted(r.request_id for r in records) == sorted(sent)
        assert all(r.outcome == "success" for r in records)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_more_than_one_worker_needs_redis(tmp_path: Path, processes: Processes) -> None:
    config = tmp_path / "routetax.yaml"
    config.write_text(f"server: {{port: {free_port()}}}\n")

    def serve(workers: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "cli", "serve", "--config", str(config), "--workers", workers]
        return processes.run(argv, capture_output=True, text=True, timeout=60)

    done = serve("2")
    assert done.returncode == 2 and "store.redis_url" in done.stderr
    bad = serve("zero")
    assert bad.returncode == 2 and "--workers" in bad.stderr


def _snapshot(worker: int, at: float, requests: float, share: float, spool: float, hour: float) -> dict:
    return {
        "worker": worker,
        "pid": 1000 + int(at),
        "at": at,
        "families": [
            {
                "name": "routetax_requests",
                "type": "counter",
                "help": "Client requests.",
                "unit": "",
                "samples": [
                    ("routetax_requests_total", {"tier": "nano"}, requests),
                    ("routetax_requests_created", {"tier": "nano"}, 100.0 + at),
                ],
            },
            {
                "name": "routetax_agentic_share",
                "type": "gauge",
                "help": "Share.",
                "unit": "",
                "samples": [("routetax_agentic_share", {}, share)],
            },
            {
                "name": "routetax_ledger_spool_depth",
                "type": "gauge",
                "help": "Spool.",
                "unit": "",
                "samples": [("routetax_ledger_spool_depth", {}, spool)],
            },
            {
                "name": "routetax_router_hour_usd",
                "type": "gauge",
                "help": "Cost.",
                "unit": "",
                "samples": [("routetax_router_hour_usd", {}, hour)],
            },
            {
                "name": "routetax_breaker_open",
                "type": "gauge",
                "help": "Open.",
                "unit": "",
                "samples": [("routetax_breaker_open", {"tier": "nano"}, float(worker == 1))],  # 1's from long ago
            },
        ],
    }


def test_merge_sums_counters_of_every_worker_ever_and_keeps_live_gauges() -> None:
    dead = _snapshot(worker=1, at=1.0, requests=7, share=0.9, spool=5, hour=0.05)  # worker 1 before its restart
    snapshots = [
        _snapshot(worker=0, at=2.0, requests=10, share=0.2, spool=1, hour=0.05),
        dead,
        _snapshot(worker=1, at=3.0, requests=3, share=0.4, spool=2, hour=0.05),
    ]
    families = {
        f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
        for f in merge(snapshots, own=0)  # worker 0 answers this scrape
    }
    requests = families["routetax_requests"]
    assert requests[("routetax_requests_total", (("tier", "nano"),))] == 20  # the replaced worker's 7 still count
    assert requests[("routetax_requests_created", (("tier", "nano"),))] == 101.0  # the earliest
    assert families["routetax_agentic_share"] == {
        ("routetax_agentic_share", (("worker", "0"),)): 0.2,
        ("routetax_agentic_share", (("worker", "1"),)): 0.4,  # the live worker 1, not the dead one's 0.9
    }
    assert families["routetax_ledger_spool_depth"] == {("routetax_ledger_spool_depth", ()): 3}  # live ones summed
    assert families["routetax_router_hour_usd"] == {("routetax_router_hour_usd", ()): 0.05}  # max, not 0.10
    # the answering worker's breakers, not a value another worker set at a scrape long ago
    assert families["routetax_breaker_open"] == {("routetax_breaker_open", (("tier", "nano"),)): 0.0}


def test_spool_files_of_another_worker_count_move_to_worker_zero(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    (root / "worker-3").mkdir(parents=True)
    (root / "worker-3" / ACTIVE).write_bytes(b'{"request_id": "a"}\n')
    (root / "worker-3" / "replay-000000000001.jsonl").write_bytes(b'{"request_id": "b"}\n')
    (root / ACTIVE).write_bytes(b'{"request_id": "c"}\n')  # left by a run with one worker
    owners = [root / "worker-0", root / "worker-1"]
    assert adopt_orphans(root, owners) == 3
    moved = sorted(p.read_bytes() for p in (root / "worker-0").glob("replay-*.jsonl"))
    assert moved == [b'{"request_id": "a"}\n', b'{"request_id": "b"}\n', b'{"request_id": "c"}\n']
    assert not (root / ACTIVE).exists() and not list((root / "worker-3").glob("*.jsonl"))
    assert adopt_orphans(root, owners) == 0  # nothing left to move


def test_key_settlements_of_another_worker_count_move_to_worker_zero(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    (root / "settlements").mkdir(parents=True)  # left by a run with one worker, during a store outage
    (root / "settlements" / ACTIVE).write_bytes(b'{"request_id": "a"}\n')
    prepare_spools(durable_config("http://127.0.0.1:9", "redis://127.0.0.1:9", root), 2)
    moved = [p.read_bytes() for p in (root / "worker-0" / "settlements").glob("replay-*.jsonl")]
    assert moved == [b'{"request_id": "a"}\n']


async def test_cache_affinity_settled_on_one_worker_is_known_on_the_other(redis_server) -> None:
    stores = [open_store(redis_server.url), open_store(redis_server.url)]
    tables = [CacheAffinity({}), CacheAffinity({})]
    shares = [SharedAffinity(store, table, flush_s=0.005) for store, table in zip(stores, tables, strict=True)]
    for share in shares:
        share.start()
    try:
        probe = redis.asyncio.Redis.from_url(redis_server.url)

        async def subscribed() -> bool:
            [(_channel, count)] = await probe.pubsub_numsub(CHANNEL)
            return count >= 2

        await async_wait_until(subscribed, "both workers subscribed to the affinity channel")
        await probe.aclose()
        conversation = Conversation("mini", prompt_tokens=5000, completion_tokens=200, seen_at=time.monotonic())
        tables[0].remember("prompt_cache_key:agent-7", conversation)
        assert tables[0].on_settle is not None
        tables[0].on_settle("prompt_cache_key:agent-7", conversation)
        deadline = time.monotonic() + 5
        while tables[1].get("prompt_cache_key:agent-7") is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        known = tables[1].get("prompt_cache_key:agent-7")
        assert known is not None and (known.tier, known.prompt_tokens) == ("mini", 5000)
    finally:
        for share in shares:
            await share.aclose()
        for store in stores:
            await store.aclose()


def test_workers_auto_means_every_core() -> None:
    from router.workers import worker_count

    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert worker_count("3") == 3
    with pytest.raises(ValueError):
        worker_count("0")
