"""A client framework in its own virtual environment, made once per machine and reused.

Client frameworks (the OpenAI Agents SDK, ...) pin their own versions of openai and pydantic, so
they never go into the project's venv: each gets a venv of its own under
`$XDG_CACHE_HOME/routetax/client-venvs/<package>-<version>` (default `~/.cache/routetax/...`),
with the version pinned. A venv is usable only once its ready mark exists, and the mark is written
last, atomically, after the install succeeded and the package imported: a run killed halfway leaves
no mark, and the next run starts that venv again from scratch. A lock makes concurrent runs wait
for the first one instead of installing twice into the same folder. A failed install raises: a test
that needs the framework fails, it is never skipped.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

READY = "routetax-ready.txt"
INSTALL_TIMEOUT_S = 900


class ClientVenvError(RuntimeError):
    """The client's venv could not be made; the message holds the failing step's output."""


def client_venvs_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "routetax" / "client-venvs"


def client_python(package: str, version: str, module: str) -> tuple[Path, float | None]:
    """The venv's python with `package==version` installed (`module` is what it imports as).

    Returns (python, seconds spent making the venv, or None when it was already there).
    """
    root = client_venvs_dir()
    target = root / f"{package}-{version}"
    python = target / "bin" / "python"
    if (target / READY).is_file() and python.exists():
        return python, None
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{package}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run waits here, then finds the venv ready
        if (target / READY).is_file() and python.exists():
            return python, None
        started = time.monotonic()
        shutil.rmtree(target, ignore_errors=True)  # what an interrupted run left, never a ready venv
        _step([sys.executable, "-m", "venv", str(target)], "python -m venv")
        _step(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{package}=={version}"],
            f"pip install {package}=={version}",
        )
        _step([str(python), "-c", f"import {module}"], f"import {module}")
        seconds = time.monotonic() - started
        frozen = _step([str(python), "-m", "pip", "freeze"], "pip freeze")
        partial = target / (READY + ".partial")
        partial.write_text(f"# made in {seconds:.1f} s by {sys.executable}\n{frozen}")
        partial.replace(target / READY)  # atomic: the mark is there whole, or not at all
    return python, seconds


def _step(command: list[str], what: str) -> str:
    """Run one step of making the venv; its standard output, or ClientVenvError saying what failed."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ClientVenvError(f"{what}: no answer in {INSTALL_TIMEOUT_S} s") from exc
    if result.returncode != 0:
        raise ClientVenvError(f"{what} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout
