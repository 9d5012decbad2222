"""The capture runner's bookkeeping: what a partial run keeps of the labelled corpus files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
CAPTURE = Path(__file__).parent.parent / "classifier" / "data" / "capture"


def load_run():  # noqa: ANN201 - the module, loaded from its file as `python run.py` does
    sys.path.insert(0, str(CAPTURE))
    try:
        spec = importlib.util.spec_from_file_location("capture_run", CAPTURE / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(CAPTURE))


def row(source: str, task: int, split: str = "heldout") -> dict:
    return {"id": f"{source}/t{task}/step1", "source": source, "framework": source.split("/")[0], "split": split}


def test_a_new_driver_of_a_captured_framework_keeps_its_earlier_scenarios() -> None:
    """Running aider's new edit formats alone must not drop the aider captures already in the corpus."""
    run = load_run()
    old = [row("aider-chat/edit_diff", 0), row("aider-chat/edit_whole", 1), row("crewai/tool_agent", 0)]
    captured = [row("aider-chat/edit_udiff", 0), row("aider-chat/ask", 1)]
    kept = run.merged(old, captured, "heldout")
    assert [r["source"] for r in kept] == [
        "aider-chat/edit_diff",
        "aider-chat/edit_whole",
        "crewai/tool_agent",
        "aider-chat/edit_udiff",
        "aider-chat/ask",
    ]


def test_a_rerun_scenario_replaces_its_old_rows_and_keeps_to_its_split() -> None:
    run = load_run()
    old = [row("dspy/react", 0, "dev"), row("dspy/react", 1, "dev"), row("dspy/predict", 0, "dev")]
    captured = [row("dspy/react", 0, "dev"), row("dspy/react", 2, "heldout")]
    kept = run.merged(old, captured, "dev")
    assert [(r["source"], r["id"]) for r in kept] == [
        ("dspy/predict", "dspy/predict/t0/step1"),
        ("dspy/react", "dspy/react/t0/step1"),
    ]
