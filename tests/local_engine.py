"""Fixtures for the real self-hosted engine: llama.cpp's server serving the tiny Qwen3 model on loopback.

The binary is built once per machine (minutes; `.ci/run` builds it before the tests so the first
test does not pay for it) and cached outside the clone; a missing build tool fails the tests,
it never skips them. The model is generated once per session; each test gets its own server
process on a free port (ready in well under a second), stopped by its PID.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.local_engine import LocalEngine, ensure_llama_server
from demo.local_engine.tiny_qwen import write_gguf
from router.config import Config

QWEN_MODEL = "Qwen/Qwen3.5-9B"  # what a deployment names; llama.cpp answers with its alias instead
GPU_HOUR_USD = 2.0


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    return ensure_llama_server()


@pytest.fixture(scope="session")
def tiny_qwen_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf(tmp_path_factory.mktemp("tiny-qwen") / "tiny-qwen3.gguf")


@pytest.fixture
def local_qwen(llama_server_binary: Path, tiny_qwen_model: Path) -> Iterator[LocalEngine]:
    with LocalEngine(binary=llama_server_binary, model=tiny_qwen_model) as engine:
        yield engine


def qwen_config(
    emulator_url: str,
    engine_url: str,
    redis_url: str,
    spool_dir: object,
    dialect: str = "llamacpp",
    **sections: object,
) -> Config:
    """nano/mini/full on the emulator, qwen on the real engine at `engine_url`, the ledger in a real Redis."""
    from tests.conftest import durable_config  # conftest imports this module for its fixtures

    data = durable_config(emulator_url, redis_url, spool_dir).model_dump()
    data["tiers"]["qwen"] = {
        "model": QWEN_MODEL,
        "base_url": f"{engine_url}/v1",
        "dialect": dialect,
        "gpu_hour_usd": GPU_HOUR_USD,
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Config.model_validate(data)
