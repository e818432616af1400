"""Every kind's rules on every host of an inventory, and validation's refusals beside them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from queueops.errors import InventoryError
from queueops.inventory.host import Connection, HostSettings, check_keys, connection, os_family
from queueops.inventory.loader import Host, Inventory
from queueops.kinds import KINDS, host_settings
from queueops.lint.findings import Collector, Finding, unique

VALIDATION = "QO100"
T = TypeVar("T")


def _base(inventory: Inventory) -> Path:
    return inventory.path if inventory.path.is_dir() else inventory.path.parent


def refusal(exc: InventoryError) -> Finding:
    return Finding(
        rule=VALIDATION,
        severity="error",
        host=exc.host,
        file=exc.file,
        key=exc.key,
        message=exc.reason,
        fix="correct the value: docs/inventory.md gives every variable and what it accepts",
    )


def validated(host: Host, inventory: Inventory) -> tuple[HostSettings, list[Finding]]:
    """The host's settings as far as they validate, and a finding for each refusal (one per
    step: the unknown keys, the connection, os_family, each kind's variables)."""
    refusals: list[Finding] = []

    def attempt(step: Callable[[], T]) -> T | None:
        try:
            return step()
        except InventoryError as exc:
            if not exc.key:  # not one host's value: the inventory itself does not load
                raise
            refusals.append(refusal(exc))
            return None

    attempt(lambda: check_keys(host, inventory.role_keys))
    reach = attempt(lambda: connection(host)) or Connection(host.name, None, None, None, False)
    family = attempt(lambda: os_family(host))
    kinds: dict[str, object] = {}
    for kind in KINDS:
        value = attempt(lambda kind=kind: kind.settings(host))  # type: ignore[misc]
        if value is not None:
            kinds[kind.name] = value
    return HostSettings(host.name, reach, family, kinds), refusals


def lint_host(host: Host, inventory: Inventory, lenient: bool = False) -> list[Finding]:
    """Every finding of one host. Strict (the converge tasks' gate): validation first,
    InventoryError when it fails. Lenient (invoke lint): refusals are findings too, and the
    rules run for every kind whose settings (and the settings they need) validated."""
    if lenient:
        settings, found = validated(host, inventory)
    else:
        settings, found = host_settings(host, inventory.role_keys), []
    out = Collector(host, settings, _base(inventory))
    for kind in KINDS:
        if all(name in settings.kinds for name in (kind.name, *kind.needs)):
            kind.lint(out)
    return sorted(unique(found + out.findings), key=lambda f: f.rule)


def lint_inventory(inventory: Inventory) -> list[Finding]:
    """Findings of every host, in hosts.yml order, each host's by rule id: validation's
    refusals (QO100) beside the rules' findings, all of them in one run."""
    found: list[Finding] = []
    for host in inventory.hosts.values():
        found += lint_host(host, inventory, lenient=True)
    return found


def refused(findings: list[Finding]) -> bool:
    """Whether validation refused a value: the inventory cannot be used as it is (exit 2)."""
    return any(f.rule == VALIDATION for f in findings)
