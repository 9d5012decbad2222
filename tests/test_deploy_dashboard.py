"""End to end: a real Prometheus (Debian's binary) scrapes a real routetax proxy driven by demo traffic,
and EVERY query of the Grafana dashboard returns series through Prometheus's HTTP API."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI

from cli import main as routetax_cli
from demo.world import DETECTABLE_DEGRADE, demo_config, drive
from router.config import Config
from router.servers import RunningServer, bind_socket
from tests.redis_server import RedisServer
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


CLIENT_PANELS = (
    "Spend per virtual key (top 10)",
    "Refusals by status and reason",
    "Time to first token p50 / p99 by tier",
)


def queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    found = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    assert len(found) >= 20
    return found


@pytest.fixture
def prometheus(tmp_path: Path, proxy_targets: list[str], processes: Processes) -> Iterator[str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "recording.yml"), str(RULES / "alerts.yml")],
        "scrape_configs": [{"job_name": "routetax", "static_configs": [{"targets": proxy_targets}]}],
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
def keyed_proxy(
    redis_server: RedisServer,  # first, so that it stops after the proxy that writes to it
    emulator: RunningServer,
    start_proxy: Callable[[Config], RunningServer],
    tmp_path: Path,
) -> tuple[RunningServer, str]:
    """A second replica, in keys mode on a real Redis, and a virtual key of team `web` for it: per-key spend."""
    config = demo_config(emulator.url).model_dump()
    config["store"] = {"redis_url": redis_server.url, "spool_dir": str(tmp_path / "keyed-spool")}
    config["auth"] = {"mode": "keys", "cache_s": 0.5, "metrics_open": True}  # as compose: scraped without a token
    proxy = start_proxy(Config.model_validate(config))
    (tmp_path / "keys.yaml").write_text(f"store: {{redis_url: '{redis_server.url}'}}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        created = routetax_cli(["keys", "--config", str(tmp_path / "keys.yaml"), "create", "--name", "dash-app",
                                "--team", "web", "--budget-usd", "5", "--period", "day", "--json"])  # fmt: skip
    assert created == 0
    return proxy, json.loads(out.getvalue())["key"]


@pytest.fixture
def proxy_targets(proxy_under_load: RunningServer, keyed_proxy: tuple[RunningServer, str]) -> list[str]:
    return [server.url.removeprefix("http://") for server in (proxy_under_load, keyed_proxy[0])]


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


def client_traffic(keyed: tuple[RunningServer, str]) -> None:
    """The Clients row's traffic: a virtual key's requests (one streamed), and a refusal (a key that does not exist)."""
    proxy, key = keyed
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0, timeout=20)
    # Capped: without max_tokens a request reserves the model's whole output limit on every tier of its plan,
    # more than this key's $5 a day (docs/budgets.md)
    say = [{"role": "user", "content": "Say hello."}]
    client.chat.completions.create(model="auto", messages=say, max_tokens=200)
    hi = [{"role": "user", "content": "Hi"}]
    list(client.chat.completions.create(model="auto", messages=hi, max_tokens=200, stream=True))
    stranger = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"authorization": "Bearer rt-not-a-key"},
    )
    assert stranger.status_code == 401


def test_the_dashboard_imports_into_any_grafana() -> None:
    """Importable into an existing Grafana, whatever its Prometheus is called: Grafana's import asks for the
    Prometheus (`__inputs`), every panel reads the `datasource` variable, and no datasource uid is fixed (the
    dashboard once named uid `prometheus`, which only the compose kit's Grafana has)."""
    board = json.loads(DASHBOARD.read_text())
    [given] = board["__inputs"]
    assert given["type"] == "datasource" and given["pluginId"] == "prometheus"
    [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus" and variable["current"]["value"] == "${" + given["name"] + "}"
    mine = {"type": "prometheus", "uid": "${" + variable["name"] + "}"}
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert all(p["datasource"] == mine and all(t["datasource"] == mine for t in p["targets"]) for p in panels)
    uids = re.findall(r'"uid": "([^"]*)"', DASHBOARD.read_text())
    assert set(uids) == {mine["uid"], board["uid"]}, "a datasource uid is fixed somewhere"
    required = {(r["type"], r["id"]) for r in board["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    assert {("panel", p["type"]) for p in panels} <= required


def test_every_panel_query_returns_series(
    prometheus: str, proxy_under_load: RunningServer, keyed_proxy: tuple[RunningServer, str]
) -> None:
    # Prometheus scrapes the proxy before traffic too, so counters have a "before" sample for rate().
    deadline = time.monotonic() + 10
    while not query(prometheus, 'up{job="routetax"} == 1'):
        assert time.monotonic() < deadline, "the proxy was never scraped"
        time.sleep(0.3)

    # Traffic in batches across several scrapes: a counter born and finished within one scrape has rate 0.
    for batch in range(4):
        drive(proxy_under_load.url, requests=12, agentic_share=0.5, seed=batch)
        client_traffic(keyed_proxy)
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

    # The Clients row shows the clients, not its `or on() vector(0)` fallback: the key by name and team, the
    # refusal by its reason, time to first token by tier.
    clients = {title: expr for title, expr in queries() if title in CLIENT_PANELS}
    assert set(clients) == set(CLIENT_PANELS)
    deadline = time.monotonic() + 25
    while True:
        shown = {title: [r["metric"] for r in query(prometheus, expr)] for title, expr in clients.items()}
        spend, refusals, ttft = (shown[title] for title in CLIENT_PANELS)
        found = (
            {"key": "dash-app", "team": "web"} in spend
            and any(r.get("status") == "401" for r in refusals)
            and any(r.get("tier") for r in ttft)
        )
        if found or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found, shown

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
