"""Ansible-style YAML inventories: hosts.yml, group_vars/, host_vars/ and role defaults.

Variables merge in Ansible's documented order, which is also what its default
VARIABLE_PRECEDENCE does; lowest first:

1. role defaults (`roles/*/defaults/main.yml`)
2. inline group `vars:` in hosts.yml, for every group of the host
3. group_vars files, for every group of the host
4. inline host vars in hosts.yml
5. host_vars files

Inside layers 2 and 3, groups go by depth (longest path from `all`), then by name, so
`all` < parent < child and siblings merge alphabetically. A consequence Ansible users
sometimes miss: `group_vars/all.yml` overrides a child group's inline `vars:`.
Values replace each other whole (hash_behaviour=replace); nothing is deep-merged.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.constructor import ConstructorError

from queueops.errors import InventoryError, UsageError
from queueops.shell import is_safe_name

ENV_VAR = "QUEUEOPS_INVENTORY"

HOSTS_FILES = ("hosts.yml", "hosts.yaml")
VARS_SUFFIXES = (".yml", ".yaml")
_GROUP_KEYS = ("children", "hosts", "vars")
# The top-level variable of a key path such as `queue_worker_programs[1].processes`.
_TOP_KEY = re.compile(r"[^.\[]+")

Layer = tuple[Mapping[str, Any], Path]


@dataclass(frozen=True)
class Host:
    name: str
    # Every group the host belongs to, ancestors and `all` included, in merge order.
    groups: tuple[str, ...]
    vars: dict[str, Any]
    # Which file each merged variable came from.
    origins: dict[str, Path]
    # The hosts file that declares the host; blamed for variables that are missing.
    source: Path
    # Every group of the inventory → its members, as Ansible's `groups` variable has them.
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def error(self, key_path: str, reason: str) -> InventoryError:
        """An InventoryError naming the file that set the variable, the host and the key."""
        match = _TOP_KEY.match(key_path)
        top = match.group(0) if match else key_path
        where = self.origins.get(top, self.source)
        return InventoryError(
            f"{where}: host {self.name}: {key_path}: {reason}",
            str(where),
            self.name,
            key_path,
            reason,
        )


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: dict[str, Host]
    # Group → member host names (members of child groups included), in hosts.yml order.
    groups: dict[str, tuple[str, ...]]
    # Every variable some role declares in its defaults/main.yml.
    role_keys: frozenset[str]

    def select(self, host: str | None, group: str | None, all_hosts: bool) -> list[Host]:
        chosen = [name for name, given in (("--host", host), ("--group", group)) if given]
        if all_hosts:
            chosen.append("--all")
        if len(chosen) != 1:
            got = ", ".join(chosen) if chosen else "none"
            raise UsageError(f"choose exactly one of --host, --group or --all (got {got})")
        if host:
            if host not in self.hosts:
                raise self._unknown("host", host, self.hosts)
            return [self.hosts[host]]
        if group:
            if group not in self.groups:
                raise self._unknown("group", group, self.groups)
            members = self.groups[group]
        else:
            members = tuple(self.hosts)
        if not members:
            raise InventoryError(f"{self.path}: {group or 'the inventory'} has no hosts")
        return [self.hosts[name] for name in members]

    def _unknown(self, kind: str, name: str, known: Iterable[str]) -> InventoryError:
        names = sorted(known)
        return InventoryError(
            f"{self.path}: no {kind} {name!r}{did_you_mean(name, names)}; "
            f"known {kind}s: {', '.join(names) or '(none)'}"
        )


def is_plain_name(value: str) -> bool:
    """A safe name that also cannot pass for an option of ssh, artisan or supervisorctl."""
    return is_safe_name(value) and not value.startswith("-")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_inventory_path(option: str | None, config_default: str | None) -> Path:
    """-i/--inventory wins, then $QUEUEOPS_INVENTORY, then the default from invoke.yaml."""
    for value in (option, os.environ.get(ENV_VAR), config_default):
        if value:
            return Path(value)
    raise UsageError(
        "no inventory given: pass -i/--inventory PATH, set "
        f"{ENV_VAR}=PATH, or set `inventory: PATH` in queueops.yaml in the working directory "
        "(in a checkout: queueops.inventory in its invoke.yaml)"
    )


# libyaml's parser where PyYAML was built with it (its wheels are): a fleet's inventory parses
# ~5x faster than with the pure-Python one, which is most of a run's start-up after imports.
if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML would silently let the last win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                raise ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; errors name the file and, where YAML knows it, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise InventoryError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: invalid YAML: {exc}") from None


def _read_vars(path: Path) -> dict[str, Any]:
    """A variables file: a mapping of string keys; an empty file has no variables."""
    data = read_yaml(path)
    if data is None:
        return {}
    return _vars_mapping(data, path, "the file")


def _vars_mapping(data: object, path: Path, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: {what} must be a mapping of variables")
    for key in data:
        if not isinstance(key, str):
            raise InventoryError(f"{path}: {what}: variable names must be strings, got {key!r}")
    return data


def load_role_defaults(roles_dir: Path) -> list[Layer]:
    """Every role's defaults/main.yml; each key must carry its role's prefix."""
    if not roles_dir.is_dir():
        raise InventoryError(f"{roles_dir}: roles directory not found")
    layers: list[Layer] = []
    for path in sorted(roles_dir.glob("*/defaults/main.yml")):
        role = path.parent.parent.name
        values = _read_vars(path)
        for key in values:
            # The prefix keeps roles from overriding each other's defaults.
            if not key.startswith(f"{role}_"):
                raise InventoryError(f"{path}: {key}: role defaults must start with {role}_")
        layers.append((values, path))
    return layers


@dataclass
class _Group:
    parents: set[str] = field(default_factory=set)
    hosts: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


class _HostsFileParser:
    """Walks the all/children/hosts/vars tree of one hosts.yml."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group()}
        # Host → inline vars, in declaration order (which is also the inventory's host order).
        self.hosts: dict[str, dict[str, Any]] = {}

    def parse(self) -> None:
        data = read_yaml(self.path)
        if data is None:
            return
        if not isinstance(data, dict):
            raise InventoryError(f"{self.path}: the top level must be a mapping of groups")
        for name, body in data.items():
            self._group(str(name), body, None if name == "all" else "all")

    def _group(self, name: str, body: object, parent: str | None) -> None:
        where = f"{self.path}: group {name}"
        if not is_safe_name(name):
            raise InventoryError(f"{where}: group names may only use letters, digits and ._:-")
        if name == "all" and parent is not None:
            raise InventoryError(f"{where}: `all` cannot be the child of another group")
        group = self.groups.setdefault(name, _Group())
        if parent is not None:
            group.parents.add(parent)
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError(f"{where}: expected a mapping with {', '.join(_GROUP_KEYS)}")
        for key in body:
            if key not in _GROUP_KEYS:
                raise InventoryError(
                    f"{where}: unexpected key {key!r}{did_you_mean(str(key), _GROUP_KEYS)}"
                )
        if body.get("vars") is not None:
            group.vars.update(_vars_mapping(body["vars"], self.path, f"{where}: vars"))
        for host, host_vars in self._entries(body.get("hosts"), f"{where}: hosts"):
            if not is_plain_name(host):
                raise InventoryError(
                    f"{where}: host {host!r}: host names may only use letters, digits and "
                    "._:- and cannot start with -"
                )
            group.hosts.append(host)
            merged = self.hosts.setdefault(host, {})
            if host_vars is not None:
                merged.update(_vars_mapping(host_vars, self.path, f"{where}: host {host}"))
        for child, child_body in self._entries(body.get("children"), f"{where}: children"):
            self._group(child, child_body, name)

    def _entries(self, value: object, where: str) -> list[tuple[str, object]]:
        if value is None:
            return []
        if not isinstance(value, dict):
            raise InventoryError(f"{where}: expected a mapping of names")
        return [(str(key), body) for key, body in value.items()]


