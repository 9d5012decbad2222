"""Aider: the edit loop (SEARCH/REPLACE blocks applied to files, failed matches sent back) and its weak-model calls.

The main model runs the edit protocol (agentic); the weak model (`gpt-5.4-nano` here) writes commit
messages, a single call whose output is not executed (single-turn): run.py labels those requests by
the model they name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from _common import run, session

os.environ.setdefault("AIDER_ANALYTICS", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TASKS = [
    "Fix add() so it returns a + b.",
    "add() is wrong, it subtracts. Please fix.",
    "Make add return the sum of its arguments.",
    "There's a bug in calc.add, fix it and keep the signature.",
    "calc.add should add, not subtract.",
    "Correct the arithmetic in add().",
]
GOOD = "calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"
BAD = "calc.py\n```python\n<<<<<<< SEARCH\n    return a * b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"


def repo() -> Path:
    path = Path(tempfile.mkdtemp())
    (path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.email=a@b.c", "-c", "user.name=dev", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def aider(url: str, task: str, edit_format: str) -> None:
    from aider.coders import Coder
    from aider.io import InputOutput
    from aider.models import Model

    os.environ["OPENAI_API_BASE"] = os.environ["OPENAI_BASE_URL"] = url
    os.environ["OPENAI_API_KEY"] = "sk-capture"
    path = repo()
    os.chdir(path)
    model = Model("openai/gpt-5.4-mini", weak_model="openai/gpt-5.4-nano", editor_edit_format=None)
    io = InputOutput(yes=True, pretty=False, fancy_input=False)
    coder = Coder.create(
        main_model=model,
        edit_format=edit_format,
        fnames=[str(path / "calc.py")],
        io=io,
        auto_commits=True,
        stream=False,
        suggest_shell_commands=False,
        map_tokens=0,
    )
    coder.run(task)


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("edit_diff", "agentic", t),
            [{"text": "I'll fix it.\n\n" + GOOD}],
            lambda url, k=task: aider(url, k, "diff"),
        )
        run(
            session("edit_retry_after_failed_match", "agentic", t),
            [{"text": BAD}, {"text": GOOD}],
            lambda url, k=task: aider(url, k, "diff"),
        )
        whole = "calc.py\n```python\ndef add(a, b):\n    return a + b\n```\n"
        run(session("edit_whole", "agentic", t), [{"text": whole}], lambda url, k=task: aider(url, k, "whole"))


if __name__ == "__main__":
    main()
