"""The program sent to hosts: real modules of this package, exactly the ones a request needs,
importing nothing but the standard library and each other."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from queueops.kinds import KINDS
from queueops.transport import assembly

PACKAGE = Path(assembly.__file__).resolve().parents[1]
# The host halves of what no kind owns; each kind names its own (Kind.host_module).
HOST_MODULES = [
    "queueops.agent.facts",
    *(kind.host_module for kind in KINDS),
    "queueops.runbooks.host_signals",
    "queueops.runbooks.host_queue_jobs",
    "queueops.runbooks.host_fallback",
    "queueops.runbooks.host_failed",
    "queueops.runbooks.host_restart",
    "queueops.observe.host",
]


def test_every_host_module_of_the_package_is_listed_here() -> None:
    found = {
        ".".join(("queueops", *p.relative_to(PACKAGE).with_suffix("").parts))
        for p in PACKAGE.rglob("*.py")
        if "OPERATIONS: dict[str, Operation]" in p.read_text()
    }
    assert found == set(HOST_MODULES)


def runtime_imports(tree: ast.Module) -> tuple[list[str], list[str]]:
    """The queueops modules a module imports when it runs (top level, not under
    TYPE_CHECKING), and those it imports anywhere else (in a function, a class, a branch)."""
    top: list[str] = []
    nested: list[str] = []

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            return []
        return [n for n in names if n.startswith("queueops.")]

    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        top += [t for t in targets(node) if t not in top]
        nested += [t for child in ast.walk(node) if child is not node for t in targets(child)]
    return top, nested


@pytest.mark.parametrize("module", HOST_MODULES)
def test_the_modules_a_program_carries_are_its_runtime_imports(module: str) -> None:
    """assembly reads imports from lines, not a parse: each sent module's own list must be
    what Python runs, and no queueops import may hide in a function or a branch."""
    for name in assembly.modules_for(module):
        top, nested = runtime_imports(ast.parse(assembly.module_path(name).read_text()))
        assert list(assembly.imports_of(name)) == top, name
        assert nested == [], (name, nested)


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
               "app_users": [], "supervisor_configs": [str(tmp_path / "none.conf")],
               "paths": []}  # fmt: skip
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


# Runs a program as the host does, counting the modules it compiles (printed on stderr).
COUNTING = """import builtins, sys
count = [0]
plain = builtins.compile
def counted(*args, **kwargs):
    count[0] += 1
    return plain(*args, **kwargs)
builtins.compile = counted
exec(plain(sys.stdin.read(), "<program>", "exec"), {"__name__": "__main__"})
sys.stderr.write(str(count[0]))
"""
FACTS_REQUEST = {"op": "facts", "program_dirs": [], "app_path": None, "app_users": [], "paths": [],
                 "supervisor_configs": ["/nonexistent/supervisord.conf"]}  # fmt: skip


def compiled(text: str, cache: Path | str) -> tuple[str, int]:
    """The answer of `text` run with `cache` as its code cache (without what changes from one
    run to the next: this machine's worker processes and lock), and how many modules it
    compiled."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", COUNTING], input=text, capture_output=True,
        text=True, env={"QUEUEOPS_AGENT_CACHE": str(cache)}, check=True,
    )  # fmt: skip
    answer = json.loads(result.stdout)
    del answer["workers"], answer["lock"]
    return json.dumps(answer), int(result.stderr)


