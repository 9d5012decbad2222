"""End to end: a real Prometheus (Debian's binary) scrapes a real routetax proxy driven by demo traffic,
and EVERY query of the Grafana dashboard returns series through Prometheus's HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from demo.world import DETECTABLE_DEGRADE, demo_config, drive
from router.config import Config
from router.servers import RunningServer, bind_socket
from tests.running import Processes

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "routetax.json"
RULES = ROOT / "deploy" / "prometheus"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


def queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    found = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    assert len(found) >= 20
    return found


@pytest.fixture
def prometheus(tmp_path: Path, proxy_target: str, processes: Processes) -> Iterator[str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "recording.yml"), str(RULES / "alerts.yml")],
        "scrape_configs": [{"job_name": "routetax", "static_configs": [{"targets": [proxy_target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("w")
    proc = processes.start(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus not ready in 20 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def proxy_under_load(emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]) -> RunningServer:
    for model, probabilities in DETECTABLE_DEGRADE.items():
        httpx.post(f"{emulator.url}/_mock/script", json={"model": model, "degrade_probability": probabilities})
    # exploration measures every tier x class cell, so the policy and verdict panels have series too
    config = demo_config(emulator.url).model_dump()
    config["policy"]["explore"] = {"share": 0.3, "tiers": ["nano", "mini"], "seed": 5}
    return start_proxy(Config.model_validate(config))


@pytest.fixture
def proxy_target(proxy_under_load: RunningServer) -> str:
    return proxy_under_load.url.removeprefix("http://")


def query(url: str, expr: str) -> list[dict]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    return body["data"]["result"]


def test_dashboard_json_is_current() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_dashboard", ROOT / "deploy" / "grafana" / "build_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert DASHBOARD.read_text() == module.render(), "run python deploy/grafana/build_dashboard.py"
    ids = [p["id"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_query_returns_series(prometheus: str, proxy_under_load: RunningServer) -> None:
    # Prometheus scrapes the proxy before traffic too, so counters have a "before" sample for rate().
    deadline = time.monotonic() + 10
    while not query(prometheus, 'up{job="routetax"} == 1'):
        assert time.monotonic() < deadline, "the proxy was never scraped"
        time.sleep(0.3)

    # Traffic in batches across several scrapes: a counter born and finished within one scrape has rate 0.
    for batch in range(4):
        drive(proxy_under_load.url, requests=12, agentic_share=0.5, seed=batch)
        time.sleep(1.2)  # paces the batches across scrapes (the behaviour), not a wait for background work

    # A bad query must fail loudly, not read as "no data".
    with pytest.raises(AssertionError):
        query(prometheus, "sum(rate(routetax_requests_total[5m])")

    deadline = time.monotonic() + 25
    while True:
        empty = [(title, expr) for title, expr in queries() if not query(prometheus, expr)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, "panels with no series:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)

    # The numbers are the proxy's: requests counted by Prometheus match what was driven.
    total = float(query(prometheus, "sum(routetax_requests_total)")[0]["value"][1])
    assert total >= 48
    share = float(query(prometheus, "routetax:agentic_share:1h")[0]["value"][1])
    assert 0 < share < 1
    spend = float(query(prometheus, "routetax:spend_usd_per_hour:rate1h")[0]["value"][1])
    assert spend > 0

    # Every recording and alerting rule evaluates without error against the real metrics.
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert not bad, bad
    assert sum(len(g["rules"]) for g in groups) >= 20
