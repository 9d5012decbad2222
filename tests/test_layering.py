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


REPORT = ("metering.tax_report", "metering.tax_model", "metering.audit")


def metering_imports() -> dict[str, set[str]]:
    """Every metering module (dotted) -> the metering modules it imports, at any depth in the module."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "metering").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from metering import x`
        found[module] = {name for name in names if name.split(".")[0] == "metering"}
    return found


def test_meterings_write_path_never_imports_the_report() -> None:
    """What a finished request goes through (the pipeline and all it reaches) does not depend on the report.

    The report reads what the write path wrote; were the ledger's rollups to import it (as they once did for
    `base_usd`), a change to how the report judges would silently change what is written.
    """
    imports = metering_imports()
    reached, todo = set(), ["metering.pipeline"]
    while todo:
        module = todo.pop()
        if module in reached or module not in imports:
            continue
        reached.add(module)
        todo.extend(imports[module])
    assert {"metering.ledger", "metering.metrics", "metering.spool", "metering.cost", "metering.record"} <= reached
    assert sorted(m for m in reached if m.startswith(REPORT)) == []
