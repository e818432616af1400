"""The queue_worker role's filter: its program files, rendered by queueops itself from the
role's variables, with the same checks and the same templates as setup-worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.agent.laravel import env_value
from queueops.errors import RoleError
from queueops.inventory.ansible_vars import platform_of, role_host
from queueops.kinds.workers.render import (
    PROGRAM_HEADER,
    pinned_connections,
    render_programs,
    resolve_connections,
)
from queueops.kinds.workers.settings import worker_settings


def worker_files(
    variables: Mapping[str, Any],
    host: str,
    os_family: str,
    env_text: str | None,
    source: str,
    offline: bool = False,
) -> dict[str, Any]:
    """{files: {path: content}, header, programs: {name: processes}, wait} of one host.

    `offline` (playbooks/render.yml): no .env is read, every program must pin its connection,
    as for `invoke render`."""
    inventory_host = role_host(variables, host, source)
    settings = worker_settings(inventory_host)
    if offline:
        connections = pinned_connections(inventory_host, settings)
    elif settings.programs and env_text is None:
        raise RoleError(
            f"{host}: {settings.env_file} does not exist: is queue_worker_app_path "
            f"({settings.app_path}) the app's directory?"
        )
    else:
        connections = resolve_connections(settings, env_value(env_text or "", "QUEUE_CONNECTION"))
    return {
        "files": render_programs(settings, platform_of(host, os_family), connections),
        "header": PROGRAM_HEADER,
        "programs": {p.name: p.processes for p in settings.programs},
        "wait": max([p.startsecs for p in settings.programs], default=1) + 30,
    }
