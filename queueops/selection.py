"""From command-line selectors to validated per-host settings, before any host is touched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from queueops.inventory import Host, load_inventory, resolve_inventory_path
from queueops.lab.fleet import repo_root
from queueops.settings import HostSettings, host_settings

# The one Jinja expression queueops expands, so one inventory can name files for both tools.
INVENTORY_DIR = "{{ inventory_dir }}"


def roles_dir() -> Path:
    return repo_root() / "roles"


def select_hosts(
    inventory: str | None,
    config_default: str | None,
    host: str | None,
    group: str | None,
    all_hosts: bool,
) -> list[tuple[Host, HostSettings]]:
    path = resolve_inventory_path(inventory, config_default)
    inv = load_inventory(path, roles_dir())
    selected = inv.select(host, group, all_hosts)
    # Validate every selected host first: one bad value stops the run before any connection.
    out = []
    for h in selected:
        settings = host_settings(h, inv.role_keys)
        key = settings.connection.key_file
        if key and INVENTORY_DIR in key:
            base = inv.path if inv.path.is_dir() else inv.path.parent
            key = key.replace(INVENTORY_DIR, str(base.resolve()))
            settings = dataclasses.replace(
                settings, connection=dataclasses.replace(settings.connection, key_file=key)
            )
        out.append((h, settings))
    return out
