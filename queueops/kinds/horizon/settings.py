"""Validate the horizon role's variables into typed settings before any host is touched.

Every value here ends up as a PHP literal in config/horizon.php or in a supervisor program,
so names are held to the safe-name rule and numbers to integers in range; a refusal names
the file, the host and the key path (`horizon_environments.production.emails.maxProcesses`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host, did_you_mean, is_plain_name
from queueops.inventory.validators import (
    NON_NEGATIVE,
    POSITIVE,
    PROCESS_COUNT,
    Check,
    absolute_path,
    got,
    mapping,
    optional_path,
    optional_worker_user,
    php,
    program_name,
    queues,
    required,
)
from queueops.inventory.validators import name as safe_name
from queueops.kinds.workers.settings import STOP_MARGIN
from queueops.platforms import Platform

KIND = "horizon"

BALANCES = ("simple", "auto", False)
STRATEGIES = ("time", "size")
TRIM_KEYS = ("recent", "pending", "completed", "recent_failed", "failed", "monitored")
# Horizon matches APP_ENV against environment names with Str::is: `*` is a wildcard.
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._*-]+")
# `connection:queue` keys of horizon.waits.
_WAIT_KEY = re.compile(r"[A-Za-z0-9._-]+:[A-Za-z0-9._-]+")
_PREFIX = re.compile(r"[A-Za-z0-9._:-]+")


@dataclass(frozen=True)
class HorizonSupervisor:
    name: str
    connection: str
    queue: tuple[str, ...]
    balance: str | bool
    auto_scaling_strategy: str
    min_processes: int
    max_processes: int
    balance_max_shift: int
    balance_cooldown: int
    tries: int
    timeout: int
    memory: int
    nice: int


@dataclass(frozen=True)
class HorizonSettings:
    app_path: str
    php: str
    # None: the platform's web user.
    user: str | None
    program_name: str
    log_file: str
    stopwaitsecs: int
    status_timeout: int
    # None: Laravel's own env('HORIZON_PREFIX', ...) expression.
    prefix: str | None
    waits: tuple[tuple[str, int], ...]
    trim: tuple[tuple[str, int], ...]
    memory_limit: int
    environments: tuple[tuple[str, tuple[HorizonSupervisor, ...]], ...]

    @property
    def configured(self) -> bool:
        return bool(self.environments)

    @property
    def config_path(self) -> str:
        return f"{self.app_path}/config/horizon.php"

    def user_on(self, platform: Platform) -> str:
        """Who runs Horizon and its artisan commands: horizon_user, or the web user."""
        return self.user or platform.web_user

    @property
    def longest_timeout(self) -> int:
        return max((s.timeout for _, sups in self.environments for s in sups), default=60)


def _balance(host: Host, path: str, value: Any) -> str | bool:
    if value is False or (isinstance(value, str) and value in BALANCES):
        return value
    raise host.error(path, f"must be simple, auto or false, {got(value)}")


def _strategy(host: Host, path: str, value: Any) -> str:
    if isinstance(value, str) and value in STRATEGIES:
        return value
    raise host.error(path, f"must be time or size, {got(value)}")


def _nice(host: Host, path: str, value: Any) -> int:
    if type(value) is not int or not -20 <= value <= 19:
        raise host.error(path, f"must be an integer from -20 to 19, {got(value)}")
    return value


# Supervisor fields: inventory key → (check, dataclass field).
_FIELDS: dict[str, tuple[Check, str]] = {
    "connection": (safe_name, "connection"),
    "balance": (_balance, "balance"),
    "autoScalingStrategy": (_strategy, "auto_scaling_strategy"),
    "minProcesses": (PROCESS_COUNT, "min_processes"),
    "maxProcesses": (PROCESS_COUNT, "max_processes"),
    "balanceMaxShift": (POSITIVE, "balance_max_shift"),
    "balanceCooldown": (POSITIVE, "balance_cooldown"),
    "tries": (NON_NEGATIVE, "tries"),
    "timeout": (POSITIVE, "timeout"),
    "memory": (POSITIVE, "memory"),
    "nice": (_nice, "nice"),
}
SUPERVISOR_KEYS = ("queue", *_FIELDS)


def _supervisor_defaults(host: Host) -> dict[str, Any]:
    key = "horizon_supervisor_defaults"
    raw = mapping(host, key, required(host, key), "supervisor fields")
    out = {}
    for field, value in raw.items():
        if field not in _FIELDS:
            hint = did_you_mean(str(field), _FIELDS)
            raise host.error(f"{key}.{field}", f"not a supervisor field with a default{hint}")
        out[field] = _FIELDS[field][0](host, f"{key}.{field}", value)
    return out


def _supervisor(
    host: Host, path: str, name: Any, raw: Any, defaults: dict[str, Any], retry_after: int
) -> HorizonSupervisor:
    if not isinstance(name, str) or not is_plain_name(name) or ":" in name:
        raise host.error(
            path,
            f"{name!r} is not a safe supervisor name: use only letters, digits and . _ - "
            "(Horizon names processes <master>:<supervisor>, so no ':')",
        )
    raw = mapping(host, path, raw, "supervisor fields (queue, maxProcesses, ...)")
    for key in raw:
        if key not in SUPERVISOR_KEYS:
            raise host.error(
                f"{path}.{key}", f"unknown supervisor key{did_you_mean(str(key), SUPERVISOR_KEYS)}"
            )
    if "queue" not in raw:
        raise host.error(f"{path}.queue", "is required (a list of queues in priority order)")
    fields: dict[str, Any] = {}
    for key, (check, attr) in _FIELDS.items():
        if key in raw:
            fields[attr] = check(host, f"{path}.{key}", raw[key])
        elif key in defaults:
            fields[attr] = defaults[key]
        else:
            raise host.error(
                f"{path}.{key}", "is set neither here nor in horizon_supervisor_defaults"
            )
    if fields["min_processes"] > fields["max_processes"]:
        raise host.error(
            f"{path}.minProcesses",
            f"{fields['min_processes']} is more than maxProcesses {fields['max_processes']}",
        )
    if fields["timeout"] >= retry_after:
        raise host.error(
            f"{path}.timeout",
            f"{fields['timeout']} s must stay below the connection's retry_after "
            f"(queue_worker_retry_after = {retry_after} s), or a job still running is handed "
            "to a second worker and runs twice",
        )
    return HorizonSupervisor(name=name, queue=queues(host, f"{path}.queue", raw["queue"]), **fields)


def _environments(
    host: Host, retry_after: int
) -> tuple[tuple[str, tuple[HorizonSupervisor, ...]], ...]:
    key = "horizon_environments"
    raw = mapping(host, key, required(host, key), "environments")
    defaults = _supervisor_defaults(host)
    out = []
    for env, supervisors in raw.items():
        path = f"{key}.{env}"
        if not isinstance(env, str) or not _ENVIRONMENT.fullmatch(env):
            raise host.error(
                path, f"{env!r} is not a safe environment name: letters, digits, . _ - and *"
            )
        sups = mapping(host, path, supervisors, "supervisors")
        if not sups:
            raise host.error(path, "has no supervisors")
        out.append(
            (
                env,
                tuple(
                    _supervisor(host, f"{path}.{name}", name, body, defaults, retry_after)
                    for name, body in sups.items()
                ),
            )
        )
    return tuple(out)


def _waits(host: Host) -> tuple[tuple[str, int], ...]:
    key = "horizon_waits"
    raw = mapping(host, key, required(host, key), '"connection:queue": seconds')
    out = []
    for name, seconds in raw.items():
        if not isinstance(name, str) or not _WAIT_KEY.fullmatch(name):
            raise host.error(f"{key}.{name}", 'keys are "connection:queue" (safe names)')
        out.append((name, POSITIVE(host, f"{key}.{name}", seconds)))
    return tuple(out)


def _trim(host: Host) -> tuple[tuple[str, int], ...]:
    key = "horizon_trim"
    raw = mapping(host, key, required(host, key), "minutes per kind")
    for name in raw:
        if name not in TRIM_KEYS:
            raise host.error(f"{key}.{name}", f"unknown kind{did_you_mean(str(name), TRIM_KEYS)}")
    return tuple((name, POSITIVE(host, f"{key}.{name}", raw[name])) for name in raw)


def horizon_settings(host: Host) -> HorizonSettings:
    """The horizon role's settings of one host (call after settings.host_settings)."""
    app_path = absolute_path(host, "horizon_app_path", required(host, "horizon_app_path"))
    user = optional_worker_user(host, "horizon_user")
    log_file = optional_path(host, "horizon_log_file", f"{app_path}/storage/logs/horizon.log")
    prefix = required(host, "horizon_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix)):
        raise host.error(
            "horizon_prefix", f"must be null or letters, digits and . _ : -, {got(prefix)}"
        )
    retry_after = POSITIVE(
        host, "queue_worker_retry_after", required(host, "queue_worker_retry_after")
    )
    environments = _environments(host, retry_after)
    longest = max((s.timeout for _, sups in environments for s in sups), default=60)
    stop_value = required(host, "horizon_stopwaitsecs")
    if stop_value is None:
        stopwaitsecs = longest + STOP_MARGIN
    else:
        stopwaitsecs = POSITIVE(host, "horizon_stopwaitsecs", stop_value)
        if stopwaitsecs <= longest:
            raise host.error(
                "horizon_stopwaitsecs",
                f"{stopwaitsecs} s must exceed the longest supervisor timeout ({longest} s), "
                "or supervisor SIGKILLs jobs still running when Horizon stops",
            )
    return HorizonSettings(
        app_path=app_path,
        php=php(host, "horizon_php", required(host, "horizon_php")),
        user=user,
        program_name=program_name(
            host, "horizon_program_name", required(host, "horizon_program_name")
        ),
        log_file=log_file,
        stopwaitsecs=stopwaitsecs,
        status_timeout=POSITIVE(
            host, "horizon_status_timeout", required(host, "horizon_status_timeout")
        ),
        prefix=prefix,
        waits=_waits(host),
        trim=_trim(host),
        memory_limit=POSITIVE(host, "horizon_memory_limit", required(host, "horizon_memory_limit")),
        environments=environments,
    )


def horizon_of(settings: HostSettings) -> HorizonSettings:
    """The host's horizon settings, validated when the host was selected."""
    value = settings.kinds[KIND]
    if not isinstance(value, HorizonSettings):
        raise TypeError(f"{settings.name}: no Horizon settings were validated")
    return value


def configured_horizon(settings: HostSettings) -> HorizonSettings | None:
    """The host's Horizon settings where horizon_environments configures Horizon there."""
    horizon = horizon_of(settings)
    return horizon if horizon.configured else None
