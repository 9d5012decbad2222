"""The packages' one-way dependencies: `router` uses `metering` and `classifier`, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_packages(package: str) -> dict[str, set[str]]:
    """Every module of `package` (by path) -> the top-level packages it imports, at any depth in the module."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_metering_never_imports_router() -> None:
    modules = imported_packages("metering")
    assert "metering/pipeline.py" in modules  # the finished-request pipeline lives in metering
    assert {path: names & {"router"} for path, names in modules.items() if "router" in names} == {}


def test_classifier_imports_nothing_of_ours() -> None:
    modules = imported_packages("classifier")
    assert modules
    ours = {"router", "metering"}
    assert {path: names & ours for path, names in modules.items() if names & ours} == {}


def test_the_emulator_imports_nothing_of_router() -> None:
    """The upstream double shares no code with the proxy it checks (it would share its mistakes)."""
    modules = imported_packages("emulator")
    assert "emulator/app.py" in modules
    assert {path: names & {"router", "demo"} for path, names in modules.items() if names & {"router", "demo"}} == {}
