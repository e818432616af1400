"""The config kinds queueops manages. Adding one: its folder beside these, and a line below."""

from __future__ import annotations

from typing import Any

from queueops.inventory.host import (
    HostSettings,
    backups_keep,
    check_keys,
    connection,
    os_family,
)
from queueops.inventory.loader import Host
from queueops.kinds import horizon, redis, scheduler, workers
from queueops.kinds.base import Kind

KINDS: tuple[Kind[Any, Any, Any], ...] = (
    workers.KIND,
    horizon.KIND,
    redis.KIND,
    scheduler.KIND,
)


def host_settings(host: Host, role_keys: frozenset[str]) -> HostSettings:
    """Everything queueops needs to know about one host, every kind's settings validated."""
    check_keys(host, role_keys)
    return HostSettings(
        name=host.name,
        connection=connection(host),
        os_family=os_family(host),
        kinds={kind.name: kind.settings(host) for kind in KINDS},
        backups_keep=backups_keep(host),
    )
