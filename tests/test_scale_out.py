"""Scale-out, proven: three `routetax serve` processes share one Redis (and, separately, a 3-node Redis Cluster).

Traffic spread over the replicas ends with one ledger record per request, the key's spend
equal to its records' cost, and the replicas' Prometheus counters summing to the ledger totals.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from metering.cost import base_usd
from metering.ledger import read_records
from metering.store import open_store
from router.keys import KeyStore
from router.servers import RunningServer
from tests.conftest import wait_for_settlements
from tests.running import Processes
from tests.serve_replicas import serve_replicas
from tests.test_metering_e2e import counter_total

TOKEN = "scrape-token"  # keys mode: /metrics (key names and spend) wants a bearer

HELLO = [{"role": "user", "content": "Say hello."}]


async def _create_key(url: str, cluster: bool) -> str:
    store = open_store(url, cluster=cluster)
    try:
        _key, secret = await KeyStore(store).create("shared", budget_usd=100.0, period="month")
        return secret
    finally:
        await store.aclose()


async def _ledger(url: str, cluster: bool) -> tuple[list, float]:
    store = open_store(url, cluster=cluster)
    try:
        records = [r async for r in read_records(store)]
        key_id = records[0].key_id
        spent = await KeyStore(store).spent(type("K", (), {"id": key_id, "period": "month"})())  # type: ignore[arg-type]
        return records, spent
    finally:
        await store.aclose()


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_three_replicas_share_one_ledger(
    backend: str, request: pytest.FixtureRequest, emulator: RunningServer, tmp_path: Path, processes: Processes
) -> None:
    store = request.getfixturevalue("redis_server" if backend == "redis" else "redis_cluster")
    cluster = backend == "cluster"
    secret = asyncio.run(_create_key(store.url, cluster))

    def config_of(index: int, port: int) -> str:
        return (
            "tiers:\n"
            f"  nano: {{model: gpt-5.4-nano, base_url: '{emulator.url}/v1'}}\n"
            f"  mini: {{model: gpt-5.4-mini, base_url: '{emulator.url}/v1'}}\n"
            f"store: {{redis_url: '{store.url}', cluster: {str(cluster).lower()}, "
            f"spool_dir: '{tmp_path / f'spool{index}'}'}}\n"
            f"server: {{port: {port}}}\n"
            "auth: {metrics_token_env: ROUTETAX_METRICS_TOKEN}\n"  # keys mode: /metrics wants its token
        )

    started: list = []
    try:
        replicas, started = serve_replicas(processes, tmp_path, 3, config_of, env={"ROUTETAX_METRICS_TOKEN": TOKEN})
        sent = []
        for i in range(30):
            response = httpx.post(
                f"{replicas[i % 3]}/v1/chat/completions",
                json={"model": "auto", "messages": HELLO},
                headers={"authorization": f"Bearer {secret}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            sent.append(response.headers["x-routetax-request-id"])
        deadline = time.monotonic() + 15
        records, spent = asyncio.run(_ledger(store.url, cluster))
        while len(records) < 30 and time.monotonic() < deadline:
            time.sleep(0.2)
            records, spent = asyncio.run(_ledger(store.url, cluster))
        wait_for_settlements(store.url, records[0].key_id, cluster)  # written in the background
        records, spent = asyncio.run(_ledger(store.url, cluster))
        assert sorted(r.request_id for r in records) == sorted(sent)  # one record per request
        ledger_cost = sum(r.cost_usd for r in records)
        assert ledger_cost > 0 and spent == pytest.approx(ledger_cost)  # per-key spend across replicas
        assert sum(counter_total(url, "routetax_requests_total", TOKEN) for url in replicas) == 30
        assert sum(counter_total(url, "routetax_cost_usd_total", TOKEN) for url in replicas) == pytest.approx(
            ledger_cost
        )
        # what the budget-burn and routing-overhead alerts read, summed over replicas, agrees with the ledger
        assert sum(counter_total(url, "routetax_key_spend_usd_total", TOKEN) for url in replicas) == pytest.approx(
            spent
        )
        base = sum(base_usd(r) for r in records)
        assert base > 0 and sum(counter_total(url, "routetax_base_cost_usd_total", TOKEN) for url in replicas) == (
            pytest.approx(base)
        )
    finally:
        for process in started:
            process.terminate()
            process.wait(10)
