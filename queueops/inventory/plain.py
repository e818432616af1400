"""The plain reader: a YAML inventory read the way ansible-core reads it, without ansible-core.

Importing ansible-core's inventory, variables and templating costs ~0.2 s of CPU, a quarter of
a 20-host no-op. Most inventories need none of it: one YAML hosts file, group_vars/ and
host_vars/ files, no templates, no vault. This module reads exactly those, the way ansible-core
2.19 does (its yaml inventory plugin, InventoryData, the host_group_vars vars plugin and
VariableManager's default precedence), and raises HandOff for anything else, to be read by
ansible-core itself (ansible_core.py). It never refuses an inventory: any detail it does not
reproduce exactly (a setting, a host range, a template, a tag, a duplicate key, a warning
Ansible would print) hands the whole inventory over. tests/unit/inventory/test_parity.py
compares both readers on every inventory this one accepts.

Precedence, lowest first (VariableManager.get_vars, VARIABLE_PRECEDENCE's default):

1. queueops' role defaults (`roles/*/defaults/main.yml`; Ansible's lowest layer in a play)
2. the inline `vars:` of `all`, then of every other group of the host
3. group_vars files of `all`, then of every other group of the host
4. the host's inline variables, then its host_vars files

Other groups go by depth (longest path from `all`), then by name. Values replace each other
whole (hash_behaviour=replace).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from queueops.inventory.ansible_settings import check_neutral
from queueops.inventory.read import OPERATOR_CHECKS, HandOff, Read, ReadHost
from queueops.inventory.yamlfile import StrictLoader, read_text

Layer = tuple[Mapping[str, Any], Path]

# Files of an inventory directory Ansible never takes for a source (IGNORED_ALWAYS and the
# default INVENTORY_IGNORE_EXTS of ansible.inventory.manager).
_IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig",
                 ".cfg", ".retry")  # fmt: skip
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    + "|".join(re.escape(ext) + "$" for ext in _IGNORED_EXTS)
)
_HOSTS_SUFFIXES = (".yml", ".yaml")
# What find_vars_files tries for an entity NAME, in order; the first that exists is the only
# one read.
_VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
# A group name Ansible takes without a warning about invalid characters.
_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A host name Ansible takes as it is: no port, no range, nothing parse_address would change.
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_LOCALHOST = ("localhost", "127.0.0.1", "::1")
# The one template the plain reader renders: Ansible replaces it by the host's inventory_dir.
INVENTORY_DIR = "{{ inventory_dir }}"
_TEMPLATE_MARKS = ("{{", "{%", "{#")
# Names Ansible warns about (validate_variable_name): not identifiers, or Jinja's constants.
_JINJA_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "not"})
_PLAIN_TYPES = (str, int, float, bool, type(None))
# Variables queueops never shows, whatever their value.
SECRET_KEYS = frozenset(
    {
        "ansible_become_password",
        "ansible_become_pass",
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
        "redis_queue_password",
    }
)


class _PlainLoader(StrictLoader):
    """Ansible warns where a merge key overrides a value (it counts a duplicate key)."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "a merge key", key_node.start_mark
                )
        super().flatten_mapping(node)


def unfrack(source: str) -> str:
    """The source as Ansible's InventoryManager takes it (unfrackpath(source, follow=False))."""
    path = os.path.expanduser(os.path.expandvars(source))
    return os.path.normpath(os.path.join(os.getcwd(), path))


def _load(path: str) -> Any:
    """A file as Ansible's DataLoader loads it: JSON first, then YAML; HandOff where Ansible
    would see something the plain reader does not read (vault, tags, duplicates, errors)."""
    text = read_text(Path(path))
    if text.startswith("$ANSIBLE_VAULT"):
        raise HandOff(f"{path} is encrypted with Ansible Vault")
    if text.lstrip().startswith("{"):
        import json

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [key for key, _ in items]
            if len(set(keys)) != len(keys) or any(k.startswith("__ansible_") for k in keys):
                raise HandOff(f"{path}: duplicate or Ansible-specific keys")
            return dict(items)

        try:
            return json.loads(text, object_pairs_hook=pairs)
        except ValueError:
            pass
    try:
        return yaml.load(text, Loader=_PlainLoader)
    except yaml.YAMLError as exc:
        raise HandOff(f"{path}: {exc}") from None


