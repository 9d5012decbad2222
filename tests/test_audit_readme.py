"""The README's `routetax audit` example prints exactly what the README shows."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.running import Processes

ROOT = Path(__file__).resolve().parent.parent


def test_readme_audit_example_is_the_real_output(processes: Processes) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Auditing the logs you already have", 1)[1]
    example = re.search(r"```sh\n\.venv/bin/(routetax audit [^\n]+)\n```\n\n```\n(.*?)```", section, re.S)
    assert example is not None
    command, shown = example.groups()
    args = command.split()[1:]
    done = processes.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown, "README's audit example is stale; paste this output:\n" + done.stdout
