"""A host as queueops sees it, built from the variables Ansible hands a role's filter: the
roles run the same validation on the same variables as the Invoke tasks."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from queueops.errors import RoleError
from queueops.inventory.loader import Host, load_role_defaults
from queueops.platforms import Platform, platform_for
from queueops.resources import ROLES_DIR

# Ansible's ansible_facts.os_family → queueops' family.
FAMILIES = {"Debian": "debian", "RedHat": "redhat"}


@functools.cache
def role_defaults() -> dict[str, Any]:
    """Every role's defaults, as queueops' loader layers them under the inventory: a role's
    settings may read another's (Horizon's timeouts against queue_worker_retry_after)."""
    merged: dict[str, Any] = {}
    for values, _ in load_role_defaults(ROLES_DIR):
        merged.update(values)
    return merged


def plain(value: Any) -> Any:
    """Ansible's values as plain Python: ansible-core 2.19 hands filters tagged subclasses
    (_AnsibleTaggedInt, ...), which queueops' exact type checks rightly refuse."""
    return json.loads(json.dumps(value))


def role_host(
    variables: Mapping[str, Any],
    host: str,
    source: str,
    groups: tuple[str, ...] = (),
    group_members: Mapping[str, tuple[str, ...]] | None = None,
) -> Host:
    """The host as queueops' settings see it: the roles' defaults under the play's values of
    the roles' variables (registered results share the prefixes and are left out), blamed on
    the inventory file; its groups and the members of groups (Ansible's `groups`) as the
    play has them."""
    known = role_defaults()
    own = {**known, **{k: plain(v) for k, v in variables.items() if k in known}}
    return Host(str(host), ("all", *groups), own, {}, Path(str(source)), dict(group_members or {}))


def platform_of(host: str, os_family: str) -> Platform:
    family = FAMILIES.get(os_family)
    if family is None:
        raise RoleError(f"{host}: OS family {os_family} is not Debian or RedHat")
    return platform_for(family)
