"""The roles' Jinja filters: each role renders its files with queueops itself, so the roles
and the Invoke tasks run the same checks on the same variables and render the same
templates/, byte for byte. Each role's filter_plugins/ file only exposes these to Ansible;
queueops must be importable by the Python that runs ansible-playbook (the project's
virtualenv)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from queueops.agent.laravel import env_value
from queueops.errors import QueueopsError
from queueops.inventory.loader import Host, load_role_defaults
from queueops.inventory.selection import ROLES_DIR
from queueops.kinds.horizon.plan import check_environment, render_horizon
from queueops.kinds.horizon.settings import horizon_settings
from queueops.kinds.redis.host import (
    config_password,
    has_include,
    redis_directives,
    redis_endpoint,
    with_include,
)
from queueops.kinds.redis.plan import render_dropin
from queueops.kinds.redis.settings import REDIS_GROUP, redis_settings
from queueops.kinds.workers.render import (
    PROGRAM_HEADER,
    pinned_connections,
    render_programs,
    resolve_connections,
)
from queueops.kinds.workers.settings import worker_settings
from queueops.platforms import Platform, platform_for

FAMILIES = {"Debian": "debian", "RedHat": "redhat"}


class RoleError(QueueopsError):
    """A role's variables or the host refuse the change (shown as the task's failure)."""


@functools.cache
def role_defaults() -> dict[str, Any]:
    """Every role's defaults, as queueops' loader layers them under the inventory: a role's
    settings may read another's (Horizon's timeouts against queue_worker_retry_after)."""
    merged: dict[str, Any] = {}
    for values, _ in load_role_defaults(ROLES_DIR):
        merged.update(values)
    return merged


def role_host(
    variables: Mapping[str, Any], host: str, source: str, groups: tuple[str, ...] = ()
) -> Host:
    """The host as queueops' settings see it: the roles' defaults under the play's values of
    the roles' variables (registered results share the prefixes and are left out), blamed on
    the inventory file."""
    known = role_defaults()
    own = {**known, **{k: plain(v) for k, v in variables.items() if k in known}}
    return Host(str(host), ("all", *groups), own, {}, Path(str(source)))


def plain(value: Any) -> Any:
    """Ansible's values as plain Python: ansible-core 2.19 hands filters tagged subclasses
    (_AnsibleTaggedInt, ...), which queueops' exact type checks rightly refuse."""
    return json.loads(json.dumps(value))


def platform_of(host: str, os_family: str) -> Platform:
    family = FAMILIES.get(os_family)
    if family is None:
        raise RoleError(f"{host}: OS family {os_family} is not Debian or RedHat")
    return platform_for(family)


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


def horizon_files(
    variables: Mapping[str, Any], host: str, os_family: str, env_text: str | None, source: str
) -> dict[str, Any]:
    """Horizon's program and config/horizon.php, and what the role needs to restart it."""
    settings = horizon_settings(role_host(variables, host, source))
    if not settings.configured:
        raise RoleError(f"{host}: horizon_environments is empty: nothing to run")
    app_env = env_value(env_text, "APP_ENV") if env_text is not None else None
    check_environment(host, settings, env_text is not None, app_env)
    platform = platform_of(host, os_family)
    files = render_horizon(settings, platform)
    program_path = platform.program_path(settings.program_name)
    return {
        "program": settings.program_name,
        "program_path": program_path,
        "program_file": files[program_path],
        "config_path": settings.config_path,
        "config_file": files[settings.config_path],
        "user": settings.user_on(platform),
        "worker_header": PROGRAM_HEADER,
        "wait": settings.stopwaitsecs + 10 + settings.status_timeout,
    }


def redis_plan(
    variables: Mapping[str, Any], host: str, config: str, config_text: str
) -> dict[str, Any]:
    """The drop-in, the include line and the live values of one Redis host, and how to reach
    it. Holds the password: the role keeps it out of every log (no_log)."""
    settings = redis_settings(role_host(variables, host, config, (REDIS_GROUP,)))
    directives = redis_directives(config_text)
    address, port = redis_endpoint(settings.address, settings.port, directives)
    password = settings.password if settings.password is not None else config_password(directives)
    # redis-cli reads its commands from stdin: AUTH first, never on a command line.
    auth = (
        ""
        if password is None
        else f"AUTH {settings.user} {password}\n"
        if settings.user
        else f"AUTH {password}\n"
    )
    wanted = dict(settings.values)
    return {
        "dropin_path": settings.dropin,
        "dropin_file": render_dropin(settings, config),
        "has_include": has_include(config_text, settings.dropin),
        "with_include": with_include(config_text, settings.dropin),
        "values": [list(v) for v in settings.values],
        "maxmemory": int(wanted.get("maxmemory", "0")),
        "address": address,
        "port": port,
        "auth": auth,
        "read": auth + "".join(f"CONFIG GET {p}\n" for p, _ in settings.values) + "INFO memory\n",
        "eviction_reason": settings.eviction_reason,
    }


def _set_lines(auth: str, values: list[tuple[str, str]]) -> str:
    return auth + "".join(f'CONFIG SET {p} "{v}"\n' for p, v in values)


def redis_live(output: str, plan: Mapping[str, Any]) -> dict[str, Any]:
    """What `redis-cli` printed for plan["read"]: the live values, those that are wrong, the
    memory in use, and the redis-cli input that applies (and undoes) the change."""
    lines = output.splitlines()
    refused = [line for line in lines if line.startswith(("WRONGPASS", "NOAUTH", "ERR"))]
    if refused:
        raise RoleError(f"Redis at {plan['address']}:{plan['port']} refused: {refused[0]}")
    if plan["auth"]:
        lines = lines[1:]  # AUTH's OK
    values: dict[str, str] = {}
    for index, (parameter, _) in enumerate(plan["values"]):
        values[parameter] = lines[2 * index + 1] if 2 * index + 1 < len(lines) else ""
    info = dict(line.split(":", 1) for line in lines[2 * len(plan["values"]) :] if ":" in line)
    wrong = [(p, v) for p, v in plan["values"] if values.get(p) != v]
    return {
        "values": values,
        "wrong": [list(w) for w in wrong],
        "used_memory": int(info.get("used_memory", "0").strip() or 0),
        "apply": _set_lines(plan["auth"], wrong),
        "undo": _set_lines(plan["auth"], [(p, values[p]) for p, _ in wrong]),
    }


def ansible_filter(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """queueops' refusals as Ansible's filter errors: the task fails with the same message
    `invoke` prints (file, host, key and why)."""
    from ansible.errors import AnsibleFilterError

    @functools.wraps(function)
    def wrapped(*args: Any) -> dict[str, Any]:
        try:
            return function(*args)
        except QueueopsError as exc:
            raise AnsibleFilterError(str(exc)) from None

    return wrapped


class Filters:
    """What each role's filter_plugins/ file hands Ansible."""

    def __init__(self, **filters: Callable[..., dict[str, Any]]) -> None:
        self._filters = {name: ansible_filter(f) for name, f in filters.items()}

    def filters(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return self._filters
