"""Every inventory shape of shapes/ reads the same in queueops and in Ansible.

Each case is a folder: `inventory/` (the sources), `case.yml` (the sources to pass, when not
the folder itself; the environment; a vault password file; the variables of files encrypted
whole, which queueops masks). For each, the real commands run
side by side from the repository root: `ansible-inventory --list` gives the groups and which
variables each host has, `ansible -m debug -a var=hostvars[inventory_hostname]` their values
once Ansible has templated them, and `invoke inventory --list` what queueops read. Groups,
hosts, variables and values must be equal; queueops only masks its secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from queueops.inventory.loader import load_inventory
from queueops.inventory.plain import SECRET_KEYS
from queueops.inventory.secrets import MASK
from queueops.inventory.yamlfile import read_yaml

from ..trees import REPO, ROLES_DIR

SHAPES = Path(__file__).parent / "shapes"
BIN = Path(sys.executable).parent


def cases() -> list[Any]:
    return [pytest.param(path, id=path.name) for path in sorted(SHAPES.iterdir())]


class Case:
    def __init__(self, folder: Path) -> None:
        spec = read_yaml(folder / "case.yml")
        self.folder = folder
        inventory = folder / "inventory"
        self.sources = [str(inventory / s) for s in spec.get("sources", ["."])]
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"},
            **{k: str(v).format(case=folder) for k, v in spec.get("env", {}).items()},
        }
        self.encrypted = set(spec.get("encrypted", []))
        vault = spec.get("vault_password_file")
        self.vault = ["--vault-password-file", str(folder / vault)] if vault else []

    def run(self, *argv: str) -> str:
        result = subprocess.run(
            argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def inventory_args(self) -> list[str]:
        return [arg for source in self.sources for arg in ("-i", source)] + self.vault

    def ansible_inventory(self) -> dict[str, Any]:
        out = self.run(str(BIN / "ansible-inventory"), *self.inventory_args(), "--list")
        doc: dict[str, Any] = json.loads(out)
        doc["_meta"].pop("profile", None)
        return doc

    def ansible_templated(self, tmp: Path) -> dict[str, dict[str, Any]]:
        """Every host's variables as Ansible templates them (ad-hoc debug, one file a host)."""
        tree = tmp / "tree"
        self.run(str(BIN / "ansible"), "all", *self.inventory_args(), "-m", "debug",
                 "-a", "var=hostvars[inventory_hostname]", "-t", str(tree))  # fmt: skip
        return {
            path.name: json.loads(path.read_text())["hostvars[inventory_hostname]"]
            for path in tree.iterdir()
        }

    def queueops(self) -> dict[str, Any]:
        out = self.run(str(BIN / "invoke"), "inventory", "--list", *self.inventory_args())
        doc: dict[str, Any] = json.loads(out)
        return doc


def test_the_corpus_holds_every_shape_of_the_issue() -> None:
    names = {path.name for path in SHAPES.iterdir()}
    assert {
        "ini",
        "vars-directory",
        "vars-directory-and-file",
        "vault",
        "host-ranges",
        "two-sources",
        "extensionless-and-json",
        "templates",
        "lookups",
        "script",
        "constructed",
        "several-sources",
        "collection-plugin",
    } <= names


@pytest.mark.parametrize("folder", cases())
def test_queueops_reads_what_ansible_reads(folder: Path, tmp_path: Path) -> None:
    case = Case(folder)
    ansible = case.ansible_inventory()
    templated = case.ansible_templated(tmp_path)
    ours = case.queueops()

    settings = ours["_meta"].pop("queueops")
    # Every host validates: each shape is an inventory queueops can run with.
    assert {name: s.get("error") for name, s in settings.items()} == dict.fromkeys(settings)
    hostvars, theirs = ours.pop("_meta")["hostvars"], ansible.pop("_meta")["hostvars"]
    # The same groups, children and hosts, in the same order.
    assert ours == ansible
    assert sorted(settings) == sorted(templated)
    assert hostvars.keys() == theirs.keys()
    for host, variables in theirs.items():
        assert hostvars[host].keys() == variables.keys(), host
        for key in variables:
            expected = templated[host][key]
            if hostvars[host][key] == MASK:
                # A secret: a password variable, or a value that came out of vault.
                assert isinstance(expected, str) and expected, (host, key)
                vaulted = "__ansible_vault" in json.dumps(variables[key]) or key in case.encrypted
                assert key in SECRET_KEYS or vaulted, key
            else:
                assert hostvars[host][key] == expected, (host, key)


@pytest.mark.parametrize("name", ["plain", "ini", "host-ranges", "constructed"])
def test_group_members_are_ansibles_groups_variable(name: str, tmp_path: Path) -> None:
    case = Case(SHAPES / name)
    tree = tmp_path / "tree"
    case.run(str(BIN / "ansible"), "all", *case.inventory_args(), "-m", "debug",
             "-a", "var=groups", "-t", str(tree))  # fmt: skip
    inventory = load_inventory(case.sources, ROLES_DIR)
    for path in tree.iterdir():
        groups: dict[str, list[str]] = json.loads(path.read_text())["groups"]
        members = inventory.hosts[path.name].group_members
        # As sets: Ansible lists a group's hosts in an order of its own (descendants first).
        assert {g: sorted(h) for g, h in groups.items()} == {
            g: sorted(h) for g, h in members.items()
        }