def _plain(value: Any, where: str) -> None:
    """HandOff for a value Ansible would not take as it is: a template, a type of its own."""
    if isinstance(value, str):
        rest = value.replace(INVENTORY_DIR, "")
        if any(mark in rest for mark in _TEMPLATE_MARKS) or value.startswith("#jinja2:"):
            raise HandOff(f"{where}: a template")
        if INVENTORY_DIR in value and value.endswith("\n"):
            raise HandOff(f"{where}: a template ending in a newline")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or any(mark in key for mark in _TEMPLATE_MARKS):
                raise HandOff(f"{where}: key {key!r}")
            _plain(item, where)
    elif isinstance(value, list):
        for item in value:
            _plain(item, where)
    elif not isinstance(value, _PLAIN_TYPES):
        raise HandOff(f"{where}: a {type(value).__name__}")


def _variables(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise HandOff(f"{where}: not a mapping")
    for key in data:
        if (
            not isinstance(key, str)
            or not (key.isidentifier() and key.isascii())
            or (key in _JINJA_NAMES or key == "ansible_group_priority")
        ):
            raise HandOff(f"{where}: variable {key!r}")
    _plain(data, where)
    return data


@dataclass
class _Group:
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


class _YamlInventory:
    """The yaml inventory plugin's walk over one hosts file, into InventoryData's model."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group(), "ungrouped": _Group(parents=["all"])}
        self.groups["all"].children.append("ungrouped")
        # Host → inline variables; declaration order is the inventory's host order.
        self.hosts: dict[str, dict[str, Any]] = {}
        # Host → the groups that list it, in the order they do.
        self.listed_in: dict[str, list[str]] = {}

    def parse(self) -> None:
        data = _load(self.path)
        if not isinstance(data, dict) or not data or "plugin" in data:
            raise HandOff(f"{self.path}: not a YAML inventory of groups")
        for name, body in data.items():
            self._group(name, body, ())

    def _group(self, name: object, body: object, trail: tuple[str, ...]) -> str:
        if not isinstance(name, str) or not _GROUP.fullmatch(name) or name == "ungrouped":
            raise HandOff(f"{self.path}: group name {name!r}")
        if name in trail or (name == "all" and trail):
            raise HandOff(f"{self.path}: group {name} within itself")
        group = self.groups.setdefault(name, _Group())
        if body is None:
            return name
        if not isinstance(body, dict):
            raise HandOff(f"{self.path}: group {name} is not a mapping")
        # Ansible walks the sections in the order the file gives them.
        for section, value in body.items():
            if section not in ("vars", "children", "hosts") or not isinstance(value, dict | None):
                raise HandOff(f"{self.path}: group {name}: {section!r}")
            if not value:
                continue
            if section == "vars":
                group.vars.update(_variables(value, f"{self.path}: group {name}"))
            elif section == "children":
                for child, child_body in value.items():
                    self._add_child(name, self._group(child, child_body, (*trail, name)))
            else:
                for host, host_vars in value.items():
                    self._host(name, host, host_vars)
        return name

    def _add_child(self, parent: str, child: str) -> None:
        if child == parent or child in self.ancestors(parent):
            raise HandOff(f"{self.path}: groups {parent} and {child} hold each other")
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
        if parent not in self.groups[child].parents:
            self.groups[child].parents.append(parent)

    def _host(self, group: str, name: object, body: object) -> None:
        if not isinstance(name, str) or not _HOST.fullmatch(name) or name in _LOCALHOST:
            raise HandOff(f"{self.path}: host name {name!r}")
        if body and not isinstance(body, dict):
            raise HandOff(f"{self.path}: host {name} is not a mapping")
        inline = self.hosts.setdefault(name, {})
        listed = self.listed_in.setdefault(name, [])
        if group not in listed:
            listed.append(group)
            self.groups[group].hosts.append(name)
        if body:
            inline.update(_variables(body, f"{self.path}: host {name}"))

    def reconcile(self) -> None:
        """InventoryData.reconcile_inventory: top groups under `all`, lone hosts ungrouped."""
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                self._add_child("all", name)
        for host, listed in self.listed_in.items():
            if listed == ["all"]:
                listed.append("ungrouped")
                self.groups["ungrouped"].hosts.append(host)
        if not self.groups.keys().isdisjoint(self.hosts):
            raise HandOff(f"{self.path}: a name is both a group and a host")

    def depths(self) -> dict[str, int]:
        depths: dict[str, int] = {"all": 0}

        def depth(name: str) -> int:
            if name not in depths:
                depths[name] = 1 + max(depth(p) for p in self.groups[name].parents)
            return depths[name]

        for name in self.groups:
            depth(name)
        return depths

    def ancestors(self, name: str) -> set[str]:
        found = {name}
        for parent in self.groups[name].parents:
            found |= self.ancestors(parent)
        return found


def _dir_files(directory: str) -> list[str]:
    """DataLoader._get_dir_vars_files: sorted, depth first, hidden and backups skipped."""
    found = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = os.path.join(directory, name)
        ext = os.path.splitext(name)[1]
        if os.path.isdir(path) and not ext:
            found += _dir_files(path)
        elif os.path.isfile(path) and ext in _VARS_EXTENSIONS:
            found.append(path)
    return found


def vars_files(base: str, name: str) -> list[str]:
    """DataLoader.find_vars_files: the first of NAME, NAME.yml, NAME.yaml, NAME.json that exists."""
    stem = os.path.join(base, name)
    for ext in _VARS_EXTENSIONS:
        path = stem + ext
        if os.path.exists(path):
            return _dir_files(path) if os.path.isdir(path) else [path]
    return []


def _entity_layers(base: str, name: str) -> list[Layer]:
    """host_group_vars' variables of one group or host: each file that holds some."""
    if not os.path.isdir(base):
        if os.path.exists(base):
            raise HandOff(f"{base} is not a directory")
        return []
    layers: list[Layer] = []
    for path in vars_files(base, name):
        data = _load(path)
        if data is None:
            continue
        layers.append((_variables(data, path), Path(path)))
    return layers


def _render(value: Any, inventory_dir: str) -> Any:
    """`{{ inventory_dir }}` replaced, as Ansible's templating replaces it (the only template
    _plain lets through)."""
    if isinstance(value, str):
        return value.replace(INVENTORY_DIR, inventory_dir) if INVENTORY_DIR in value else value
    if isinstance(value, dict):
        return {k: _render(v, inventory_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, inventory_dir) for v in value]
    return value


def secret_values(values: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(v for k, v in values.items() if k in SECRET_KEYS and isinstance(v, str) and v)


def read_plain(sources: Sequence[str], defaults: Sequence[Layer]) -> Read:
    """The inventory as ansible-core reads it, or HandOff when it is not a plain one."""
    if len(sources) != 1:
        raise HandOff("several sources")
    check_neutral()
    for values, path in defaults:
        _plain(values, str(path))
    source = unfrack(sources[0])
    if os.path.isdir(source):
        entries = [
            name
            for name in sorted(os.listdir(source))
            if not _IGNORED.search(name) and name != OPERATOR_CHECKS
        ]
        if len(entries) != 1:
            raise HandOff(f"{source} holds {len(entries)} inventory sources")
        hosts_file = os.path.join(source, entries[0])
        base = source
    else:
        hosts_file, base = source, os.path.dirname(source)
    if not os.path.isfile(hosts_file) or not hosts_file.endswith(_HOSTS_SUFFIXES):
        raise HandOff(f"{hosts_file} is not a YAML file")
    if os.access(hosts_file, os.X_OK):
        raise HandOff(f"{hosts_file} is executable: Ansible runs it as an inventory script")
    inventory = _YamlInventory(hosts_file)
    inventory.parse()
    inventory.reconcile()
    depths = inventory.depths()
    # host_group_vars reads group_vars/ and host_vars/ beside the source, symlinks resolved.
    vars_base = os.path.realpath(base)
    group_layers = {
        name: _entity_layers(os.path.join(vars_base, "group_vars"), name)
        for name in inventory.groups
    }
    inventory_dir = os.path.dirname(hosts_file)
    source_path = Path(hosts_file)
    hosts = []
    for name, inline in inventory.hosts.items():
        mine = set().union(*(inventory.ancestors(g) for g in inventory.listed_in[name]))
        others = sorted(mine - {"all"}, key=lambda g: (depths[g], g))
        ordered = ("all", *others)
        layers = [
            *defaults,
            *((inventory.groups[g].vars, source_path) for g in ordered),
            *(layer for g in ordered for layer in group_layers[g]),
            (inline, source_path),
            *_entity_layers(os.path.join(vars_base, "host_vars"), name),
        ]
        merged: dict[str, Any] = {}
        origins: dict[str, Path] = {}
        for values, path in layers:
            merged.update(values)
            origins.update(dict.fromkeys(values, path))
        merged = {key: _render(value, inventory_dir) for key, value in merged.items()}
        hosts.append(
            ReadHost(name, ordered, merged, origins, source_path, secrets=secret_values(merged))
        )
    return Read(
        hosts=tuple(hosts),
        children={n: tuple(g.children) for n, g in inventory.groups.items()},
        direct={n: tuple(g.hosts) for n, g in inventory.groups.items()},
        basedirs=(Path(vars_base),),
    )
