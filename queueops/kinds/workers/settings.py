"""Validate the queue_worker role's variables into typed settings before any host is touched.

Every refusal names the file that set the value, the host, the key path
(`queue_worker_programs[1].processes`) and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host, did_you_mean
from queueops.inventory.validators import (
    NON_NEGATIVE,
    POSITIVE,
    PROCESS_COUNT,
    Check,
    absolute_path,
    got,
    name,
    optional_path,
    optional_worker_user,
    php,
    program_name,
    queues,
    required,
    worker_user,
)
from queueops.platforms import PLATFORMS, Platform, app_users

KIND = "workers"


@dataclass(frozen=True)
class Program:
    name: str
    queues: tuple[str, ...]
    # Pinned queue connection; None lets the connection the app resolves decide.
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


def worker_of(settings: HostSettings) -> WorkerSettings:
    """The host's queue_worker settings, validated when the host was selected."""
    value = settings.kinds[KIND]
    if not isinstance(value, WorkerSettings):
        raise TypeError(f"{settings.name}: no worker settings were validated")
    return value


def artisan_user(
    programs: Iterable[Program], platform: Platform, otherwise: str | None = None
) -> str:
    """Who runs the app's artisan commands on a host: its workers' user (the first by name
    when programs differ); with no program, `otherwise` (Horizon's user) or the platform's web
    user; never root. queue:restart, config:cache and the drains write the app's cache and
    logs, which the workers must still be able to write."""
    users = sorted({p.user or platform.web_user for p in programs})
    return users[0] if users else otherwise or platform.web_user


def app_users_of(worker: WorkerSettings) -> list[str]:
    """Who a request asks to run the app's code before the host's facts tell its platform:
    artisan_user on each platform, then the other workers' users (the host takes the first
    that exists, so one program of a user the host lacks does not stop the reading)."""
    first = app_users(lambda platform: artisan_user(worker.programs, platform))
    others = sorted({p.user or pf.web_user for pf in PLATFORMS.values() for p in worker.programs})
    return list(dict.fromkeys([*first, *others]))


def _backoff(host: Host, path: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise host.error(path, f"must be a non-empty list of seconds (integers >= 1), {got(value)}")
    return tuple(POSITIVE(host, f"{path}[{i}]", item) for i, item in enumerate(value))


# Program fields that may come from queue_worker_program_defaults: (check, may be null).
_PROGRAM_FIELDS: dict[str, tuple[Check, bool]] = {
    "connection": (name, True),
    "processes": (PROCESS_COUNT, False),
    "sleep": (NON_NEGATIVE, False),
    "tries": (POSITIVE, False),
    "max_time": (NON_NEGATIVE, False),
    "timeout": (POSITIVE, False),
    "memory": (POSITIVE, True),
    "backoff": (_backoff, True),
    "user": (worker_user, True),
    "stopwaitsecs": (POSITIVE, True),
    "startsecs": (NON_NEGATIVE, False),
}
PROGRAM_KEYS = ("name", "queues", *_PROGRAM_FIELDS)
# Supervisor's stop grace beyond the job timeout, so a job finishing on time is not SIGKILLed.
STOP_MARGIN = 15


def _field(host: Host, path: str, key: str, value: Any) -> Any:
    check, nullable = _PROGRAM_FIELDS[key]
    return None if nullable and value is None else check(host, path, value)


def _program_defaults(host: Host) -> dict[str, Any]:
    key = "queue_worker_program_defaults"
    raw = required(host, key)
    if not isinstance(raw, dict):
        raise host.error(key, f"must be a mapping of program fields, {got(raw)}")
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
        raise host.error(path, f"must be a mapping with name, queues, ... ({got(raw)})")
    for key in raw:
        if key not in PROGRAM_KEYS:
            raise host.error(
                f"{path}.{key}", f"unknown program key{did_you_mean(str(key), PROGRAM_KEYS)}"
            )
    for key in ("name", "queues"):
        if key not in raw:
            raise host.error(f"{path}.{key}", "is required")
    program = program_name(host, f"{path}.name", raw["name"])
    program_queues = queues(host, f"{path}.queues", raw["queues"])
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
    return Program(name=program, queues=program_queues, **fields)


def worker_settings(host: Host) -> WorkerSettings:
    """The queue_worker role's settings of one host."""
    app_path = absolute_path(host, "queue_worker_app_path", required(host, "queue_worker_app_path"))
    log_dir = optional_path(host, "queue_worker_log_dir", f"{app_path}/storage/logs")
    user = optional_worker_user(host, "queue_worker_user")
    defaults = _program_defaults(host)
    raw_programs = required(host, "queue_worker_programs")
    if not isinstance(raw_programs, list):
        raise host.error(
            "queue_worker_programs", f"must be a list of programs, {got(raw_programs)}"
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
        php=php(host, "queue_worker_php", required(host, "queue_worker_php")),
        retry_after=POSITIVE(
            host, "queue_worker_retry_after", required(host, "queue_worker_retry_after")
        ),
        log_dir=log_dir,
        programs=tuple(programs),
    )
