"""A tier whose upstream key is missing or wrong: said at start, and answered as routetax's credential,
never as the client's key (an upstream 401 relayed as `invalid_api_key` read as if the client's key were wrong)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import openai
import pytest
from openai import OpenAI

from demo.world import demo_config
from emulator.app import build_emulator
from router.config import Config
from router.servers import RunningServer
from router.upstream_credentials import unset_variables
from tests.conftest import UPSTREAM_SECRET
from tests.running import Servers

VARIABLE = "ROUTETAX_TEST_UPSTREAM_KEY"
HELLO = [{"role": "user", "content": "Say hello."}]

StartKeyed = Callable[[str | None], OpenAI]


@pytest.fixture
def start_keyed(
    serve_in_thread: Servers, start_proxy: Callable[[Config], RunningServer], monkeypatch: pytest.MonkeyPatch
) -> StartKeyed:
    """An emulator that wants UPSTREAM_SECRET, a proxy whose tiers read their key from VARIABLE set to `key`."""
    upstream = serve_in_thread(build_emulator(seed=1, api_key=UPSTREAM_SECRET), name="emulator")

    def start(key: str | None) -> OpenAI:
        if key is None:
            monkeypatch.delenv(VARIABLE, raising=False)
        else:
            monkeypatch.setenv(VARIABLE, key)
        base = demo_config(upstream.url).model_dump()
        for tier in base["tiers"].values():
            tier["api_key_env"] = VARIABLE
        proxy = start_proxy(Config.model_validate(base))
        return OpenAI(base_url=f"{proxy.url}/v1", api_key="rt-the-clients-own-key", max_retries=0, timeout=20)

    return start


def refusal(call: Callable[[], object]) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    assert not isinstance(caught.value, openai.AuthenticationError)  # the client's key is not in question
    return caught.value


@pytest.mark.parametrize("stream", [False, True])
def test_an_unset_key_variable_is_answered_as_routetaxs_upstream_credential(
    start_keyed: StartKeyed, stream: bool
) -> None:
    client = start_keyed(None)
    error = refusal(lambda: client.chat.completions.create(model="nano", messages=HELLO, stream=stream))
    assert error.status_code == 502
    assert error.response.headers["x-should-retry"] == "false"
    body = error.response.json()["error"]
    assert (body["type"], body["code"]) == ("server_error", "upstream_credential_error")
    assert "routetax's upstream credential" in body["message"] and "not your API key" in body["message"]
    assert f"{VARIABLE} named by tiers.nano.api_key_env is not set" in body["message"]
    assert "Incorrect API key" not in body["message"]


def test_a_wrong_key_is_named_as_not_accepted_and_never_shown(start_keyed: StartKeyed) -> None:
    client = start_keyed("sk-wrong-key-0123456789")
    error = refusal(lambda: client.responses.create(model="mini", input="Say hello."))
    assert error.status_code == 502
    message = error.response.json()["error"]["message"]
    assert f"the key in {VARIABLE} (tiers.mini.api_key_env) was not accepted" in message
    assert "sk-wrong" not in error.response.text and "6789" not in error.response.text


def test_the_right_key_is_served(start_keyed: StartKeyed) -> None:
    answer = start_keyed(UPSTREAM_SECRET).chat.completions.create(model="nano", messages=HELLO)
    assert answer.choices[0].message.content


def test_an_unset_key_variable_is_said_at_start_in_one_line(
    start_keyed: StartKeyed, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="routetax"):
        start_keyed(None)
    said = [r.getMessage() for r in caplog.records if VARIABLE in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith(f"tiers nano, mini, full: api_key_env {VARIABLE} is not set")


def test_only_variables_that_are_unset_or_empty_are_named() -> None:
    tiers = Config.model_validate(
        {
            "tiers": {
                "nano": {"model": "a", "api_key_env": "KEY_A"},
                "mini": {"model": "b", "api_key_env": "KEY_B"},
                "full": {"model": "c", "api_key_env": "KEY_A"},
                "qwen": {"model": "d"},  # a local engine: no key wanted
            }
        }
    ).tiers
    assert unset_variables(tiers, {"KEY_B": "sk-set"}) == {"KEY_A": ["nano", "full"]}
    assert unset_variables(tiers, {"KEY_A": "", "KEY_B": "sk-set"}) == {"KEY_A": ["nano", "full"]}
    assert unset_variables(tiers, {"KEY_A": "sk-a", "KEY_B": "sk-b"}) == {}
