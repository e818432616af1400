"""What every host has whatever its config kinds: how to reach it and its OS family."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from queueops.inventory.loader import Host, did_you_mean
from queueops.inventory.validators import POSITIVE, got, name, posix_user, string
from queueops.platforms import PLATFORMS

# Connection variables queueops honours, with Ansible's names so one inventory serves both.
CONNECTION_KEYS = frozenset(
    {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_become",
        "ansible_connection",
    }
)
# Accepted because Ansible needs them from the same inventory; queueops ignores them.
ANSIBLE_ONLY_KEYS = frozenset(
    {
        "ansible_python_interpreter",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_ssh_pipelining",
    }
)
# Lets `invoke render` pick a platform without asking the host.
OS_FAMILY_KEY = "os_family"
HOST_KEYS = CONNECTION_KEYS | ANSIBLE_ONLY_KEYS | {OS_FAMILY_KEY}

_SSH_CONNECTIONS = ("ssh", "smart", "paramiko")


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    key_file: str | None
    become: bool


@dataclass(frozen=True)
class HostSettings:
    name: str
    connection: Connection
    os_family: str | None
    # Each config kind's validated settings, by kind name (queueops.kinds registry); read
    # them with the kind's own accessor (kinds.workers.settings.worker_of, ...).
    kinds: Mapping[str, object] = field(default_factory=dict)


def check_keys(host: Host, role_keys: frozenset[str]) -> None:
    """Refuse variables no role and no connection setting knows: they are typos."""
    known = role_keys | HOST_KEYS
    for key in host.vars:
        if key not in known:
            raise host.error(
                key,
                f"unknown variable{did_you_mean(key, known)}; known variables are the keys "
                "of roles/*/defaults/main.yml, the ansible_* connection variables and os_family",
            )


def connection(host: Host) -> Connection:
    values = host.vars
    kind = values.get("ansible_connection", "ssh")
    if kind not in _SSH_CONNECTIONS:
        raise host.error(
            "ansible_connection", f"queueops reaches hosts over SSH only, got {kind!r}"
        )
    key_file = values.get("ansible_ssh_private_key_file")
    if key_file is not None:
        key_file = string(host, "ansible_ssh_private_key_file", key_file)
        if not key_file or any(c in key_file for c in "\0\n"):
            raise host.error("ansible_ssh_private_key_file", f"not a usable path: {key_file!r}")
        key_file = os.path.expanduser(key_file)
    become = values.get("ansible_become", False)
    if not isinstance(become, bool):
        raise host.error("ansible_become", f"must be true or false, {got(become)}")
    port = POSITIVE(host, "ansible_port", values.get("ansible_port", 22))
    if port > 65535:
        raise host.error("ansible_port", f"must be <= 65535, got {port}")
    return Connection(
        host=name(host, "ansible_host", values.get("ansible_host", host.name)),
        port=port,
        user=posix_user(host, "ansible_user", values.get("ansible_user", "root")),
        key_file=key_file,
        become=become,
    )


def os_family(host: Host) -> str | None:
    family = host.vars.get(OS_FAMILY_KEY)
    if family is not None and (not isinstance(family, str) or family not in PLATFORMS):
        raise host.error(
            OS_FAMILY_KEY, f"must be one of {', '.join(sorted(PLATFORMS))}, got {family!r}"
        )
    return family
