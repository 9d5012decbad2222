"""Exploration (`policy.explore`): a share of auto tasks sent to a drawn tier, marked on their records,
never for pinned requests or tiers the client's key may not use; a chained continuation stays where its state is."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from openai import OpenAI

from cli import main as routetax
from demo.world import demo_config
from router.config import Config
from router.servers import RunningServer
from tests.redis_server import RedisServer
from tests.test_metering_e2e import counter_total
from tests.test_proxy_acceptance import HELLO, TOOLS, records


def exploring(upstream_url: str, share: float = 1.0, **extra: object) -> Config:
    data = demo_config(upstream_url).model_dump()
    data["policy"]["explore"] = {"share": share, "tiers": ["nano", "mini"], "seed": 3}
    data.update(extra)
    return Config.model_validate(data)


def test_explored_requests_are_drawn_among_the_candidates_and_marked(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    proxy = start_proxy(exploring(emulator.url))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    tiers = [
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, tools=TOOLS).headers[
            "x-routetax-tier"
        ]
        for _ in range(20)
    ]
    assert set(tiers) == {"nano", "mini"}  # agentic work reaches nano: the 33-point cliff gets measured
    recent = records(proxy, 20)
    assert all(r.explored and r.routed_tier in {"nano", "mini"} and not r.pinned for r in recent)
    explored = counter_total(proxy.url, "routetax_explored_requests_total")
    assert explored == 20


def test_pinned_requests_are_never_explored(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    proxy = start_proxy(exploring(emulator.url))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    for _ in range(5):
        assert (
            client.chat.completions.with_raw_response.create(model="mini", messages=HELLO).headers["x-routetax-tier"]
            == "mini"
        )
    assert all(r.pinned and not r.explored for r in records(proxy, 5))


def test_continuations_stay_with_the_tier_that_holds_their_state(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer]
) -> None:
    proxy = start_proxy(exploring(emulator.url))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    first = client.responses.with_raw_response.create(model="auto", input="Say hello.")
    owner = first.headers["x-routetax-tier"]
    for _ in range(4):
        follow = client.responses.with_raw_response.create(
            model="auto", previous_response_id=first.parse().id, input="And again?"
        )
        assert follow.headers["x-routetax-tier"] == owner
    steps = records(proxy, 5)
    assert [r.explored for r in steps] == [True] * 5  # every step of an explored task is explored: one task
    assert len({r.task_id for r in steps}) == 1


def test_a_key_limited_to_nano_is_only_explored_on_nano(
    redis_server: RedisServer,
    emulator: RunningServer,
    start_proxy: Callable[[Config], RunningServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTETAX_ADMIN_KEY", "admin-secret")
    config = exploring(
        emulator.url,
        store={"redis_url": redis_server.url, "spool_dir": str(tmp_path / "spool")},
        auth={"mode": "keys", "cache_s": 0.5},
    )
    proxy = start_proxy(config)
    config_file = tmp_path / "routetax.yaml"
    config_file.write_text(f"store: {{redis_url: '{redis_server.url}'}}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            routetax(["keys", "--config", str(config_file), "create", "--name", "cheap", "--tiers", "nano", "--json"])
            == 0
        )
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key=json.loads(out.getvalue())["key"], max_retries=0)
    tiers = {
        client.chat.completions.with_raw_response.create(model="auto", messages=HELLO).headers["x-routetax-tier"]
        for _ in range(8)
    }
    assert tiers == {"nano"}
