"""The package's layers, held to their shape: the engine never imports the lab, and nothing
below the command line imports it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "queueops"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def modules(*skip: str) -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith(skip):
            found[relative] = imported(path)
    return found


def test_only_the_command_line_adds_the_lab() -> None:
    users = {
        module
        for module, names in modules("lab/").items()
        if any(n == "queueops.lab" or n.startswith("queueops.lab.") for n in names)
    }
    assert users == {"cli/collection.py"}


def test_the_engine_below_the_command_line_never_imports_it() -> None:
    for module, names in modules("cli/", "lab/").items():
        assert not any(
            n.startswith("queueops.cli") and n != "queueops.cli.errors" for n in names
        ), module


def test_the_lab_uses_the_engine_only_for_errors_and_quoting() -> None:
    allowed = {"queueops.errors", "queueops.shell", "queueops.cli.errors"}
    for module, names in modules().items():
        if module.startswith("lab/"):
            engine = {
                n for n in names if n.startswith("queueops.") and not n.startswith("queueops.lab")
            }
            assert engine <= allowed, (module, engine - allowed)
