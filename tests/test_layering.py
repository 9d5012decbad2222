"""The packages' one-way dependencies: `cli` -> `demo` -> `router` -> `classifier`, `metering`; never back up.

`cli` is the composition root: only the tests (and the benchmarks, which run the command as a user does)
import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


REPORT = ("metering.tax", "metering.audit")


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


def _upward(package: str, forbidden: set[str]) -> dict[str, set[str]]:
    """`package`'s modules that import any of `forbidden`, with what they import of it."""
    return {path: names & forbidden for path, names in imported_packages(package).items() if names & forbidden}


@pytest.mark.parametrize("package", ["router", "metering", "classifier", "emulator"])
def test_the_library_packages_never_import_the_demo_or_the_command(package: str) -> None:
    assert imported_packages(package)
    assert _upward(package, {"demo", "cli"}) == {}


def test_the_demo_never_imports_the_command() -> None:
    assert "demo/world.py" in imported_packages("demo")
    assert _upward("demo", {"cli"}) == {}


def test_the_command_is_the_composition_root_above_every_package() -> None:
    """Every package the product ships is reachable from `cli`, and nothing it ships reaches back."""
    imported = set().union(*imported_packages("cli").values())
    assert {"demo", "router", "metering", "classifier", "emulator"} <= imported
    shipped = ("router", "metering", "classifier", "emulator", "demo")
    assert {package: _upward(package, {"cli"}) for package in shipped if _upward(package, {"cli"})} == {}