def _depths(groups: Mapping[str, _Group], path: Path) -> dict[str, int]:
    """Longest path from `all` for every group, as Ansible orders groups; refuses cycles."""
    depths: dict[str, int] = {"all": 0}

    def depth(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            cycle = " -> ".join((*trail[trail.index(name) :], name))
            raise InventoryError(f"{path}: group cycle: {cycle}")
        if name not in depths:
            parents = groups[name].parents or {"all"}
            depths[name] = 1 + max(depth(p, (*trail, name)) for p in parents)
        return depths[name]

    for name in groups:
        depth(name, ())
    return depths


def _ancestors(name: str, groups: Mapping[str, _Group]) -> set[str]:
    found = {name}
    for parent in groups[name].parents:
        found |= _ancestors(parent, groups)
    return found


def _vars_files(base: Path, name: str) -> list[Path]:
    """`NAME.yml`, `NAME.yaml`, then the YAML files under `NAME/`, as Ansible reads them."""
    files = [base / f"{name}{suffix}" for suffix in VARS_SUFFIXES]
    found = [f for f in files if f.is_file()]
    directory = base / name
    if directory.is_dir():
        found += sorted(
            f for f in directory.rglob("*") if f.suffix in VARS_SUFFIXES and f.is_file()
        )
    return found


def _check_vars_dir(base: Path, known: Iterable[str], kind: str) -> None:
    """A group_vars/host_vars entry that matches nothing is almost always a typo."""
    if not base.is_dir():
        return
    names = set(known)
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            name = entry.name
        elif entry.suffix in VARS_SUFFIXES:
            name = entry.stem
        else:
            continue
        if name not in names:
            raise InventoryError(
                f"{entry}: no {kind} named {name!r} in the inventory{did_you_mean(name, names)}"
            )


def _merge(layers: Iterable[Layer]) -> tuple[dict[str, Any], dict[str, Path]]:
    merged: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    for values, path in layers:
        for key, value in values.items():
            merged[key] = value
            origins[key] = path
    return merged, origins


def _hosts_file(path: Path) -> tuple[Path, Path]:
    """(inventory directory, hosts file) for a directory or a hosts file path."""
    if path.is_file():
        return path.parent, path
    if path.is_dir():
        for name in HOSTS_FILES:
            if (path / name).is_file():
                return path, path / name
        raise InventoryError(f"{path}: no {' or '.join(HOSTS_FILES)} in this inventory directory")
    raise InventoryError(f"{path}: inventory not found")


def load_inventory(path: Path, roles_dir: Path) -> Inventory:
    """Load and merge an inventory directory (or its hosts file) over the role defaults."""
    base, hosts_file = _hosts_file(path)
    defaults = load_role_defaults(roles_dir)
    parser = _HostsFileParser(hosts_file)
    parser.parse()
    groups = parser.groups
    direct: dict[str, set[str]] = {host: {"all"} for host in parser.hosts}
    for group_name, group in groups.items():
        for host in group.hosts:
            direct[host].add(group_name)
    # Ansible's implicit group for hosts that belong to no group but `all`.
    ungrouped = [host for host, names in direct.items() if names == {"all"}]
    groups.setdefault("ungrouped", _Group(parents={"all"})).hosts.extend(ungrouped)
    for host in ungrouped:
        direct[host].add("ungrouped")
    depths = _depths(groups, hosts_file)
    _check_vars_dir(base / "group_vars", groups, "group")
    _check_vars_dir(base / "host_vars", parser.hosts, "host")
    group_files = {
        name: [(_read_vars(f), f) for f in _vars_files(base / "group_vars", name)]
        for name in groups
    }

    merged_hosts: dict[str, tuple[tuple[str, ...], dict[str, Any], dict[str, Path]]] = {}
    members: dict[str, list[str]] = {name: [] for name in groups}
    for name, inline in parser.hosts.items():
        mine: set[str] = set()
        for group_name in direct[name]:
            mine |= _ancestors(group_name, groups)
        ordered = tuple(sorted(mine, key=lambda g: (depths[g], g)))
        host_files = [(_read_vars(f), f) for f in _vars_files(base / "host_vars", name)]
        merged, origins = _merge(
            [
                *defaults,
                *((groups[g].vars, hosts_file) for g in ordered),
                *(layer for g in ordered for layer in group_files[g]),
                (inline, hosts_file),
                *host_files,
            ]
        )
        merged_hosts[name] = (ordered, merged, origins)
        for group_name in ordered:
            members[group_name].append(name)
    group_members = {name: tuple(names) for name, names in members.items()}
    hosts = {
        name: Host(name, ordered, merged, origins, hosts_file, group_members)
        for name, (ordered, merged, origins) in merged_hosts.items()
    }

    return Inventory(
        path=path,
        hosts=hosts,
        groups=group_members,
        role_keys=frozenset(key for values, _ in defaults for key in values),
    )
