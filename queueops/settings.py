"""Validate a host's merged variables into typed settings before any host is touched.

Every refusal is an InventoryError naming the file that set the value, the host, the key
path (`queue_worker_programs[1].processes`) and the reason. Whatever passes here may reach
a supervisor file or a remote shell, so names are held to queueops.shell.NAME_PATTERN.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queueops.inventory import Host, did_you_mean, is_plain_name
from queueops.platforms import PLATFORMS
from queueops.shell import is_safe_name

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
# POSIX portable user names as useradd accepts them (no trailing $ machine accounts).
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_NAME_RULE = "use only letters, digits and . _ : - and do not start with -"

Check = Callable[[Host, str, Any], Any]


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    key_file: str | None
    become: bool


@dataclass(frozen=True)
class Program:
    name: str
    queues: tuple[str, ...]
    # Pinned queue connection; None lets the app's .env QUEUE_CONNECTION decide.
    connection: str | None
    processes: int
    sleep: int
    tries: int
    max_time: int
    timeout: int
    memory: int | None
    # Empty: no --backoff.
    backoff: tuple[int, ...]
    # None: the platform's web user, known only once the OS family is.
    user: str | None
    stopwaitsecs: int
    startsecs: int


@dataclass(frozen=True)
class WorkerSettings:
    app_path: str
    php: str
    retry_after: int
    log_dir: str
    programs: tuple[Program, ...]

    @property
    def env_file(self) -> str:
        return f"{self.app_path}/.env"


@dataclass(frozen=True)
class HostSettings:
    name: str
    connection: Connection
    os_family: str | None
    worker: WorkerSettings


def _got(value: object) -> str:
    kinds = {bool: "boolean", int: "integer", str: "string", list: "list", dict: "mapping"}
    kind = "null" if value is None else kinds.get(type(value), type(value).__name__)
    return f"got {kind} {value!r}"


def _integer(minimum: int) -> Check:
    def check(host: Host, path: str, value: Any) -> int:
        # YAML `yes`/`true` are bools, and bool is an int subclass in Python.
        if type(value) is not int:
            raise host.error(path, f"must be an integer >= {minimum}, {_got(value)}")
        if value < minimum:
            raise host.error(path, f"must be >= {minimum}, got {value}")
        return value

    return check


_POSITIVE = _integer(1)
_NON_NEGATIVE = _integer(0)


def _string(host: Host, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise host.error(path, f"must be a string, {_got(value)}")
    return value


def _name(host: Host, path: str, value: Any) -> str:
    text = _string(host, path, value)
    if not is_plain_name(text):
        raise host.error(path, f"{text!r} is not a safe name: {_NAME_RULE}")
    return text


def _program_name(host: Host, path: str, value: Any) -> str:
    name = _name(host, path, value)
    if ":" in name:
        # supervisorctl reads NAME:PROCESS, so a colon would address a process, not a program.
        raise host.error(path, f"{name!r}: program names cannot contain ':'")
    return name


def _posix_user(host: Host, path: str, value: Any) -> str:
    user = _string(host, path, value)
    if not _USER.fullmatch(user):
        raise host.error(
            path,
            f"{user!r} is not a safe user name: lowercase letters, digits, _ and -, "
            "starting with a letter or _, at most 32 characters",
        )
    return user


def _worker_user(host: Host, path: str, value: Any) -> str:
    user = _posix_user(host, path, value)
    if user == "root":
        raise host.error(path, "workers must not run as root: use the web user (www-data, apache)")
    return user


def _absolute_path(host: Host, path: str, value: Any) -> str:
    text = _string(host, path, value)
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


def _php(host: Host, path: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("/"):
        return _absolute_path(host, path, value)
    return _name(host, path, value)


def _queues(host: Host, path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise host.error(path, f"must be a non-empty list of queue names, {_got(value)}")
    queues: list[str] = []
    for index, item in enumerate(value):
        queue = _name(host, f"{path}[{index}]", item)
        if queue in queues:
            raise host.error(f"{path}[{index}]", f"queue {queue!r} is listed twice")
        queues.append(queue)
    return tuple(queues)


def _backoff(host: Host, path: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise host.error(
            path, f"must be a non-empty list of seconds (integers >= 1), {_got(value)}"
        )
    return tuple(_POSITIVE(host, f"{path}[{i}]", item) for i, item in enumerate(value))


# Program fields that may come from queue_worker_program_defaults: (check, may be null).
_PROGRAM_FIELDS: dict[str, tuple[Check, bool]] = {
    "connection": (_name, True),
    "processes": (_POSITIVE, False),
    "sleep": (_NON_NEGATIVE, False),
    "tries": (_POSITIVE, False),
    "max_time": (_NON_NEGATIVE, False),
    "timeout": (_POSITIVE, False),
    "memory": (_POSITIVE, True),
    "backoff": (_backoff, True),
    "user": (_worker_user, True),
    "stopwaitsecs": (_POSITIVE, True),
    "startsecs": (_NON_NEGATIVE, False),
}
PROGRAM_KEYS = ("name", "queues", *_PROGRAM_FIELDS)
# Supervisor's stop grace beyond the job timeout, so a job finishing on time is not SIGKILLed.
STOP_MARGIN = 15


def _field(host: Host, path: str, key: str, value: Any) -> Any:
    check, nullable = _PROGRAM_FIELDS[key]
    return None if nullable and value is None else check(host, path, value)


def _required(host: Host, key: str) -> Any:
    if key not in host.vars:
        raise host.error(key, "is not set (its role's defaults/main.yml should define it)")
    return host.vars[key]


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
        key_file = _string(host, "ansible_ssh_private_key_file", key_file)
        if not key_file or any(c in key_file for c in "\0\n"):
            raise host.error("ansible_ssh_private_key_file", f"not a usable path: {key_file!r}")
        key_file = os.path.expanduser(key_file)
    become = values.get("ansible_become", False)
    if not isinstance(become, bool):
        raise host.error("ansible_become", f"must be true or false, {_got(become)}")
    port = _POSITIVE(host, "ansible_port", values.get("ansible_port", 22))
    if port > 65535:
        raise host.error("ansible_port", f"must be <= 65535, got {port}")
    return Connection(
        host=_name(host, "ansible_host", values.get("ansible_host", host.name)),
        port=port,
        user=_posix_user(host, "ansible_user", values.get("ansible_user", "root")),
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


def _program_defaults(host: Host) -> dict[str, Any]:
    key = "queue_worker_program_defaults"
    raw = _required(host, key)
    if not isinstance(raw, dict):
        raise host.error(key, f"must be a mapping of program fields, {_got(raw)}")
    for field in raw:
        if field not in _PROGRAM_FIELDS:
            hint = did_you_mean(str(field), _PROGRAM_FIELDS)
            raise host.error(f"{key}.{field}", f"not a program field with a default{hint}")
    return {field: _field(host, f"{key}.{field}", field, v) for field, v in raw.items()}


def _program(
    host: Host, index: int, raw: Any, defaults: dict[str, Any], user: str | None
) -> Program:
    path = f"queue_worker_programs[{index}]"
    if not isinstance(raw, dict):
        raise host.error(path, f"must be a mapping with name, queues, ... ({_got(raw)})")
    for key in raw:
        if key not in PROGRAM_KEYS:
            raise host.error(
                f"{path}.{key}", f"unknown program key{did_you_mean(str(key), PROGRAM_KEYS)}"
            )
    for key in ("name", "queues"):
        if key not in raw:
            raise host.error(f"{path}.{key}", "is required")
    name = _program_name(host, f"{path}.name", raw["name"])
    queues = _queues(host, f"{path}.queues", raw["queues"])
    fields: dict[str, Any] = {}
    for key in _PROGRAM_FIELDS:
        if key in raw:
            fields[key] = _field(host, f"{path}.{key}", key, raw[key])
        elif key in defaults:
            fields[key] = defaults[key]
        elif _PROGRAM_FIELDS[key][1]:
            fields[key] = None
        else:
            raise host.error(
                f"{path}.{key}", "is set neither here nor in queue_worker_program_defaults"
            )
    if fields["stopwaitsecs"] is None:
        fields["stopwaitsecs"] = fields["timeout"] + STOP_MARGIN
    fields["user"] = fields["user"] or user
    fields["backoff"] = fields["backoff"] or ()
    return Program(name=name, queues=queues, **fields)


def worker_settings(host: Host) -> WorkerSettings:
    """The queue_worker role's settings of one host."""
    app_path = _absolute_path(
        host, "queue_worker_app_path", _required(host, "queue_worker_app_path")
    )
    log_dir_value = _required(host, "queue_worker_log_dir")
    log_dir = (
        _absolute_path(host, "queue_worker_log_dir", log_dir_value)
        if log_dir_value != ""
        else f"{app_path}/storage/logs"
    )
    user_value = _required(host, "queue_worker_user")
    user = _worker_user(host, "queue_worker_user", user_value) if user_value != "" else None
    defaults = _program_defaults(host)
    raw_programs = _required(host, "queue_worker_programs")
    if not isinstance(raw_programs, list):
        raise host.error(
            "queue_worker_programs", f"must be a list of programs, {_got(raw_programs)}"
        )
    programs: list[Program] = []
    for index, raw in enumerate(raw_programs):
        program = _program(host, index, raw, defaults, user)
        for other, earlier in enumerate(programs):
            if earlier.name == program.name:
                raise host.error(
                    f"queue_worker_programs[{index}].name",
                    f"{program.name!r} is already the name of queue_worker_programs[{other}]",
                )
        programs.append(program)
    return WorkerSettings(
        app_path=app_path,
        php=_php(host, "queue_worker_php", _required(host, "queue_worker_php")),
        retry_after=_POSITIVE(
            host, "queue_worker_retry_after", _required(host, "queue_worker_retry_after")
        ),
        log_dir=log_dir,
        programs=tuple(programs),
    )


def host_settings(host: Host, role_keys: frozenset[str]) -> HostSettings:
    """Everything queueops needs to know about one host, validated."""
    check_keys(host, role_keys)
    return HostSettings(
        name=host.name,
        connection=connection(host),
        os_family=os_family(host),
        worker=worker_settings(host),
    )
