"""The roles against queueops without hosts: Ansible and queueops read the same variables
from both inventories, and the roles render the same files as `invoke render`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from queueops.inventory.loader import load_inventory
from queueops.lab.fleet import repo_root
from queueops.resources import ROLES_DIR
from tests.integration.test_roles import BIN, ansible_env
from tests.integration.test_setup_worker import queueops

INVENTORIES = ("lab", "example")


def ansible(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=repo_root(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300, env=ansible_env(),
    )  # fmt: skip


@pytest.mark.parametrize("name", INVENTORIES)
def test_ansible_inventory_and_queueops_agree_on_every_host_variable(
    name: str, tmp_path: Path
) -> None:
    path = repo_root() / "inventories" / name
    listed = ansible("ansible-inventory", "-i", str(path), "--list")
    assert listed.returncode == 0, listed.stderr
    assert "WARNING" not in listed.stderr, listed.stderr
    hostvars: dict[str, dict[str, Any]] = json.loads(listed.stdout)["_meta"]["hostvars"]
    # The values as Ansible uses them, templated (`{{ inventory_dir }}` of the lab's keys).
    tree = tmp_path / "tree"
    debug = ansible("ansible", "all", "-i", str(path), "-m", "debug",
                    "-a", "var=hostvars[inventory_hostname]", "-t", str(tree))  # fmt: skip
    assert debug.returncode == 0, debug.stdout + debug.stderr
    ours = load_inventory(path, ROLES_DIR)
    assert set(hostvars) == set(ours.hosts)
    for host, merged in ours.hosts.items():
        templated = json.loads((tree / host).read_text())["hostvars[inventory_hostname]"]
        # Ansible's list has no role defaults (a play applies them); queueops layers them.
        inventory_vars = {k: v for k, v in merged.vars.items()
                          if not merged.origins[k].is_relative_to(ROLES_DIR)}  # fmt: skip
        assert inventory_vars == {k: templated[k] for k in hostvars[host]}, host


def test_the_roles_render_what_invoke_render_renders(tmp_path: Path) -> None:
    inventory = repo_root() / "inventories" / "example"
    by_invoke, by_roles = tmp_path / "invoke", tmp_path / "roles"
    rendered = queueops("render", "-i", str(inventory), "--all", "--out", str(by_invoke))
    assert rendered.returncode == 0, rendered.stderr
    render = str(repo_root() / "playbooks" / "render.yml")
    played = ansible(
        "ansible-playbook", "-i", str(inventory), render, "-e", f"render_root={by_roles}"
    )
    assert played.returncode == 0, played.stdout[-3000:]
    files = sorted(p.relative_to(by_invoke) for p in by_invoke.rglob("*") if p.is_file())
    assert files, "invoke render wrote nothing"
    assert files == sorted(p.relative_to(by_roles) for p in by_roles.rglob("*") if p.is_file())
    for path in files:
        assert (by_roles / path).read_bytes() == (by_invoke / path).read_bytes(), path
    # Every kind's files are among them, and both OS families' program directories.
    names = {str(p) for p in files}
    for expected in (
        "horizon1/etc/cron.d/laravel-scheduler",
        "horizon1/var/www/app/config/horizon.php",
        "horizon1/etc/supervisor/conf.d/horizon.conf",
        "redis1/etc/redis/queueops.conf",
    ):
        assert expected in names, names
    assert any("/supervisord.d/" in n for n in names) and any("/conf.d/" in n for n in names)
