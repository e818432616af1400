"""The plain reader is ansible-core's reading of every inventory it accepts, and hands the others
to ansible-core: proof that queueops may skip importing Ansible for plain inventories.

Both readers run on the same inventories: the corpus of shapes/, and a few hundred inventories
generated at random from everything a plain YAML inventory may hold (nested and repeated
groups, hosts in several groups, sections in any order, every layout of group_vars/ and
host_vars/, JSON and extensionless files, `{{ inventory_dir }}`). Where the plain reader
accepts an inventory, hosts, groups, merge order, values, origins and sources must be equal.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.inventory.ansible_core import read_with_ansible
from queueops.inventory.loader import Layer, load_role_defaults
from queueops.inventory.plain import read_plain
from queueops.inventory.read import HandOff, Read
from queueops.inventory.vault import NO_VAULT

from ..trees import ROLES_DIR
from .test_ansible_shapes import SHAPES

# The shapes the plain reader reads itself; it hands every other one to ansible-core.
PLAIN_SHAPES = {"plain", "vars-directory", "vars-directory-and-file", "extensionless-and-json"}


@pytest.fixture(scope="module")
def defaults() -> list[Layer]:
    return load_role_defaults(ROLES_DIR)


def ansible(sources: list[str], defaults: list[Layer]) -> Read:
    return read_with_ansible(sources, [path for _, path in defaults], NO_VAULT)


@pytest.mark.parametrize("folder", sorted(SHAPES.iterdir()), ids=lambda p: p.name)
def test_shapes_are_read_plainly_exactly_when_plain(folder: Path, defaults: list[Layer]) -> None:
    spec = yaml.safe_load((folder / "case.yml").read_text())
    sources = [str(folder / "inventory" / s) for s in spec.get("sources", ["."])]
    if folder.name not in PLAIN_SHAPES:
        with pytest.raises(HandOff):
            read_plain(sources, defaults)
        return
    assert read_plain(sources, defaults) == ansible(sources, defaults)


class Generator:
    """Random plain inventories: small name pools, so that groups, hosts and variables
    collide and override each other as often as possible."""

    GROUPS = ("web", "workers", "sync", "redis", "eu", "us", "canary")
    HOSTS = ("api1", "api2", "sync1", "redis1", "db-1", "w.example.net", "10.0.0.7")
    VARIABLES = ("alpha", "beta", "gamma", "delta", "queue_worker_php", "ansible_port")

    def __init__(self, seed: int, root: Path) -> None:
        self.random = random.Random(seed)
        self.root = root

    def value(self, depth: int = 0) -> Any:
        kind = self.random.choice(
            ["int", "str", "bool", "none", "float", "list", "dict", "dir"]
            if depth < 2
            else ["int", "str", "bool", "dir"]
        )
        if kind == "int":
            return self.random.randint(-5, 500)
        if kind == "str":
            return self.random.choice(["x", "yes", "010", "1e3", "", "a b", "é", "~", "null "])
        if kind == "bool":
            return self.random.random() < 0.5
        if kind == "float":
            return self.random.choice([1.5, -0.25, 1e21])
        if kind == "list":
            return [self.value(depth + 1) for _ in range(self.random.randint(0, 3))]
        if kind == "dict":
            return {v: self.value(depth + 1) for v in self.pick(self.VARIABLES, 3)}
        if kind == "dir":
            return "{{ inventory_dir }}/" + self.random.choice(["keys/id", "..", ""])
        return None

    def pick(self, pool: tuple[str, ...], most: int) -> list[str]:
        return self.random.sample(pool, self.random.randint(0, min(most, len(pool))))

    def variables(self) -> dict[str, Any]:
        return {name: self.value() for name in self.pick(self.VARIABLES, 4)}

    def group(self, name: str, depth: int) -> dict[str, Any] | None:
        if self.random.random() < 0.15:
            return None
        sections: dict[str, Any] = {}
        if self.random.random() < 0.6:
            sections["hosts"] = {
                h: self.variables() if self.random.random() < 0.5 else None
                for h in self.pick(self.HOSTS, 3)
            }
        if self.random.random() < 0.5:
            sections["vars"] = self.variables()
        # Children come later in GROUPS: groups may repeat under several parents, never loop
        # (Ansible refuses a loop; the plain reader hands it over).
        below = self.GROUPS[self.GROUPS.index(name) + 1 :] if name in self.GROUPS else self.GROUPS
        if depth < 3 and below and self.random.random() < 0.6:
            sections["children"] = {g: self.group(g, depth + 1) for g in self.pick(below, 2)}
        keys = list(sections)
        self.random.shuffle(keys)
        return {k: sections[k] for k in keys}

    def write(self, path: Path, data: dict[str, Any], form: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if form == "json":
            path.write_text(json.dumps(data), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def vars_files(self, base: Path, names: tuple[str, ...]) -> None:
        for name in self.pick(names, 4):
            # NAME is either a file or a directory.
            bare = self.random.choice(["", "/"])
            for shape in self.random.sample([bare, ".yml", ".yaml", ".json"], 2):
                if shape == "/":
                    for sub in self.pick(("10.yml", "20", "a/x.yaml", "a-b.json", "z.md"), 4):
                        form = "json" if sub.endswith(".json") else "yaml"
                        self.write(base / name / sub, self.variables(), form)
                else:
                    self.write(
                        base / f"{name}{shape}", self.variables(), shape.strip(".") or "yaml"
                    )

    def inventory(self) -> Path:
        top: dict[str, Any] = {
            "all": {"children": {g: self.group(g, 1) for g in self.pick(self.GROUPS, 3)}}
        }
        if self.random.random() < 0.5:
            top["all"]["vars"] = self.variables()
        if self.random.random() < 0.4:
            top["all"]["hosts"] = {h: None for h in self.pick(self.HOSTS, 2)}
        for group in self.pick(self.GROUPS, 2):
            top.setdefault(group, self.group(group, 1))
        self.write(self.root / "hosts.yml", top, "yaml")
        self.vars_files(self.root / "group_vars", ("all", *self.GROUPS))
        self.vars_files(self.root / "host_vars", self.HOSTS)
        return self.root


def test_random_plain_inventories_read_the_same_in_both(
    tmp_path: Path, defaults: list[Layer]
) -> None:
    accepted = 0
    for seed in range(150):
        root = Generator(seed, tmp_path / str(seed)).inventory()
        try:
            plain = read_plain([str(root)], defaults)
        except HandOff:
            continue
        accepted += 1
        assert plain == ansible([str(root)], defaults), f"seed {seed}: {root}"
    # Most generated inventories are plain ones: the comparison covers what it claims to.
    assert accepted >= 140
