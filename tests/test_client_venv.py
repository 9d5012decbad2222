"""A client framework's venv is made once, trusted only when whole, and a failed install is an error, not a skip.

The steps that would reach PyPI are replaced by a fake here; tests/test_agents_sdk.py makes a real one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests import client_venv
from tests.client_venv import READY, ClientVenvError, client_python


class FakeSteps:
    """Stands in for `python -m venv`, `pip install`, the import check and `pip freeze`."""

    def __init__(self, fail: str | None = None, install_s: float = 0.0) -> None:
        self.fail, self.install_s, self.seen = fail, install_s, []

    def __call__(self, command: list[str], what: str) -> str:
        self.seen.append(what)
        if self.fail and what.startswith(self.fail):
            raise ClientVenvError(f"{what} failed (1):\nERROR: No matching distribution")
        if what == "python -m venv":
            (Path(command[-1]) / "bin").mkdir(parents=True)
            (Path(command[-1]) / "bin" / "python").touch()
        if what.startswith("pip install"):
            time.sleep(self.install_s)  # a slow install is the behaviour faked here, not a wait for background work
        return "openai-agents==0.24.0\n" if what == "pip freeze" else ""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "routetax" / "client-venvs"


def test_a_venv_is_made_once_then_reused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = FakeSteps()
    monkeypatch.setattr(client_venv, "_step", steps)
    python, seconds = client_python("openai-agents", "0.24.0", "agents")
    assert python == cache / "openai-agents-0.24.0" / "bin" / "python" and seconds is not None
    assert steps.seen == ["python -m venv", "pip install openai-agents==0.24.0", "import agents", "pip freeze"]
    assert "openai-agents==0.24.0" in (cache / "openai-agents-0.24.0" / READY).read_text()
    assert client_python("openai-agents", "0.24.0", "agents") == (python, None)
    assert len(steps.seen) == 4  # nothing installed the second time


def test_a_half_made_venv_is_made_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    leftover = cache / "openai-agents-0.24.0"
    (leftover / "bin").mkdir(parents=True)
    (leftover / "bin" / "python").touch()
    (leftover / "half-installed.txt").touch()  # a run killed during pip install: no ready mark
    steps = FakeSteps()
    monkeypatch.setattr(client_venv, "_step", steps)
    _, seconds = client_python("openai-agents", "0.24.0", "agents")
    assert seconds is not None and steps.seen[0] == "python -m venv"
    assert not (leftover / "half-installed.txt").exists() and (leftover / READY).is_file()


def test_a_failed_install_raises_and_leaves_nothing_trusted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_venv, "_step", FakeSteps(fail="pip install"))
    with pytest.raises(ClientVenvError, match="pip install openai-agents==0.24.0 failed"):
        client_python("openai-agents", "0.24.0", "agents")
    assert not (cache / "openai-agents-0.24.0" / READY).exists()
    retry = FakeSteps()
    monkeypatch.setattr(client_venv, "_step", retry)
    client_python("openai-agents", "0.24.0", "agents")
    assert "pip install openai-agents==0.24.0" in retry.seen  # the next run installs again


def test_concurrent_runs_install_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = FakeSteps(install_s=0.2)
    monkeypatch.setattr(client_venv, "_step", steps)
    results: list[tuple[Path, float | None]] = []
    runs = [
        threading.Thread(target=lambda: results.append(client_python("openai-agents", "0.24.0", "agents")))
        for _ in range(3)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert steps.seen.count("pip install openai-agents==0.24.0") == 1
    assert sorted(seconds is None for _, seconds in results) == [False, True, True]
