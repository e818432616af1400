"""The redis_queue role's filters: the drop-in and include line rendered by queueops itself,
the values redis-cli read back, and the redis-cli input that applies and undoes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.errors import RoleError
from queueops.inventory.ansible_vars import role_host
from queueops.kinds.redis.host import (
    config_password,
    has_include,
    redis_directives,
    redis_endpoint,
    with_include,
)
from queueops.kinds.redis.plan import render_dropin
from queueops.kinds.redis.settings import REDIS_GROUP, redis_settings


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
