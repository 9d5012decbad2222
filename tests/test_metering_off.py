"""`metering.enabled: false`: requests are routed and answered, nothing metered, unsafe combinations refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from demo.world import demo_config
from router.config import Config, ConfigError, load_config
from router.servers import RunningServer

OFF = "metering: {enabled: false}\n"


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "routetax.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def test_metering_off_refuses_key_budgets_and_the_auto_policy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="auth"):
        load(tmp_path, OFF + 'store: {redis_url: "redis://127.0.0.1:6379/0"}\n')  # keys mode by default
    with pytest.raises(ConfigError, match="auth"):
        load(tmp_path, OFF + "auth: {mode: keys}\n")
    with pytest.raises(ConfigError, match="auto"):
        load(tmp_path, OFF + "policy: {mode: auto}\nauth: {mode: open}\n")
    config = load(tmp_path, OFF + 'store: {redis_url: "redis://127.0.0.1:6379/0"}\nauth: {mode: open}\n')
    assert config.metering.enabled is False


def test_requests_are_routed_but_nothing_is_metered(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    base = demo_config(emulator.url).model_dump()
    base["metering"] = {"enabled": False}
    proxy = start_proxy(Config.model_validate(base))
    for _ in range(3):
        answer = httpx.post(
            f"{proxy.url}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "Classify: great product!"}]},
        )
        assert answer.status_code == 200 and answer.headers["x-routetax-tier"] == "nano"
        assert answer.json()["usage"]["prompt_tokens"] > 0  # the upstream's answer is relayed untouched
    metrics = httpx.get(f"{proxy.url}/metrics").text
    assert "routetax_requests_total{" not in metrics and "routetax_cost_usd_total{" not in metrics
    sink = proxy.app.state.metering  # type: ignore[attr-defined]
    assert sink.ledger is None and not sink.recent
