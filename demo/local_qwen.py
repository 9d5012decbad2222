"""`routetax demo --qwen local`: the demo's qwen tier served by a real engine instead of the emulator.

The demo's other tiers stay emulated (no API keys here); only the self-hosted tier can be real on
a laptop, and it is the one whose metering differs most from the emulator (exact cached tokens,
the alias as served model, llama.cpp's error shapes). With it, the report's self-hosted figures —
marginal, amortised, agentic-to-qwen — come from real engine traffic.
"""

from __future__ import annotations

import sys
from pathlib import Path

from demo.local_engine import EngineBuildError, EngineStartError, LocalEngine, local_qwen
from router.config import Config

LocalEngineError = (EngineBuildError, EngineStartError)


def start_engine(binary: str | None = None) -> LocalEngine:
    """Build the engine on first use (with a progress line), write the tiny model, start the server."""
    try:
        engine = local_qwen(progress=_progress_line, binary=Path(binary) if binary else None)
    except ImportError as exc:  # gguf / numpy: the `local` extra
        raise EngineBuildError(f"{exc.name} is missing: pip install -e '.[local]'") from exc
    engine.start()
    print(
        f"routetax demo: qwen tier on a real engine: llama.cpp llama-server ({engine.binary}) at {engine.url}/v1, "
        f"model {engine.model.name} served as {engine.alias!r}, ready in {engine.ready_s:.2f} s",
        file=sys.stderr,
    )
    return engine


def with_local_qwen(config: Config, engine: LocalEngine) -> Config:
    """`config` with its qwen tier pointed at the engine (llama.cpp dialect); the model name stays as configured."""
    if "qwen" not in config.tiers:
        return config
    qwen = config.tiers["qwen"].model_copy(update={"base_url": f"{engine.url}/v1", "dialect": "llamacpp"})
    return config.model_copy(update={"tiers": {**config.tiers, "qwen": qwen}})


def describe(engine: LocalEngine | None) -> str:
    if engine is None:
        return "qwen tier EMULATED (vLLM dialect); `--qwen local` serves it with a real llama.cpp engine"
    return f"qwen tier REAL: llama.cpp at {engine.url}/v1"


def _progress_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
