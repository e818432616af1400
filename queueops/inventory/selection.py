"""From command-line selectors to validated per-host settings, before any host is touched."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from queueops.errors import InventoryError
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host, Inventory, load_inventory, resolve_sources
from queueops.inventory.vault import NO_VAULT, Vault
from queueops.kinds import host_settings
from queueops.lint.findings import Finding, format_findings, has_errors
from queueops.lint.run import lint_host

# roles/ beside the package: its defaults are the lowest layer of every inventory.
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


def load(
    inventory: str | Sequence[str] | None,
    config_default: str | Sequence[str] | None,
    vault: Vault = NO_VAULT,
) -> Inventory:
    return load_inventory(resolve_sources(inventory, config_default), ROLES_DIR, vault)


def select_hosts(
    inventory: str | Sequence[str] | None,
    config_default: str | Sequence[str] | None,
    host: str | None,
    group: str | None,
    all_hosts: bool,
    lint: bool = True,
    vault: Vault = NO_VAULT,
) -> list[tuple[Host, HostSettings]]:
    """Validated settings of the selected hosts; with `lint`, refuse them on any lint error.

    Warnings never stop a run; errors are settings that lose or duplicate jobs.
    """
    inv = load(inventory, config_default, vault)
    selected = inv.select(host, group, all_hosts)
    # Validate every selected host first: one bad value stops the run before any connection.
    out = []
    for h in selected:
        settings = host_settings(h, inv.role_keys)
        out.append((h, settings))
    if lint:
        findings: list[Finding] = [f for h in selected for f in lint_host(h, inv)]
        if has_errors(findings):
            errors = [f for f in findings if f.severity == "error"]
            raise InventoryError(
                "the inventory has lint errors; nothing was touched (invoke lint shows all):\n"
                + format_findings(errors)
            )
    return out