def test_the_compiled_modules_are_cached_per_interpreter_and_a_bad_entry_is_recompiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    text = assembly.program("queueops.agent.facts", FACTS_REQUEST)
    modules = len(assembly.modules_for("queueops.agent.facts"))
    answer, count = compiled(text, cache)
    assert json.loads(answer)["ok"] is True and count == modules
    [entry] = list(cache.iterdir())
    assert sys.implementation.cache_tag in entry.name and entry.stat().st_mode & 0o077 == 0
    assert compiled(text, cache) == (answer, 0)
    entry.write_bytes(b"not marshal data")
    assert compiled(text, cache) == (answer, modules)
    assert compiled(text, cache) == (answer, 0)
    # Another queueops (other sources) is another entry; the request is never part of one.
    other = assembly.program("queueops.agent.facts", {**FACTS_REQUEST, "paths": ["/x"]})
    assert compiled(other, cache)[1] == 0
    # Another version of a module is another entry.
    changed = tmp_path / "common.py"
    changed.write_text(assembly.module_path("queueops.agent.common").read_text() + "\n# v2\n")
    real = assembly.module_path
    monkeypatch.setattr(
        assembly, "module_path", lambda m: changed if m.endswith(".common") else real(m)
    )
    assembly._sources.cache_clear()
    try:
        upgraded = assembly.program("queueops.agent.facts", FACTS_REQUEST)
    finally:
        assembly._sources.cache_clear()
    assert "# v2" in upgraded and compiled(upgraded, cache) == (answer, modules)
    assert len(list(cache.iterdir())) == 2


def test_without_a_writable_cache_every_run_compiles(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    text = assembly.program("queueops.agent.facts", FACTS_REQUEST)
    caches: tuple[Path | str, ...] = (blocked / "cache", "")
    for cache in caches:
        answer, count = compiled(text, cache)
        assert json.loads(answer)["ok"] is True and count > 0


def test_the_facts_modules_import_nothing_beyond_a_few_built_in_modules(tmp_path: Path) -> None:
    """Every run of every task pays for the facts on every host: typing, json, re, socket,
    hashlib or subprocess would each cost more than reading the host (agent/common.py); the
    facts import those only on paths a no-op does not take (no supervisord, no cached app
    configuration)."""
    listed = "import sys; sys.stderr.write(repr(sorted(sys.modules)))"
    bare = subprocess.run(
        [sys.executable, "-I", "-S", "-c", listed], capture_output=True, text=True, check=True
    )
    program = assembly.program("queueops.agent.facts", FACTS_REQUEST)
    text = program[: program.rindex("sys.modules[")] + listed
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-"], input=text, capture_output=True, text=True,
        env={"QUEUEOPS_AGENT_CACHE": str(tmp_path)}, check=True,
    )  # fmt: skip
    extra = set(ast.literal_eval(run.stderr)) - set(ast.literal_eval(bare.stderr))
    extra = {m for m in extra if not m.startswith(("queueops", "pyexpat.", "xml.parsers.expat."))}
    allowed = {"os", "os.path", "posixpath", "genericpath", "stat", "_stat", "_collections_abc",
               "errno", "__future__", "marshal", "pwd", "fcntl", "_socket", "pyexpat", "xml",
               "xml.parsers", "xml.parsers.expat", "_sha2", "_sha256"}  # fmt: skip
    assert extra <= allowed, extra - allowed


@pytest.mark.parametrize(
    "answer",
    [{"ok": True, "text": "é\n\"quoted\"\t\u2028", "n": [1, 2.5, None, True, False]},
     {"nested": {"a": [{"b": []}, {}]}, "big": 2**70}],
)  # fmt: skip
def test_the_agent_writes_what_json_dumps_writes(answer: dict[str, object]) -> None:
    from queueops.agent.entry import encoded

    assert encoded(answer) == json.dumps(answer, separators=(",", ":"))
    assert json.loads(encoded(answer)) == answer


def test_the_agent_refuses_nan_as_json_dumps_does_with_allow_nan_false() -> None:
    from queueops.agent.entry import encoded

    with pytest.raises(ValueError):
        encoded({"x": float("nan")})


@pytest.mark.parametrize("module", HOST_MODULES)
def test_host_modules_are_python_3_9(module: str) -> None:
    """Hosts run their distribution's python3: RHEL 9's is 3.9 (docs/architecture.md)."""
    names = [*assembly.modules_for(module), assembly.BOOTSTRAP]
    for name in names:
        ast.parse(assembly.module_path(name).read_text(), name, feature_version=(3, 9))
