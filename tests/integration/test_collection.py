"""The Ansible collection as a shop takes it: `ansible-galaxy collection build` in this
checkout, the tarball installed into an empty collections path, and a playbook of FQCNs only,
run from a directory outside the checkout, converging the lab in one module run per host and
role. (ansible-lint's production profile on the collection and its playbooks runs in
scripts/test, beside ruff and mypy.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from queueops import __version__
from queueops.lab.fleet import repo_root
from tests.conftest import Lab
from tests.integration.test_roles import recap
from tests.integration.test_setup_worker import run_json

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
PLAYBOOK = """\
- name: Laravel queue fleet, from the installed collection
  hosts: workers
  gather_facts: false
  become: true
  roles:
    - queueops.laravel.queue_worker

- name: The scheduler
  hosts: scheduler
  gather_facts: false
  become: true
  tasks:
    - name: Converge Laravel's scheduler
      queueops.laravel.converge:
        kind: scheduler
"""


def ansible(
    cwd: Path, *args: str, collections: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """An ansible command from `cwd`, with none of the checkout's Ansible configuration, and
    with `collections` as the only place collections are found (none of this machine's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({"PATH": f"{BIN}:{env['PATH']}", "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"})
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=900, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collection")
    built = ansible(repo_root(), "ansible-galaxy", "collection", "build", "--output-path", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    return out / f"queueops-laravel-{__version__}.tar.gz"


def test_the_collection_holds_its_roles_plugins_and_meta_only(tarball: Path) -> None:
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        manifest = json.loads(archive.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (
        "queueops",
        "laravel",
        __version__,
    )
    for role in ("queue_worker", "horizon", "redis_queue", "scheduler"):
        for part in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml",
                     "tasks/main.yml", "README.md"):  # fmt: skip
            assert f"roles/{role}/{part}" in names
    for plugin in ("action/converge.py", "action/render.py", "modules/agent.py"):
        assert f"plugins/{plugin}" in names
    assert {"meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt"} <= names
    tops = {n.split("/")[0] for n in names}
    assert tops == {"roles", "plugins", "meta", "README.md", "CHANGELOG.md", "requirements.txt",
                    "MANIFEST.json", "FILES.json"}, tops  # fmt: skip


def test_installed_collection_converges_the_lab_from_outside_the_checkout(
    tarball: Path, lab: Lab, tmp_path: Path
) -> None:
    collections = tmp_path / "collections"
    installed = ansible(tmp_path, "ansible-galaxy", "collection", "install", str(tarball),
                        "-p", str(collections), collections=collections)  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (collections / "ansible_collections/queueops/laravel/MANIFEST.json").is_file()
    work = tmp_path / "ops"
    shutil.copytree(repo_root() / "inventories" / "lab", work / "inventory")
    (work / "inventory" / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(
            {**lab.paths.connection_vars(), "ansible_python_interpreter": "/usr/bin/python3"}
        )
    )
    (work / "site.yml").write_text(PLAYBOOK)
    syntax = ansible(work, "ansible-playbook", "-i", "inventory", "site.yml", "--syntax-check",
                     collections=collections)  # fmt: skip
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    first = ansible(work, "ansible-playbook", "-i", "inventory", "site.yml",
                    collections=collections)  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    again = ansible(work, "ansible-playbook", "-i", "inventory", "site.yml", "-v",
                    collections=collections)  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:]
    assert {h: r["changed"] for h, r in recap(again).items()} == {"app1": 0, "app2": 0}
    # One run of the agent module per host and role on a no-op.
    assert again.stdout.count('"runs": 1}') == 3, again.stdout[-3000:]
    for task, group in (("setup-worker", "workers"), ("setup-scheduler", "scheduler")):
        doc = run_json(task, "-i", str(work / "inventory"), "--group", group, "--check")
        assert doc["summary"]["changed"] == 0, doc
