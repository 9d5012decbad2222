"""`GET /v1/routing-tax` and `routetax report` read the same ledger over the same window and charge the same hours."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI

from cli import main as routetax
from router.servers import RunningServer
from tests.conftest import durable_config
from tests.redis_server import RedisServer
from tests.test_metering_e2e import wait_for_stream_length
from tests.test_proxy_acceptance import HELLO

ROUTER_HOUR_USD = 0.05


def test_the_endpoint_and_the_command_charge_the_window_asked_for(
    redis_server: RedisServer,
    emulator: RunningServer,
    start_proxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = durable_config(
        emulator.url, redis_server.url, tmp_path / "spool", report={"router_hour_usd": ROUTER_HOUR_USD}
    )
    proxy = start_proxy(config)
    since = time.time()
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="auto", messages=HELLO)
    until = time.time()
    assert wait_for_stream_length(redis_server.url, 3) == 3  # the ledger writes in the background
    config_file = tmp_path / "routetax.yaml"
    config_file.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))  # the proxy's own

    def endpoint(**params: str) -> dict:
        answer = httpx.get(f"{proxy.url}/v1/routing-tax", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def command(*args: str) -> dict:
        assert routetax(["report", "--config", str(config_file), "--json", *args]) == 0
        return json.loads(capsys.readouterr().out)

    # a second of traffic, asked about over the last hour and the last day: an hour and a day of router cost
    for window, hours in (("1h", 1), ("24h", 24)):
        for report in (endpoint(window=window), command("--window", window)):
            assert report["measured"]["requests"] == 3
            assert report["measured"]["overhead_parts_usd"]["infrastructure"] == pytest.approx(ROUTER_HOUR_USD * hours)
            assert report["window"]["hours"] == hours and report["assumptions"]["hours_charged"] == hours

    # the same explicit window gives the same report, figure for figure, by either door
    bounds = {"since": repr(since - 60), "until": repr(until + 1)}
    by_endpoint, by_command = endpoint(**bounds), command("--since", bounds["since"], "--until", bounds["until"])
    assert by_endpoint["window"] == by_command["window"]
    assert by_endpoint["window"]["hours"] == pytest.approx(61 / 3600 + (until - since) / 3600)
    assert by_endpoint["measured"] == by_command["measured"]
    assert by_endpoint["assumptions"] == by_command["assumptions"]

    # a window that holds no time is refused by both, naming what is wrong
    empty = httpx.get(f"{proxy.url}/v1/routing-tax", params={"since": "1h", "until": "2h"})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "since"
    assert routetax(["report", "--config", str(config_file), "--since", "1h", "--until", "2h"]) == 2
    assert "the window is empty" in capsys.readouterr().err
