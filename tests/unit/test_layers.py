"""The package's layers, held to their shape: each part of queueops imports only the parts
below it (no cycle between them), the engine never imports the lab, and no part but a kind's
own folder names a kind that is added later."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "queueops"

# Each part of the package (a folder, or a module at the top) → the parts it may import.
# Lowest first; the table is checked to be acyclic below, so this order is the layering.
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "shell": set(),
    # Where templates/ and roles/ are: the checkout's, or the wheel's copies.
    "resources": set(),
    "health": set(),
    "protocol": set(),
    # The host side: standard library and the wire types (the latter only to type-check).
    "agent": {"protocol"},
    "platforms": {"errors", "shell", "protocol"},
    "inventory": {"errors", "shell", "platforms", "resources"},
    "plan": {"errors", "inventory", "platforms", "protocol", "resources"},
    "lint": {"inventory", "platforms"},
    "transport": {"errors", "shell", "protocol", "agent", "inventory", "plan"},
    "supervisor": {"protocol", "agent", "platforms", "plan", "lint"},
    "kinds": {"errors", "shell", "health", "protocol", "agent", "platforms", "inventory",
              "plan", "lint", "transport", "supervisor", "resources"},
    "runbooks": {"errors", "shell", "protocol", "agent", "inventory", "plan", "transport",
                 "supervisor", "kinds"},
    "observe": {"errors", "shell", "health", "protocol", "agent", "inventory", "plan",
                "transport", "supervisor", "kinds", "runbooks"},
    # The collection's controller side: converges through Ansible's connection.
    "roles": {"errors", "protocol", "agent", "inventory", "plan", "lint", "transport", "kinds",
              "resources"},
    "cli": {"errors", "shell", "resources", "inventory", "plan", "lint", "transport", "kinds",
            "runbooks", "observe"},
    # `python -m queueops`.
    "__main__": {"cli"},
    # The repository's test fleet: above everything, and nothing imports it (tasks.py does).
    "lab": {"errors", "shell", "cli"},
}  # fmt: skip


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def part_of(module: str) -> str:
    """`queueops.kinds.workers.plan` → `kinds`; `queueops.errors` → `errors`."""
    return module.split(".")[1]


def modules() -> dict[Path, set[str]]:
    return {
        path.relative_to(PACKAGE): imported(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" or path.parent != PACKAGE
    }


def test_every_part_of_the_package_is_in_the_table() -> None:
    parts = {path.parts[0].removesuffix(".py") for path in modules()}
    assert parts == set(LAYERS)


def test_each_part_imports_only_the_parts_below_it() -> None:
    for path, names in modules().items():
        own = path.parts[0].removesuffix(".py")
        used = {part_of(n) for n in names if n.startswith("queueops.")} - {own}
        assert used <= LAYERS[own], (str(path), sorted(used - LAYERS[own]))


def test_the_layers_have_no_cycle() -> None:
    done: list[str] = []

    def visit(part: str, trail: tuple[str, ...]) -> None:
        assert part not in trail, " -> ".join((*trail, part))
        if part not in done:
            for below in sorted(LAYERS[part]):
                visit(below, (*trail, part))
            done.append(part)

    for part in LAYERS:
        visit(part, ())


def test_no_module_of_the_package_imports_the_lab() -> None:
    for path, names in modules().items():
        if path.parts[0] != "lab":
            assert not any(n == "queueops.lab" or n.startswith("queueops.lab.") for n in names), (
                path
            )


def test_the_lab_uses_the_engine_only_for_errors_and_quoting() -> None:
    allowed = {"queueops.errors", "queueops.shell", "queueops.cli.errors"}
    for path, names in modules().items():
        if path.parts[0] == "lab":
            engine = {
                n for n in names if n.startswith("queueops.") and not n.startswith("queueops.lab")
            }
            assert engine <= allowed, (path, engine - allowed)


# The kinds other parts may name: the queue's own, which the runbooks (pause, fallback,
# restart-queue) and every observation work on. Any other kind is reached through the
# registry only, so adding one is its folder and one line in queueops/kinds/__init__.py.
NAMED_KINDS = {"workers", "horizon"}


def test_only_the_registry_names_the_other_kinds() -> None:
    for path, names in modules().items():
        for name in names:
            parts = name.split(".")
            if parts[:2] != ["queueops", "kinds"] or len(parts) < 3:
                continue
            kind = parts[2]
            if kind in ("base", "hosts", "converge") or kind in NAMED_KINDS:
                continue
            inside = path.parts[:2] == ("kinds", kind) or path == Path("kinds/__init__.py")
            assert inside, f"{path} names the {kind} kind: go through the registry"
