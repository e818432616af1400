"""Validate the redis_queue role's variables into typed settings before any host is touched.

Values are normalised to what Redis itself answers to CONFIG GET (bytes, yes/no, the save
pairs on one line), so "already right" is a plain string comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.inventory.validators import NON_NEGATIVE, absolute_path, got, name, required

KIND = "redis"

# Redis's own units: k/m/g are powers of 1000, kb/mb/gb of 1024.
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 10**6,
    "mb": 1024**2,
    "g": 10**9,
    "gb": 1024**3,
}
_MEMORY = re.compile(r"(\d+)\s*([a-z]*)")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]+|[A-Za-z0-9.-]+")
POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)
FSYNC = ("always", "everysec", "no")
# Inventory variable → Redis parameter, in the order they are written and set.
PARAMETERS = {
    "redis_queue_maxmemory": "maxmemory",
    "redis_queue_maxmemory_policy": "maxmemory-policy",
    "redis_queue_timeout": "timeout",
    "redis_queue_tcp_keepalive": "tcp-keepalive",
    "redis_queue_appendonly": "appendonly",
    "redis_queue_appendfsync": "appendfsync",
    "redis_queue_save": "save",
}
REDIS_GROUP = "redis"
EVICTION_RULE = (
    "queue lists have no TTL, so an evicting maxmemory-policy drops queued jobs silently "
    "when memory is full (queue pitfall 5: noeviction for queue Redis)"
)


@dataclass(frozen=True)
class RedisSettings:
    # "": the first of /etc/redis/redis.conf and /etc/redis.conf that exists on the host.
    config: str
    dropin: str
    # "" / None: from the main configuration (bind, port), else 127.0.0.1:6379.
    address: str
    port: int | None
    user: str | None
    password: str | None
    # Redis parameter → value as CONFIG GET prints it; unmanaged parameters are left out.
    values: tuple[tuple[str, str], ...]
    eviction_reason: str
    # Only members of the `redis` group run Redis; tune-redis skips every other host.
    in_group: bool = True

    @property
    def configured(self) -> bool:
        return self.in_group and bool(self.values)


def _memory(host: Host, path: str, value: Any) -> str:
    if type(value) is int and value >= 0:
        return str(value)
    match = _MEMORY.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None or match[2] not in _UNITS:
        raise host.error(
            path, f'must be bytes (an integer) or a size such as "512mb" or "2gb", {got(value)}'
        )
    return str(int(match[1]) * _UNITS[match[2]])


def _choice(choices: tuple[str, ...]) -> Any:
    def check(host: Host, path: str, value: Any) -> str:
        # YAML 1.1 reads a bare `no` as false.
        if value is False and "no" in choices:
            return "no"
        if not isinstance(value, str) or value not in choices:
            raise host.error(path, f"must be one of {', '.join(choices)}, {got(value)}")
        return value

    return check


def _yes_no(host: Host, path: str, value: Any) -> str:
    if not isinstance(value, bool):
        raise host.error(path, f"must be true or false, {got(value)}")
    return "yes" if value else "no"


def _save(host: Host, path: str, value: Any) -> str:
    if not isinstance(value, list):
        raise host.error(path, f"must be a list of [seconds, changes] pairs, {got(value)}")
    numbers: list[str] = []
    for index, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise host.error(f"{path}[{index}]", f"must be [seconds, changes], {got(pair)}")
        for part, item in zip(("seconds", "changes"), pair, strict=True):
            if type(item) is not int or item < 1:
                raise host.error(f"{path}[{index}]", f"{part} must be an integer >= 1, {got(item)}")
            numbers.append(str(item))
    return " ".join(numbers)


_CHECKS = {
    "maxmemory": _memory,
    "maxmemory-policy": _choice(POLICIES),
    "timeout": lambda h, p, v: str(NON_NEGATIVE(h, p, v)),
    "tcp-keepalive": lambda h, p, v: str(NON_NEGATIVE(h, p, v)),
    "appendonly": _yes_no,
    "appendfsync": _choice(FSYNC),
    "save": _save,
}


def _secret(host: Host, key: str) -> str | None:
    value = required(host, key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(c in value for c in "\0\r\n"):
        # The value itself is never repeated in a message.
        raise host.error(key, "must be null or a non-empty string on one line")
    return value


def redis_settings(host: Host) -> RedisSettings:
    """The redis_queue role's settings of one host (call after settings.host_settings)."""
    values: list[tuple[str, str]] = []
    for key, parameter in PARAMETERS.items():
        raw = required(host, key)
        if raw is not None:
            values.append((parameter, _CHECKS[parameter](host, key, raw)))
    reason = required(host, "redis_queue_allow_eviction_reason")
    if not isinstance(reason, str):
        raise host.error("redis_queue_allow_eviction_reason", f"must be a string, {got(reason)}")
    reason = " ".join(reason.split())
    policy = dict(values).get("maxmemory-policy")
    if policy is not None and policy != "noeviction" and not reason:
        raise host.error(
            "redis_queue_maxmemory_policy",
            f"{policy} is refused: {EVICTION_RULE}. Use noeviction, or state why eviction is "
            "acceptable here in redis_queue_allow_eviction_reason",
        )
    config = required(host, "redis_queue_config")
    address = required(host, "redis_queue_address")
    if not isinstance(address, str) or (address and not _ADDRESS.fullmatch(address)):
        raise host.error(
            "redis_queue_address", f"must be an IP address or host name, {got(address)}"
        )
    port = required(host, "redis_queue_port")
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        raise host.error("redis_queue_port", f"must be null or a port 1-65535, {got(port)}")
    user = required(host, "redis_queue_user")
    return RedisSettings(
        config=absolute_path(host, "redis_queue_config", config) if config != "" else "",
        dropin=absolute_path(host, "redis_queue_dropin", required(host, "redis_queue_dropin")),
        address=address,
        port=port,
        user=None if user is None else name(host, "redis_queue_user", user),
        password=_secret(host, "redis_queue_password"),
        values=tuple(values),
        eviction_reason=reason if policy not in (None, "noeviction") else "",
        in_group=REDIS_GROUP in host.groups,
    )


def redis_of(settings: HostSettings) -> RedisSettings:
    """The host's redis_queue settings, validated when the host was selected."""
    value = settings.kinds[KIND]
    if not isinstance(value, RedisSettings):
        raise TypeError(f"{settings.name}: no Redis settings were validated")
    return value
