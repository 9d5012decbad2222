"""Aider's other edit formats (whole, udiff, diff-fenced, architect), with failures fed back, and its ask mode.

Every edit format is an action protocol: aider applies what the model writes to the files and sends back what
went wrong — a hunk that failed to apply, a lint report, failing tests — for the model to fix (agentic). The
architect's plan goes to an editor model that writes the edits (agentic: its result goes back to a model of
the same task). Ask mode answers a question about the code and applies nothing (single-turn). Commits are off
here: the weak model's commit messages are captured by aider_driver.py.
"""

from __future__ import annotations

import os
import sys

from _common import run, session
from aider_driver import TASKS, repo

os.environ.setdefault("AIDER_ANALYTICS", "false")
WHOLE = "calc.py\n```python\ndef add(a, b):\n    return a + b\n```\n"
UDIFF = "```diff\n--- calc.py\n+++ calc.py\n@@ ... @@\n def add(a, b):\n-    return a - b\n+    return a + b\n```\n"
UDIFF_BAD = "```diff\n--- calc.py\n+++ calc.py\n@@ ... @@\n def add(x, y):\n-    return x * y\n+    return x + y\n```\n"
FENCED = "```python\ncalc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"
PLAN = "The bug is in `add`: it subtracts. Change its body to `return a + b`; nothing else needs to change."
FAIL_ONCE = (
    "import pathlib, sys\n"
    "mark = pathlib.Path(sys.argv[0]).with_suffix('.ran')\n"
    "if not mark.exists():\n"
    "    mark.touch()\n"
    "    if len(sys.argv) > 1:  # the linter, given the edited file\n"
    "        print('{}:2:12: E225 missing whitespace around operator'.format(sys.argv[-1]))\n"
    "    else:  # the test command\n"
    "        print('FAILED test_calc.py::test_add - assert add(2, 2) == 4')\n"
    "    sys.exit(1)\n"
)


def aider(url: str, task: str, edit_format: str, lint: bool = False, test: bool = False) -> None:
    from aider.coders import Coder
    from aider.io import InputOutput
    from aider.models import Model

    os.environ["OPENAI_API_BASE"] = os.environ["OPENAI_BASE_URL"] = url
    path = repo()
    os.chdir(path)
    checker = path.parent / f"{path.name}-check.py"
    checker.write_text(FAIL_ONCE)
    command = f"{sys.executable} {checker}"
    model = Model("openai/gpt-5.4-mini", weak_model="openai/gpt-5.4-mini", editor_model="openai/gpt-5.4-mini")
    coder = Coder.create(
        main_model=model,
        edit_format=edit_format,
        fnames=[str(path / "calc.py")],
        io=InputOutput(yes=True, pretty=False, fancy_input=False),
        auto_commits=False,
        stream=False,
        suggest_shell_commands=False,
        map_tokens=0,
        auto_lint=lint,
        lint_cmds={"python": command} if lint else None,
        auto_test=test,
        test_cmd=command if test else None,
    )
    coder.run(task)


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("edit_whole_lint_fix", "agentic", t),
            [{"text": WHOLE}, {"text": WHOLE}],
            lambda url, k=task: aider(url, k, "whole", lint=True),
        )
        run(session("edit_udiff", "agentic", t), [{"text": UDIFF}], lambda url, k=task: aider(url, k, "udiff"))
        run(
            session("edit_udiff_failed_apply", "agentic", t),
            [{"text": UDIFF_BAD}, {"text": UDIFF}],
            lambda url, k=task: aider(url, k, "udiff"),
        )
        run(
            session("edit_diff_fenced_test_fix", "agentic", t),
            [{"text": FENCED}, {"text": FENCED}],
            lambda url, k=task: aider(url, k, "diff-fenced", test=True),
        )
        run(
            session("architect", "agentic", t),
            [{"text": PLAN}, {"text": WHOLE}],
            lambda url, k=task: aider(url, k, "architect"),
        )
        run(
            session("ask", "single_turn", t),
            [{"text": "add() subtracts; it should return a + b."}],
            lambda url, k=task: aider(url, f"Why is this wrong? {k}", "ask"),
        )


if __name__ == "__main__":
    main()
