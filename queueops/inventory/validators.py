"""The checks every config kind validates its variables with.

Each check takes the inventory host, the key path (`queue_worker_programs[1].processes`) and
the raw value; it returns the value typed and normalised, or raises the host's InventoryError
naming the file that set the value, the host, the key path and the reason. Whatever passes
here may reach a supervisor file or a remote shell, so names are held to
queueops.shell.NAME_PATTERN.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from queueops.inventory.loader import Host, is_plain_name
from queueops.shell import is_safe_name

# POSIX portable user names as useradd accepts them (no trailing $ machine accounts).
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
NAME_RULE = "use only letters, digits and . _ : - and do not start with -"

Check = Callable[[Host, str, Any], Any]


def got(value: object) -> str:
    kinds = {bool: "boolean", int: "integer", str: "string", list: "list", dict: "mapping"}
    kind = "null" if value is None else kinds.get(type(value), type(value).__name__)
    return f"got {kind} {value!r}"


def integer(minimum: int, maximum: int | None = None) -> Check:
    bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"

    def check(host: Host, path: str, value: Any) -> int:
        # YAML `yes`/`true` are bools, and bool is an int subclass in Python.
        if type(value) is not int:
            raise host.error(path, f"must be an integer {bounds}, {got(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            raise host.error(path, f"must be {bounds}, got {value}")
        return value

    return check


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
# Processes of one supervisor program or Horizon supervisor on one host. Each is a PHP
# process of tens of MB: more than this is a typo (a zero too many), not a plan, and would
# exhaust the host's memory the moment supervisord started them.
MAX_PROCESSES = 1024
PROCESS_COUNT = integer(1, MAX_PROCESSES)


def string(host: Host, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise host.error(path, f"must be a string, {got(value)}")
    return value


def name(host: Host, path: str, value: Any) -> str:
    text = string(host, path, value)
    if not is_plain_name(text):
        raise host.error(path, f"{text!r} is not a safe name: {NAME_RULE}")
    return text


def program_name(host: Host, path: str, value: Any) -> str:
    """A supervisor program name: a safe name without ':', not starting with '.'."""
    text = name(host, path, value)
    if ":" in text:
        # supervisorctl reads NAME:PROCESS, so a colon would address a process, not a program.
        raise host.error(path, f"{text!r}: program names cannot contain ':'")
    if text.startswith("."):
        # The program's file is <name>.conf (.ini): supervisord's include glob skips dot files.
        raise host.error(
            path,
            f"{text!r}: program names cannot start with '.' (supervisord's *.conf include "
            "skips hidden files: the program would never run)",
        )
    return text


def posix_user(host: Host, path: str, value: Any) -> str:
    user = string(host, path, value)
    if not _USER.fullmatch(user):
        raise host.error(
            path,
            f"{user!r} is not a safe user name: lowercase letters, digits, _ and -, "
            "starting with a letter or _, at most 32 characters",
        )
    return user


def worker_user(host: Host, path: str, value: Any) -> str:
    user = posix_user(host, path, value)
    if user == "root":
        raise host.error(path, "workers must not run as root: use the web user (www-data, apache)")
    return user


def optional_worker_user(host: Host, key: str) -> str | None:
    """A role's `*_user`: "" lets the platform's web user run it."""
    value = required(host, key)
    return worker_user(host, key, value) if value != "" else None


def absolute_path(host: Host, path: str, value: Any) -> str:
    text = string(host, path, value)
    if not text.startswith("/"):
        raise host.error(path, f"must be an absolute path, got {text!r}")
    parts = text.rstrip("/").split("/")[1:]
    if not parts or any(p in ("", ".", "..") or not is_safe_name(p) for p in parts):
        raise host.error(
            path,
            f"{text!r} is not a safe normalised path: each component may use only "
            "letters, digits and . _ : -",
        )
    return "/" + "/".join(parts)


def optional_path(host: Host, key: str, otherwise: str) -> str:
    """A role's path variable: "" means `otherwise`, a default derived from other settings."""
    value = required(host, key)
    return absolute_path(host, key, value) if value != "" else otherwise


def php(host: Host, path: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("/"):
        return absolute_path(host, path, value)
    return name(host, path, value)


def queues(host: Host, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise host.error(path, f"must be a non-empty list of queue names, {got(value)}")
    found: list[str] = []
    for index, item in enumerate(value):
        queue = name(host, f"{path}[{index}]", item)
        if queue in found:
            raise host.error(f"{path}[{index}]", f"queue {queue!r} is listed twice")
        found.append(queue)
    return tuple(found)


def mapping(host: Host, path: str, value: Any, what: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise host.error(path, f"must be a mapping of {what}, {got(value)}")
    return value


def required(host: Host, key: str) -> Any:
    if key not in host.vars:
        raise host.error(key, "is not set (its role's defaults/main.yml should define it)")
    return host.vars[key]
