"""The inventories where queueops used to differ from Ansible without a word, each read as
Ansible reads it now (each of these failed before queueops read inventories as Ansible does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from queueops.inventory.loader import load_inventory
from queueops.kinds import host_settings

from ..trees import REPO, ROLES_DIR, write_inventory

SHAPES = Path(__file__).parent / "shapes"
BIN = Path(sys.executable).parent


def ansible_value(inventory: Path, host: str, key: str, env: dict[str, str]) -> object:
    """The value Ansible uses for `key` on `host` (ad-hoc debug, templated)."""
    tree = Path(os.environ.get("TMPDIR", "/tmp")) / f"ansible-debug-{os.getpid()}-{host}"
    subprocess.run(
        [BIN / "ansible", host, "-i", inventory, "-m", "debug", "-a", f"var={key}", "-t", tree],
        cwd=REPO, env={**os.environ, **env}, check=True, capture_output=True,
    )  # fmt: skip
    return json.loads((tree / host).read_text())[key]


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"}
    return subprocess.run([BIN / "invoke", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_vars_directory_beside_a_vars_file_is_read_alone_as_ansible_does() -> None:
    inventory = SHAPES / "vars-directory-and-file" / "inventory"
    host = load_inventory(inventory, ROLES_DIR).hosts["web1"]
    assert host.vars["queue_worker_php"] == ansible_value(inventory, "web1", "queue_worker_php", {})
    assert host.vars["queue_worker_php"] == "php8.3"
    # group_vars/all.yml is not read: its queue_worker_user does not reach the host.
    assert host.vars["queue_worker_user"] == ""


def test_a_second_source_in_the_inventory_directory_is_read(tmp_path: Path) -> None:
    inventory = SHAPES / "two-sources" / "inventory"
    result = invoke("render", "-i", str(inventory), "--all", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    # web2 is declared in extra.ini, beside hosts.yml.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web1", "web2"]


def test_extensionless_and_json_vars_files_are_read_and_linted() -> None:
    inventory = SHAPES / "extensionless-and-json" / "inventory"
    result = invoke("lint", "-i", str(inventory))
    # retry_after 45 s (host_vars/api1.json) below the 60 s timeout (group_vars/workers).
    assert result.returncode == 1, result.stdout + result.stderr
    assert "QO101" in result.stdout
    assert "host_vars/api1.json" in result.stdout or "group_vars/workers" in result.stdout


def test_a_become_password_lookup_gives_the_value_not_the_template(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connection = {
        "ansible_user": "ops",
        "ansible_become": True,
        "ansible_become_password": "{{ lookup('env', 'BECOME_PASS') }}",
    }
    inventory = write_inventory(tmp_path, group_vars={"workers": connection})
    env = {"BECOME_PASS": "from-the-environment"}
    monkeypatch.setenv("BECOME_PASS", env["BECOME_PASS"])
    loaded = load_inventory(inventory, ROLES_DIR)
    settings = host_settings(loaded.hosts["web1"], loaded.role_keys)
    # Not the text of the template, which sudo would have been given as the password.
    assert settings.connection.become_password == "from-the-environment"
    expected = ansible_value(inventory, "web1", "ansible_become_password", env)
    assert settings.connection.become_password == expected
