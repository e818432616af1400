"""queueops installed as an operator installs it: the wheel built from this tree, put into a
fresh virtualenv outside the checkout (its dependencies from the wheelhouse scripts/setup
keeps, no index), and the `queueops` command run from a directory holding only an
inventory: the same tasks, output and exit codes as `invoke` here, against the lab too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from queueops import __version__
from queueops.lab.fleet import repo_root
from tests.conftest import Lab
from tests.integration.test_setup_worker import queueops as invoke

pytestmark = pytest.mark.lab

WHEELHOUSE = repo_root() / ".venv" / "wheelhouse"
# What the checkout's tree holds that a wheel is not built from.
NOT_SOURCES = (".git", ".venv", ".lab", "build", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, float]]:
    """(the wheel, the virtualenv's bin, seconds pip took to install it)."""
    root = tmp_path_factory.mktemp("install")
    tree = root / "tree"
    shutil.copytree(repo_root(), tree, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(root / "dist"), str(tree)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("queueops-*.whl")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(root / "venv")], check=True)
    start = time.monotonic()
    subprocess.run(
        [str(root / "venv" / "bin" / "pip"), "install", "-q", "--no-index", "--find-links",
         str(WHEELHOUSE), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    yield wheel, root / "venv" / "bin", time.monotonic() - start


def run(
    bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command, from `cwd`, with none of the checkout's environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QUEUEOPS_", "VIRTUAL_ENV"))}
    base["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    return subprocess.run(
        [str(bin_dir / "queueops"), *args], cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300, env={**base, **(env or {})},
    )  # fmt: skip


def workdir(tmp_path: Path, inventory: Path, settings: str | None = "inventory: inventory") -> Path:
    """A directory holding only a copy of an inventory (and queueops.yaml naming it)."""
    work = tmp_path / "ops"
    shutil.copytree(inventory, work / "inventory")
    if settings is not None:
        (work / "queueops.yaml").write_text(settings + "\n")
    return work


def test_the_wheel_holds_the_package_templates_and_role_defaults_and_no_lab(
    installed: tuple[Path, Path, float],
) -> None:
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {str(p.relative_to(repo_root())) for p in (repo_root() / "templates").rglob("*.j2")}
    assert {f"queueops/_share/{t}" for t in templates} <= names
    for role in ("queue_worker", "horizon", "redis_queue", "scheduler"):
        assert f"queueops/_share/roles/{role}/defaults/main.yml" in names
    assert "queueops/observe/verify/checks/test_queueops.py" in names
    assert not [n for n in names if n.startswith(("queueops/lab", "tests/", "lab/"))]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "queueops = queueops.cli.program:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_command_has_the_tasks_of_invoke_here_but_the_lab_s(
    installed: tuple[Path, Path, float], tmp_path: Path
) -> None:
    _, bin_dir, _ = installed
    version = run(bin_dir, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.splitlines()[0] == f"queueops {__version__}"
    listed = run(bin_dir, tmp_path, "--list")
    assert listed.returncode == 0, listed.stderr
    ours = set(re.findall(r"^  (\S+)", listed.stdout, re.M))
    theirs = set(re.findall(r"^  (\S+)", invoke("--list").stdout, re.M))
    assert ours == {t for t in theirs if not t.startswith("lab.")}, (ours, theirs)
    assert "setup-scheduler" in ours
    helped = run(bin_dir, tmp_path, "--help", "setup-worker")
    repo_help = invoke("--help", "setup-worker").stdout
    assert helped.stdout == repo_help.replace("Usage: inv[oke] ", "Usage: queueops ")


def test_render_and_lint_from_any_directory_match_the_checkout(
    installed: tuple[Path, Path, float], tmp_path: Path
) -> None:
    _, bin_dir, _ = installed
    example = repo_root() / "inventories" / "example"
    work = workdir(tmp_path, example)
    ours = run(bin_dir, work, "render", "--all", "--out", "out")
    assert ours.returncode == 0, ours.stderr
    theirs = invoke("render", "-i", str(example), "--all", "--out", str(tmp_path / "repo"))
    assert theirs.returncode == 0, theirs.stderr
    files = sorted(p.relative_to(work / "out") for p in (work / "out").rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(tmp_path / "repo") for p in (tmp_path / "repo").rglob("*") if p.is_file()
    )
    for path in files:
        assert (work / "out" / path).read_bytes() == (tmp_path / "repo" / path).read_bytes()
    # -i relative to the working directory; QUEUEOPS_INVENTORY too, without queueops.yaml.
    bare = workdir(tmp_path / "bare", example, settings=None)
    linted = run(bin_dir, bare, "lint", "-i", "inventory")
    repo_lint = invoke("lint", "-i", str(example))
    assert (linted.returncode, linted.stdout) == (repo_lint.returncode, repo_lint.stdout)
    by_env = run(bin_dir, bare, "lint", env={"QUEUEOPS_INVENTORY": "inventory"})
    assert (by_env.returncode, by_env.stdout) == (repo_lint.returncode, repo_lint.stdout)
    nothing = run(bin_dir, bare, "lint")
    assert nothing.returncode == 2 and "queueops.yaml" in nothing.stderr, nothing.stderr


def test_bad_settings_and_missing_files_are_named_with_exit_2(
    installed: tuple[Path, Path, float], tmp_path: Path
) -> None:
    _, bin_dir, _ = installed
    example = repo_root() / "inventories" / "example"
    work = workdir(tmp_path, example, "inventory: inventory\nforkz: 3")
    bad = run(bin_dir, work, "lint")
    assert bad.returncode == 2 and "queueops.yaml: 'forkz' is not a setting" in bad.stderr
    (work / "queueops.yaml").write_text("inventory: nowhere\n")
    missing = run(bin_dir, work, "lint")
    assert missing.returncode == 2 and f"{work}/nowhere: inventory not found" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
    # An installation that lost a template names it and touches nothing.
    (work / "queueops.yaml").write_text("inventory: inventory\n")
    share = next((bin_dir.parent / "lib").glob("python3*/site-packages/queueops/_share"))
    template = share / "templates" / "supervisor" / "program.conf.j2"
    kept = template.read_bytes()
    template.unlink()
    try:
        lost = run(bin_dir, work, "render", "--host", "api1", "--out", "out")
    finally:
        template.write_bytes(kept)
    assert lost.returncode == 2, lost.stdout + lost.stderr
    assert f"{template}: cannot render" in lost.stderr and "Traceback" not in lost.stderr
    assert not (work / "out").exists()


def test_setup_worker_from_the_installed_command_converges_the_lab(
    installed: tuple[Path, Path, float], lab: Lab, tmp_path: Path
) -> None:
    _, bin_dir, _ = installed
    work = workdir(tmp_path, repo_root() / "inventories" / "lab")
    (work / "inventory" / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(lab.paths.connection_vars())
    )
    checked = run(bin_dir, work, "setup-worker", "--group", "workers", "--check", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    applied = run(bin_dir, work, "setup-worker", "--group", "workers")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = run(bin_dir, work, "setup-worker", "--group", "workers")
    assert again.returncode == 0 and again.stdout.rstrip().endswith("changed=0 failed=0")
