"""Every kind's rules on every host of an inventory."""

from __future__ import annotations

from pathlib import Path

from queueops.inventory.loader import Host, Inventory
from queueops.kinds import KINDS, host_settings
from queueops.lint.findings import Collector, Finding, unique


def _base(inventory: Inventory) -> Path:
    return inventory.path if inventory.path.is_dir() else inventory.path.parent


def lint_host(host: Host, inventory: Inventory) -> list[Finding]:
    """Every finding of one host, validated first (InventoryError when it fails)."""
    out = Collector(host, host_settings(host, inventory.role_keys), _base(inventory))
    for kind in KINDS:
        kind.lint(out)
    return sorted(unique(out.findings), key=lambda f: f.rule)


def lint_inventory(inventory: Inventory) -> list[Finding]:
    """Findings of every host, in hosts.yml order, each host's by rule id.

    Every host is validated before any rule runs, so an invalid host raises InventoryError
    and no partial list is returned.
    """
    for host in inventory.hosts.values():
        host_settings(host, inventory.role_keys)
    found: list[Finding] = []
    for host in inventory.hosts.values():
        found += lint_host(host, inventory)
    return found
