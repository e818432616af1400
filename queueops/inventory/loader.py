"""Inventories, read as Ansible reads them, into the hosts and groups every task works on.

Two readers produce the same result: plain.py reads plain YAML inventories (one hosts file,
group_vars/ and host_vars/, no template, no vault) without importing ansible-core, and
ansible_core.py has ansible-core read everything else (INI, several sources, host ranges,
vault, Jinja and lookups, inventory scripts and plugins). Either way queueops' role defaults
are the lowest layer, and then queueops' own checks apply: a vars file that matches no group
or host, a host name that is not a plain name.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueops.errors import InventoryError, UsageError
from queueops.inventory import secrets
from queueops.inventory.plain import read_plain, unfrack
from queueops.inventory.read import HandOff, Read
from queueops.inventory.vault import NO_VAULT, Vault
from queueops.inventory.yamlfile import read_yaml
from queueops.shell import is_safe_name

ENV_VAR = "QUEUEOPS_INVENTORY"
# The top-level variable of a key path such as `queue_worker_programs[1].processes`.
_TOP_KEY = re.compile(r"[^.\[]+")
# How Ansible names a group's or host's vars file beside the name itself.
_VARS_SUFFIXES = (".yml", ".yaml", ".json")

Layer = tuple[Mapping[str, Any], Path]


@dataclass(frozen=True)
class Host:
    name: str
    # Every group the host belongs to, ancestors and `all` included, in merge order.
    groups: tuple[str, ...]
    vars: dict[str, Any]
    # Which file each merged variable came from.
    origins: dict[str, Path]
    # The inventory source that declares the host; blamed for variables that are missing.
    source: Path
    # Every group of the inventory → its members, as Ansible's `groups` variable has them.
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Variables other variables' templates use (`app_root` in "{{ app_root }}/current"):
    # helpers of the inventory, not typos.
    helpers: frozenset[str] = frozenset()

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
    # The first inventory source, for messages.
    path: Path
    # In Ansible's inventory order: the order hosts were first declared.
    hosts: dict[str, Host]
    # Group → member host names (members of child groups included), in inventory order.
    groups: dict[str, tuple[str, ...]]
    # Every variable some role declares in its defaults/main.yml.
    role_keys: frozenset[str]
    # Group → its child groups, and the hosts listed in it directly (ansible-inventory's view).
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    direct: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Every source, as given.
    sources: tuple[Path, ...] = ()

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


def resolve_sources(
    option: str | Sequence[str] | None, config_default: str | Sequence[str] | None
) -> list[str]:
    """-i/--inventory (repeatable) wins, then $QUEUEOPS_INVENTORY, then invoke.yaml's default
    (one source or a list)."""
    for value in (option, os.environ.get(ENV_VAR), config_default):
        given = [value] if isinstance(value, str) else list(value or [])
        if [v for v in given if v]:
            return [v for v in given if v]
    raise UsageError(
        "no inventory given: pass -i/--inventory PATH, set "
        f"{ENV_VAR}=PATH, or set `inventory: PATH` in queueops.yaml in the working directory "
        "(in a checkout: queueops.inventory in its invoke.yaml)"
    )


def resolve_inventory_path(
    option: str | Sequence[str] | None, config_default: str | Sequence[str] | None
) -> Path:
    """The first inventory source (the directory operator checks live beside)."""
    return Path(resolve_sources(option, config_default)[0])


def load_role_defaults(roles_dir: Path) -> list[Layer]:
    """Every role's defaults/main.yml; each key must carry its role's prefix."""
    if not roles_dir.is_dir():
        raise InventoryError(f"{roles_dir}: roles directory not found")
    layers: list[Layer] = []
    for path in sorted(roles_dir.glob("*/defaults/main.yml")):
        role = path.parent.parent.name
        values = read_yaml(path)
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise InventoryError(f"{path}: the file must be a mapping of variables")
        for key in values:
            # The prefix keeps roles from overriding each other's defaults.
            if not isinstance(key, str) or not key.startswith(f"{role}_"):
                raise InventoryError(f"{path}: {key}: role defaults must start with {role}_")
        layers.append((values, path))
    return layers


def _check_vars_dirs(base: Path, groups: Iterable[str], hosts: Iterable[str]) -> None:
    """A group_vars/host_vars entry that no group or host would read is almost always a typo."""
    for kind, sub, known in (
        ("group", "group_vars", set(groups)),
        ("host", "host_vars", set(hosts)),
    ):
        directory = base / sub
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            name = entry.name
            if name.startswith(".") or name.endswith("~"):
                continue
            stem, suffix = os.path.splitext(name)
            if entry.is_file() and suffix in _VARS_SUFFIXES:
                names = {name, stem}
            elif not suffix:
                names = {name}
            else:
                continue  # a file Ansible never reads as variables (README.md)
            if not names & known:
                raise InventoryError(
                    f"{entry}: no {kind} named {stem!r} in the inventory{did_you_mean(stem, known)}"
                )


def _read(sources: list[str], defaults: list[Layer], vault: Vault) -> Read:
    for source in sources:
        if "," not in source and not os.path.exists(unfrack(source)):
            raise InventoryError(f"{source}: inventory not found")
    try:
        return read_plain(sources, defaults)
    except HandOff:
        # ansible-core costs ~0.2 s to import: only inventories that need it pay for it.
        from queueops.inventory.ansible_core import read_with_ansible

        return read_with_ansible(sources, [path for _, path in defaults], vault)


def load_inventory(
    path: Path | str | Sequence[Path | str], roles_dir: Path, vault: Vault = NO_VAULT
) -> Inventory:
    """Read the inventory sources as Ansible does, over the role defaults, and check them."""
    given = [path] if isinstance(path, Path | str) else list(path)
    sources = [str(s) for s in given]
    defaults = load_role_defaults(roles_dir)
    read = _read(sources, defaults, vault)
    for base in read.basedirs:
        _check_vars_dirs(base, read.children, (h.name for h in read.hosts))
    groups = {name: tuple(h.name for h in read.hosts if name in h.groups) for name in read.children}
    hosts: dict[str, Host] = {}
    for found in read.hosts:
        if not is_plain_name(found.name):
            raise InventoryError(
                f"{found.source}: host {found.name!r}: host names may only use letters, "
                "digits and ._:- and cannot start with -"
            )
        secrets.remember(found.secrets)
        hosts[found.name] = Host(
            found.name, found.groups, found.vars, found.origins, found.source, groups, found.helpers
        )
    return Inventory(
        path=Path(sources[0]),
        hosts=hosts,
        groups=groups,
        role_keys=frozenset(key for values, _ in defaults for key in values),
        children=read.children,
        direct=read.direct,
        sources=tuple(Path(s) for s in sources),
    )
