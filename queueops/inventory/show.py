"""The inventory as queueops reads it, as JSON: ansible-inventory's --list and --host, with the
values templated and queueops' validated settings beside them; secrets masked."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from queueops.errors import InventoryError
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host, Inventory
from queueops.inventory.secrets import masked

Settings = Callable[[Host], HostSettings]


def jsonable(value: Any) -> Any:
    """Settings (dataclasses, tuples, paths, enums) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def host_vars(host: Host, roles_dir: Path) -> dict[str, Any]:
    """What ansible-inventory shows for the host: its inventory's variables (templated here),
    without the role defaults."""
    values: dict[str, Any] = masked(
        {k: v for k, v in host.vars.items() if not host.origins[k].is_relative_to(roles_dir)}
    )
    return values


def host_settings_json(host: Host, settings: Settings) -> dict[str, Any]:
    """The host's validated settings, or why they do not validate."""
    try:
        return {"settings": masked(jsonable(settings(host)))}
    except InventoryError as exc:
        return {"error": masked(str(exc))}


def list_json(inventory: Inventory, roles_dir: Path, settings: Settings) -> dict[str, Any]:
    """ansible-inventory --list's layout, plus `_meta.queueops`: each host's settings."""
    seen: set[str] = set()

    def group(name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if name != "all":
            entry["hosts"] = list(inventory.direct.get(name, ()))
        entry["children"] = list(inventory.children.get(name, ()))
        out: dict[str, Any] = {name: {k: v for k, v in entry.items() if v}}
        for child in inventory.children.get(name, ()):
            if child not in seen:
                out.update(group(child))
                seen.add(child)
        return {k: v for k, v in out.items() if v}

    doc = group("all")
    hostvars = {name: host_vars(host, roles_dir) for name, host in inventory.hosts.items()}
    doc["_meta"] = {
        "hostvars": {name: values for name, values in hostvars.items() if values},
        "queueops": {name: host_settings_json(h, settings) for name, h in inventory.hosts.items()},
    }
    return doc


def host_json(host: Host, roles_dir: Path, settings: Settings) -> dict[str, Any]:
    """One host: ansible-inventory --host's variables, its groups, queueops' settings."""
    return {
        "vars": host_vars(host, roles_dir),
        "groups": list(host.groups),
        "queueops": host_settings_json(host, settings),
    }
