"""Self-hosted engines' error shapes become OpenAI's, so the router reacts to them as it would to OpenAI's.

The bodies are the ones the engines send (llama.cpp's `llama-server` 11434 and vLLM); the
end-to-end proof against the real llama.cpp engine is in tests/test_local_qwen.py.
"""

from __future__ import annotations

import orjson

from router.config import Config
from router.dialects import llamacpp, vllm
from router.errors import error_code_of
from router.serving.walker import Move, Outcome, judge
from tests.engine_errors import LLAMACPP_OVERFLOW, VLLM_OVERFLOW


def test_llamacpp_context_overflow_becomes_context_length_exceeded_and_moves_to_a_larger_window() -> None:
    body = llamacpp.normalise_error(400, orjson.dumps(LLAMACPP_OVERFLOW))
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["type"], error["param"]) == (
        "context_length_exceeded",
        "invalid_request_error",
        "messages",
    )
    assert error["message"].endswith("(5210 prompt tokens; the context size is 4096)")
    assert judge(Outcome.http_error(400, error_code_of(body)))[1] == "context_length"


def test_vllm_context_overflow_becomes_context_length_exceeded() -> None:
    body = vllm.normalise_error(400, orjson.dumps(VLLM_OVERFLOW))
    error = orjson.loads(body)["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["message"].startswith("This model's maximum context length is 4096 tokens.")
    assert judge(Outcome.http_error(400, error_code_of(body)))[1] == "context_length"


def test_other_llamacpp_errors_keep_their_status_and_message_without_a_code() -> None:
    raw = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    error = orjson.loads(llamacpp.normalise_error(503, orjson.dumps(raw)))["error"]
    assert error == {"message": "Loading model", "type": "server_error", "param": None, "code": None}
    assert judge(Outcome.http_error(503, None))[0] is Move.RETRY


def test_llamacpp_dialect_is_configurable_and_serves_chat_only_by_default() -> None:
    qwen = {"model": "Qwen/Qwen3.5-9B", "base_url": "http://127.0.0.1:8080/v1", "dialect": "llamacpp"}
    config = Config.model_validate({"tiers": {**Config().model_dump()["tiers"], "qwen": qwen}})
    assert config.tiers["qwen"].dialect == "llamacpp"
    assert not config.tiers["qwen"].serves_responses()
