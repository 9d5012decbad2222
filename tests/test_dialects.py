"""Each dialect module turns its engine's errors and usage into OpenAI's terms, and the registry is the one list.

The bodies are the ones the engines send (vLLM, llama.cpp's `llama-server`, Ollama's `/v1` endpoints).
A dialect recognises its own engine's context overflow (so the router moves to a larger window); the
default `openai` dialect recognises every engine's, because a tier left at the default in front of a
self-hosted engine is a plausible misconfiguration.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli import build_parser, main
from cli.mock_upstream import EMULATED_DIALECTS as CLI_EMULATED
from emulator.app import EMULATED_DIALECTS, build_emulator
from metering.record import Usage
from router.config import ConfigError, Tier, load_config
from router.dialects import DIALECTS, dialect_for, dialect_names, llamacpp, ollama, openai, vllm
from router.dialects.common import CONTEXT_LENGTH_CODE, ask_for_usage_chunk, coerce_error, no_overflow
from router.errors import error_body
from tests.engine_errors import LLAMACPP_OVERFLOW, VLLM_OVERFLOW

OPENAI_RATE_LIMIT = (
    b'{"error": {"message": "Rate limit", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}'
)


def error_of(body: bytes) -> dict[str, Any]:
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}  # OpenAI's shape, whatever came in
    return error


@pytest.mark.parametrize("name", ["openai", "vllm", "ollama", "llamacpp"])
def test_openai_shaped_errors_pass_through_byte_for_byte_in_every_dialect(name: str) -> None:
    assert dialect_for(name).normalise_error(429, OPENAI_RATE_LIMIT) is OPENAI_RATE_LIMIT


@pytest.mark.parametrize(
    ("dialect", "body", "recognised"),
    [
        (vllm, VLLM_OVERFLOW, True),
        (llamacpp, LLAMACPP_OVERFLOW, True),
        (ollama, LLAMACPP_OVERFLOW, True),  # Ollama's runners are llama.cpp's
        (openai, VLLM_OVERFLOW, True),  # the default dialect tolerates a misconfigured tier
        (openai, LLAMACPP_OVERFLOW, True),
        (vllm, LLAMACPP_OVERFLOW, False),  # a dialect recognises its own engine's overflow only
        (llamacpp, VLLM_OVERFLOW, False),
        (ollama, VLLM_OVERFLOW, False),
        (openai, {"error": {"message": "bad temperature", "type": "BadRequestError", "code": 400}}, False),
    ],
)
def test_context_overflow_is_recognised_where_the_engine_sends_it(
    dialect: types.ModuleType, body: dict, recognised: bool
) -> None:
    error = error_of(dialect.normalise_error(400, orjson.dumps(body)))
    assert error["message"].startswith(body["error"]["message"])
    assert error["type"] == "invalid_request_error"
    if recognised:
        assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    else:
        assert (error["code"], error["param"]) == (None, None)


def test_llamacpp_overflow_message_names_both_sizes() -> None:
    error = error_of(llamacpp.normalise_error(400, orjson.dumps(LLAMACPP_OVERFLOW)))
    assert error["message"] == (
        "request (5210 tokens) exceeds the available context size (4096 tokens), try increasing it"
        " (5210 prompt tokens; the context size is 4096)"
    )


def test_a_llamacpp_overflow_without_its_sizes_keeps_its_message() -> None:
    sizeless = {"error": {k: v for k, v in LLAMACPP_OVERFLOW["error"].items() if k not in ("n_prompt_tokens", "n_ctx")}}
    error = error_of(llamacpp.normalise_error(400, orjson.dumps(sizeless)))
    assert (error["message"], error["code"]) == (sizeless["error"]["message"], CONTEXT_LENGTH_CODE)


def test_an_engine_without_an_overflow_of_its_own_recognises_none() -> None:
    error = error_of(coerce_error(400, orjson.dumps(VLLM_OVERFLOW), no_overflow))
    assert (error["code"], error["param"]) == (None, None)


def test_an_unknown_dialect_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'tgi'; known: openai, vllm, ollama, llamacpp"):
        dialect_for("tgi")


def test_vllm_integer_code_and_own_type_become_openai_fields() -> None:
    flat = {"object": "error", "message": "bad temperature", "type": "BadRequestError", "param": None, "code": 400}
    for body in (flat, {"error": {k: v for k, v in flat.items() if k != "object"}}):
        assert error_of(vllm.normalise_error(400, orjson.dumps(body))) == {
            "message": "bad temperature",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }


def test_ollama_bare_string_error_keeps_its_message_and_status_type() -> None:
    error = error_of(ollama.normalise_error(404, b'{"error":"model \'qwen3.5:9b\' not found"}'))
    assert error == {
        "message": "model 'qwen3.5:9b' not found",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("name", ["openai", "vllm", "ollama", "llamacpp"])
def test_a_proxy_page_in_between_becomes_an_openai_error_in_every_dialect(name: str) -> None:
    error = error_of(dialect_for(name).normalise_error(502, b"<html>Bad Gateway</html>"))
    assert error == {"message": "<html>Bad Gateway</html>", "type": "server_error", "param": None, "code": None}


@pytest.mark.parametrize(
    ("dialect", "answer", "expected"),
    [
        (  # OpenAI: details for cached and reasoning tokens, the service tier billed
            openai,
            {
                "usage": {
                    "prompt_tokens": 1200,
                    "completion_tokens": 300,
                    "prompt_tokens_details": {"cached_tokens": 1024},
                    "completion_tokens_details": {"reasoning_tokens": 200},
                },
                "service_tier": "default",
            },
            Usage(1200, 1024, 300, 200, service_tier="default"),
        ),
        (
            vllm,
            {"usage": {"prompt_tokens": 25, "completion_tokens": 10, "prompt_tokens_details": None}},
            Usage(25, 0, 10),
        ),
        (
            llamacpp,
            {
                "usage": {
                    "prompt_tokens": 1400,
                    "completion_tokens": 7,
                    "prompt_tokens_details": {"cached_tokens": 1388},
                },
                "timings": {"prompt_n": 12, "cache_n": 1388, "predicted_n": 7},
            },
            Usage(1400, 1388, 7),
        ),
        (ollama, {"usage": {"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316}}, Usage(26, 0, 290)),
        (ollama, {"model": "m", "choices": []}, None),  # no usage: the caller estimates and marks the record
    ],
)
def test_each_dialect_reads_its_engines_usage(dialect: types.ModuleType, answer: dict, expected: Usage | None) -> None:
    assert dialect.usage_from(answer) == expected


@pytest.mark.parametrize("name", ["openai", "vllm", "ollama", "llamacpp"])
def test_chat_streams_ask_for_the_usage_chunk_keeping_the_clients_options(name: str) -> None:
    body: dict[str, Any] = {"stream": True, "stream_options": {"include_obfuscation": False}}
    dialect_for(name).adjust_request(body, api="chat", stream=True)
    assert body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    for api, stream in (("chat", False), ("responses", True)):
        untouched: dict[str, Any] = {"input": "x"}
        dialect_for(name).adjust_request(untouched, api=api, stream=stream)
        assert untouched == {"input": "x"}


@pytest.mark.parametrize(
    ("name", "sent"),
    [("openai", "max_completion_tokens"), ("vllm", "max_tokens"), ("ollama", "max_tokens"), ("llamacpp", "max_tokens")],
)
def test_the_self_hosted_engines_are_sent_an_output_cap_as_max_tokens(name: str, sent: str) -> None:
    body: dict[str, Any] = {"max_completion_tokens": 200}
    dialect_for(name).adjust_request(body, api="chat", stream=False)
    assert body == {sent: 200}
    both: dict[str, Any] = {"max_completion_tokens": 200, "max_tokens": 50}  # the client's own: untouched
    dialect_for(name).adjust_request(both, api="chat", stream=False)
    assert both == {"max_completion_tokens": 200, "max_tokens": 50}


def test_only_the_openai_dialect_serves_responses_by_default_and_a_tier_can_say_otherwise() -> None:
    assert [name for name in dialect_names() if Tier(model="m", dialect=name).serves_responses()] == ["openai"]
    assert Tier(model="m", dialect="vllm", responses=True).serves_responses()
    assert not Tier(model="m", responses=False).serves_responses()


TGI_OVERFLOW = (
    b'{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. '
    b'Given: 4000 `inputs` tokens and 200 `max_new_tokens`","error_type":"validation"}'
)


def _tgi_normalise_error(status: int, raw: bytes) -> bytes:
    """Hugging Face TGI: `{"error": "message", "error_type": ...}`; a prompt too long is a validation error."""
    data = orjson.loads(raw)
    if data.get("error_type") == "validation" and "must be <= " in data.get("error", ""):
        return error_body(data["error"], status=status, code=CONTEXT_LENGTH_CODE, param="messages")
    return coerce_error(status, raw, no_overflow)


def tgi_dialect() -> types.ModuleType:
    """A new dialect, as its module `router/dialects/tgi.py` would define it."""
    module = types.ModuleType("router.dialects.tgi")
    module.name = "tgi"
    module.serves_responses = True
    module.normalise_error = _tgi_normalise_error
    module.usage_from = openai.usage_from
    module.adjust_request = ask_for_usage_chunk
    return module


def test_adding_a_dialect_is_one_module_registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "routetax.yaml"
    config_file.write_text("tiers:\n  nano: {model: m}\n  mini: {model: m2, dialect: tgi}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={})
    assert "tiers.mini.dialect" in str(caught.value) and "openai, vllm, ollama, llamacpp" in str(caught.value)

    monkeypatch.setitem(DIALECTS, "tgi", tgi_dialect())
    tier = load_config(config_file, environ={}).tiers["mini"]
    assert tier.dialect == "tgi" and tier.serves_responses()  # the module's own default
    error = error_of(dialect_for(tier.dialect).normalise_error(422, TGI_OVERFLOW))
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert error_of(openai.normalise_error(422, TGI_OVERFLOW))["code"] is None  # TGI's shape is TGI's module's own


def test_the_emulator_impersonates_registered_dialects_and_refuses_the_others(capsys: pytest.CaptureFixture) -> None:
    assert set(EMULATED_DIALECTS) <= set(dialect_names())
    with pytest.raises(ValueError, match="impersonates the openai, vllm, ollama dialects, not 'llamacpp'"):
        build_emulator(dialect="llamacpp")


def test_mock_upstream_offers_exactly_the_dialects_it_emulates(capsys: pytest.CaptureFixture) -> None:
    """Its --help offered every registered dialect, llamacpp included, and then refused llamacpp."""
    assert build_parser().parse_args(["mock-upstream", "--dialect", "vllm"]).dialect == "vllm"
    assert main(["mock-upstream", "--help"]) == 0
    assert "{openai,vllm,ollama}" in capsys.readouterr().out
    assert main(["mock-upstream", "--dialect", "llamacpp", "--port", "1"]) == 2
    assert "invalid choice: 'llamacpp'" in capsys.readouterr().err
    assert tuple(CLI_EMULATED) == tuple(EMULATED_DIALECTS)  # the parser's own copy (it must not import the emulator)
