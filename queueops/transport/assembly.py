"""The program sent to a host: the host-side modules a request needs, and the call.

The modules are real ones of this package (queueops/agent/, each kind's host.py, the runbooks'
and observations' host halves). Their `queueops.*` imports are followed here, at the operator,
so a request carries exactly the modules it uses; on the host a small loader puts them into
sys.modules (with empty packages above them: the packages' own __init__ files are the
operator's, not the host's), in dependency order, and the module's operation runs.
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ENTRY = "queueops.agent.entry"

# Runs first on the host: sources → modules, parents as empty packages.
LOADER = """import sys, types
def _queueops_load(sources):
    for name, source in sources:
        parts = name.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if package not in sys.modules:
                module = types.ModuleType(package)
                module.__path__ = []
                sys.modules[package] = module
        module = types.ModuleType(name)
        module.__file__ = "<queueops:" + name + ">"
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)
"""


def module_path(name: str) -> Path:
    return PACKAGE_ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")


@functools.cache
def imports_of(name: str) -> tuple[str, ...]:
    """The queueops modules that module `name` imports (host-side modules import only these
    and the standard library; tests/unit/test_assembly.py holds every one of them to that)."""
    tree = ast.parse(module_path(name).read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found += [t for t in targets if t.startswith("queueops.") and t not in found]
    return tuple(found)


@functools.cache
def modules_for(name: str) -> tuple[str, ...]:
    """`name` and every queueops module it needs, each after the modules it imports."""
    ordered: list[str] = []

    def visit(current: str, trail: tuple[str, ...]) -> None:
        if current in ordered:
            return
        if current in trail:
            raise RuntimeError(f"host-side import cycle: {' -> '.join((*trail, current))}")
        for dependency in imports_of(current):
            visit(dependency, (*trail, current))
        ordered.append(current)

    visit(ENTRY, ())
    visit(name, ())
    return tuple(ordered)


@functools.cache
def _sources(name: str) -> str:
    pairs = [(m, module_path(m).read_text(encoding="utf-8")) for m in modules_for(name)]
    return LOADER + f"_queueops_load({pairs!r})\n"


def program(module: str, request: Any, call: str = "") -> str:
    """The whole program for one request: the modules, then `main(module, request)` (or,
    with `call`, `module.call(request)`, for a program that runs on its own, such as the
    metrics refresher)."""
    literal = repr(json.dumps(request))
    if call:
        invocation = f"sys.modules[{module!r}].{call}(__import__('json').loads({literal}))\n"
    else:
        invocation = (
            f"sys.modules[{ENTRY!r}].main({module!r}, __import__('json').loads({literal}))\n"
        )
    return _sources(module) + invocation
