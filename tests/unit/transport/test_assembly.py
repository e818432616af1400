"""The program sent to hosts: real modules of this package, exactly the ones a request needs,
importing nothing but the standard library and each other."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from queueops.transport import assembly

PACKAGE = Path(assembly.__file__).resolve().parents[1]
HOST_MODULES = [
    "queueops.agent.facts",
    "queueops.kinds.workers.host",
    "queueops.kinds.horizon.host",
    "queueops.kinds.redis.host",
    "queueops.runbooks.host_signals",
    "queueops.runbooks.host_queue_jobs",
    "queueops.runbooks.host_fallback",
    "queueops.runbooks.host_failed",
    "queueops.observe.host",
]


def test_every_host_module_of_the_package_is_listed_here() -> None:
    found = {
        ".".join(("queueops", *p.relative_to(PACKAGE).with_suffix("").parts))
        for p in PACKAGE.rglob("*.py")
        if "OPERATIONS: dict[str, Operation]" in p.read_text()
    }
    assert found == set(HOST_MODULES)


@pytest.mark.parametrize("module", HOST_MODULES)
def test_host_modules_import_only_the_standard_library_and_host_modules(module: str) -> None:
    for name in assembly.modules_for(module):
        tree = ast.parse(assembly.module_path(name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                top = target.split(".")[0]
                assert top == "queueops" or top in sys.stdlib_module_names, (name, target)


@pytest.mark.parametrize("module", HOST_MODULES)
def test_the_program_runs_in_an_isolated_python_with_only_the_modules_it_needs(
    module: str, tmp_path: Path
) -> None:
    """As on a host: `python3 -I -S -`, no queueops installed, only what the program carries.

    An unknown operation answers with an error from the module's own dispatch, which proves
    every sent module imported."""
    program = assembly.program(module, {"op": "no-such-op"})
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-"], input=program, capture_output=True, text=True,
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "KeyError: 'no-such-op'" in result.stderr, result.stderr
    sent = assembly.modules_for(module)
    assert sent[-1] == module and "queueops.agent.entry" in sent
    # Operator-side modules never travel.
    assert not any(m.endswith((".plan", ".job", ".settings")) or ".cli." in m for m in sent)


def test_a_request_reaches_its_operation_and_the_answer_is_json(tmp_path: Path) -> None:
    request = {"op": "facts", "program_dirs": [[str(tmp_path), ".conf"]], "app_path": None,
               "supervisor_configs": [str(tmp_path / "none.conf")], "paths": []}  # fmt: skip
    (tmp_path / "x.conf").write_text("; Managed by queueops: test\n")
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-"],
        input=assembly.program("queueops.agent.facts", request),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    answer = json.loads(result.stdout)
    assert answer["ok"] is True
    assert list(answer["files"]) == [str(tmp_path / "x.conf")]
    assert answer["supervisor"]["running"] is False


def test_the_runbook_modules_are_sent_without_the_observation_modules() -> None:
    sent = assembly.modules_for("queueops.runbooks.host_signals")
    assert "queueops.observe.host" not in sent and "queueops.kinds.redis.host" not in sent
