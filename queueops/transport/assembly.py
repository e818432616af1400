"""The program sent to a host: the host-side modules a request needs, and the call.

The modules are real ones of this package (queueops/agent/, each kind's host.py, the runbooks'
and observations' host halves). Their `queueops.*` imports are followed here, at the operator,
so a request carries exactly the modules it uses; on the host agent/bootstrap.py puts them into
sys.modules in dependency order (its code cache saves compiling them again), and the
module's operation runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ENTRY = "queueops.agent.entry"

BOOTSTRAP = "queueops.agent.bootstrap"


def module_path(name: str) -> Path:
    return PACKAGE_ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")


@functools.cache
def imports_of(name: str) -> tuple[str, ...]:
    """The queueops modules that module `name` imports when it runs.

    Read from the lines that start with `from queueops.` / `import queueops.`: host-side modules
    import queueops modules at the top level only (type-only ones indented under
    TYPE_CHECKING), which tests/unit/transport/test_assembly.py holds every one of them to, with
    the standard library for everything else. Parsing them would cost every run ~25 ms.
    """
    found: list[str] = []
    for line in module_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith(("from queueops.", "import queueops.")):
            target = line.split()[1].rstrip(",")
            if target not in found:
                found.append(target)
    return tuple(found)


@functools.cache
def modules_for(name: str, also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`name` (and the modules `also` names) and every queueops module they need, each after
    the modules it imports."""
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
    for extra in also:
        visit(extra, ())
    visit(name, ())
    return tuple(ordered)


@functools.cache
def _sources(name: str, also: tuple[str, ...] = ()) -> str:
    """agent/bootstrap.py, then its `load` of the modules, keyed on their text."""
    pairs = [(m, module_path(m).read_text(encoding="utf-8")) for m in modules_for(name, also)]
    literal = repr(pairs)
    key = hashlib.sha256(literal.encode()).hexdigest()[:32]
    return module_path(BOOTSTRAP).read_text(encoding="utf-8") + f"load({key!r}, {literal})\n"


def request_literal(request: Any) -> str:
    """The request as a Python literal for the program (the host needs no json to read it):
    through JSON first, so only plain data (no tuples, objects or NaN) reaches the host."""
    return repr(json.loads(json.dumps(request, allow_nan=False)))


def program(module: str, request: Any, call: str = "", also: tuple[str, ...] = ()) -> str:
    """The whole program for one request: the modules (`module`'s, and those of the modules
    `also` names: the kinds' host halves an observation asks by name), then
    `main(module, request)` (or, with `call`, `module.call(request)`, for a program that runs
    on its own, such as the metrics refresher)."""
    literal = request_literal(request)
    if call:
        invocation = f"sys.modules[{module!r}].{call}({literal})\n"
    else:
        invocation = f"sys.modules[{ENTRY!r}].main({module!r}, {literal})\n"
    return _sources(module, also) + invocation
