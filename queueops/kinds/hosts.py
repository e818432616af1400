"""Hosts as the kinds see them: every kind's settings validated (strictly for a task, as far
as they validate for `invoke lint`), every kind's lint rules, and the selection a task runs
on. Pure: nothing here contacts a host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from queueops.errors import InventoryError
from queueops.inventory.host import (
    BACKUPS_KEEP_DEFAULT,
    Connection,
    HostSettings,
    backups_keep,
    check_keys,
    connection,
    os_family,
)
from queueops.inventory.loader import (
    Host,
    Inventory,
    load_inventory,
    resolve_sources,
)
from queueops.inventory.vault import NO_VAULT, Vault
from queueops.kinds import KINDS, host_settings
from queueops.lint.findings import (
    RULES,
    VALIDATION,
    Collector,
    Finding,
    format_findings,
    has_errors,
    unique,
)
from queueops.resources import ROLES_DIR
from queueops.supervisor.lint import RULES as PROGRAM_RULES

T = TypeVar("T")


def all_rules() -> dict[str, str]:
    """Every lint rule: id → title, shared ones, the supervisor programs' and every kind's."""
    rules = {**RULES, **PROGRAM_RULES}
    for kind in KINDS:
        rules.update(kind.rules)
    return dict(sorted(rules.items()))


def load(
    inventory: str | Sequence[str] | None,
    config_default: str | Sequence[str] | None,
    vault: Vault = NO_VAULT,
) -> Inventory:
    return load_inventory(resolve_sources(inventory, config_default), ROLES_DIR, vault)


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
    keep = attempt(lambda: backups_keep(host)) or BACKUPS_KEEP_DEFAULT
    kinds: dict[str, object] = {}
    for kind in KINDS:
        value = attempt(lambda kind=kind: kind.settings(host))  # type: ignore[misc]
        if value is not None:
            kinds[kind.name] = value
    return HostSettings(host.name, reach, family, kinds, keep), refusals


def lint_host(host: Host, settings: HostSettings, base: Path) -> list[Finding]:
    """The rules' findings on one host: every kind whose settings (and the settings its
    rules read) validated. `base`: the inventory's directory (a key set there is the
    inventory's, not a role default's)."""
    out = Collector(host, settings, base)
    for kind in KINDS:
        if all(name in settings.kinds for name in (kind.name, *kind.needs)):
            kind.lint(out)
    return out.findings


def lint_inventory(inventory: Inventory) -> list[Finding]:
    """Findings of every host, in hosts.yml order, each host's by rule id: validation's
    refusals (QO100) beside the rules' findings, all of them in one run."""
    found: list[Finding] = []
    for host in inventory.hosts.values():
        settings, refused_values = validated(host, inventory)
        found += by_rule(refused_values + lint_host(host, settings, _base(inventory)))
    return found


def by_rule(findings: list[Finding]) -> list[Finding]:
    """One host's findings, each once (templates render once per platform), by rule id."""
    return sorted(unique(findings), key=lambda f: f.rule)


def refused(findings: list[Finding]) -> bool:
    """Whether validation refused a value: the inventory cannot be used as it is (exit 2)."""
    return any(f.rule == VALIDATION for f in findings)


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

    Every selected host is validated once, before any connection: one bad value stops the
    run. Warnings never stop a run; errors are settings that lose or duplicate jobs.
    """
    inv = load(inventory, config_default, vault)
    selected = [(h, host_settings(h, inv.role_keys)) for h in inv.select(host, group, all_hosts)]
    if lint:
        findings = [f for h, s in selected for f in by_rule(lint_host(h, s, _base(inv)))]
        if has_errors(findings):
            errors = [f for f in findings if f.severity == "error"]
            raise InventoryError(
                "the inventory has lint errors; nothing was touched (invoke lint shows all):\n"
                + format_findings(errors)
            )
    return selected
