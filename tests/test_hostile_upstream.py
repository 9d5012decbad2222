"""Issue 17, hostile or broken upstreams contained, and protocol fidelity: against tests/hostile_upstream.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from router.config import Config
from router.demo import demo_config
from router.servers import RunningServer, start_in_thread
from tests.hostile_upstream import LEAKED_KEY, build_hostile

HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def hostile() -> Iterator[RunningServer]:
    server = start_in_thread(build_hostile(), name="hostile")
    yield server
    server.stop()


def queue(upstream: RunningServer, *outcomes: str) -> None:
    httpx.post(f"{upstream.url}/_script", json={"outcomes": list(outcomes)}).raise_for_status()


def hostile_config(upstream: RunningServer, monkeypatch: pytest.MonkeyPatch, **sections: object) -> Config:
    """Every tier on the hostile upstream, each sending LEAKED_KEY as its upstream key."""
    monkeypatch.setenv("ROUTETAX_HOSTILE_KEY", LEAKED_KEY)
    base = demo_config(upstream.url).model_dump()
    for tier in base["tiers"].values():
        tier["api_key_env"] = "ROUTETAX_HOSTILE_KEY"
    base.update(sections)
    return Config.model_validate(base)


def chat(proxy: RunningServer, body: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json=body or {"model": "nano", "messages": HELLO},
        headers=headers,
        timeout=30,
    )


# -- 3. no key material, no internal address --------------------------------------------------------------


def test_upstream_errors_reach_the_client_without_key_material(hostile, start_proxy, monkeypatch) -> None:
    proxy = start_proxy(hostile_config(hostile, monkeypatch))
    queue(hostile, "leaky_401", "leaky_400")
    for status in (401, 400):
        answered = chat(proxy, None, **{"x-routetax-fallback": "off"})
        assert answered.status_code == status
        error = answered.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert "sk-" not in answered.text and LEAKED_KEY not in answered.text and "Bearer" not in answered.text
        assert "[redacted]" in error["message"]


def test_an_unreachable_upstream_is_a_502_that_names_no_host_or_port(start_proxy) -> None:
    proxy = start_proxy(demo_config("http://127.0.0.1:9"))  # port 9 (discard): nothing listens
    answered = chat(proxy, None, **{"x-routetax-fallback": "off"})
    assert answered.status_code == 502 and answered.json()["error"]["code"] == "upstream_connect_error"
    assert "127.0.0.1" not in answered.text and ":9" not in answered.text
