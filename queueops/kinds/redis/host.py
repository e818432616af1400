"""tune-redis's host half: read the Redis server's configuration and live values, then write
the drop-in, include it once, and CONFIG SET the values live, all undone on a refusal."""

from __future__ import annotations

import contextlib
import os

from queueops.agent.common import AgentError, file_info, read_text, sha256_file
from queueops.agent.hostlock import HostLock, lock_holder
from queueops.agent.redis_client import RedisClient, RedisReply, open_redis
from queueops.agent.transaction import require_unchanged, restore_changes, write_changes
from queueops.kinds.redis.protocol import INCLUDE_COMMENT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.kinds.redis.protocol import (
        RedisApplied,
        RedisApplyRequest,
        RedisFacts,
        RedisFactsRequest,
        RedisTarget,
    )
    from queueops.protocol import Facts

REDIS_CONFIGS = ("/etc/redis/redis.conf", "/etc/redis.conf")


def redis_main_config(request: RedisTarget) -> str:
    if request.get("config"):
        if not os.path.exists(request["config"]):
            raise AgentError(f"{request['config']} (redis_queue_config) does not exist")
        return str(request["config"])
    for path in REDIS_CONFIGS:
        if os.path.exists(path):
            return path
    raise AgentError(
        f"no Redis configuration found ({' or '.join(REDIS_CONFIGS)}): is redis-server installed?"
    )


def redis_directives(text: str) -> list[tuple[str, list[str]]]:
    """(name, arguments) of each directive line of a redis.conf, comments left out."""
    found = []
    for raw in text.splitlines():
        words = raw.strip().split()
        if words and not words[0].startswith("#"):
            found.append((words[0].lower(), [w.strip("\"'") for w in words[1:]]))
    return found


def redis_endpoint(
    address: str, port: int | None, directives: list[tuple[str, list[str]]]
) -> tuple[str, int]:
    """The inventory's address and port, or else the main configuration's bind and port."""
    if not address:
        binds = [args for name, args in directives if name == "bind" and args]
        address = binds[-1][0].lstrip("-") if binds else "127.0.0.1"
        if address in ("*", "0.0.0.0"):
            address = "127.0.0.1"
        elif address in ("::", "::*"):
            address = "::1"
    if not port:
        ports = [args[0] for name, args in directives if name == "port" and args]
        port = int(ports[-1]) if ports and ports[-1].isdigit() else 6379
    return address, int(port)


def config_password(directives: list[tuple[str, list[str]]]) -> str | None:
    """The main configuration's (last) `requirepass`, None when it sets none."""
    passes = [args[0] for name, args in directives if name == "requirepass" and args]
    return passes[-1] if passes else None


def with_include(text: str, dropin: str) -> str:
    """The main configuration with the drop-in's `include` appended (it must win)."""
    separator = "" if text.endswith("\n") or not text else "\n"
    return f"{text}{separator}\n{INCLUDE_COMMENT}\ninclude {dropin}\n"


def redis_connect(request: RedisTarget, config: str, text: str) -> tuple[RedisClient, str]:
    """An authenticated connection, and `address:port` for messages (never the password)."""
    directives = redis_directives(text)
    address, port = redis_endpoint(request["address"], request["port"], directives)
    where = f"{address}:{port}"
    password, source = request.get("password"), "redis_queue_password of the inventory"
    if password is None:
        password = config_password(directives)
        source = f"requirepass of {config}" if password is not None else ""
    client = open_redis(
        address,
        port,
        where,
        password,
        request.get("user"),
        refused=f"the credentials ({source})",
        hint=f"set redis_queue_password, or requirepass in {config}",
    )
    return client, where


def has_include(text: str, dropin: str) -> bool:
    return any(name == "include" and args[:1] == [dropin] for name, args in redis_directives(text))


def redis_facts(request: RedisFactsRequest) -> RedisFacts:
    config = redis_main_config(request)
    text = read_text(config)
    if text is None:
        raise AgentError(f"cannot read {config}")
    client, where = redis_connect(request, config, text)
    try:
        live = {p: client.config_get(p) for p in request["parameters"]}
        info = client.info()
    except (RedisReply, OSError) as exc:
        raise AgentError(f"Redis at {where}: {exc}") from None
    finally:
        client.close()
    return {
        "os_release": read_text("/etc/os-release") or "",
        "config": config,
        "config_sha256": sha256_file(config),
        "include": has_include(text, request["dropin"]),
        "dropin": file_info(request["dropin"]),
        "address": where,
        "live": live,
        "used_memory": int(info.get("used_memory", "0") or 0),
        "redis_version": info.get("redis_version"),
        "pid": int(info.get("process_id", "0") or 0),
        "lock": lock_holder(),
    }


# What status, verify and metrics show of a Redis server, read live.
HEALTH_PARAMETERS = ("maxmemory", "maxmemory-policy", "appendonly", "appendfsync", "save")


def redis_health(request: RedisTarget) -> dict[str, Any]:
    """The server as it runs: up and answering with its password, memory against maxmemory,
    the eviction policy, clients, refused connections, persistence. Never raises: a server
    that is down is an answer too."""
    try:
        config = redis_main_config(request)
        client, where = redis_connect(request, config, read_text(config) or "")
    except AgentError as exc:
        return {"up": False, "error": str(exc)}
    try:
        live = {p: client.config_get(p) for p in HEALTH_PARAMETERS}
        info = client.info()
    except (RedisReply, OSError, AgentError) as exc:
        return {"up": False, "error": f"Redis at {where}: {exc}", "address": where}
    finally:
        client.close()

    def number(key: str) -> int:
        value = info.get(key, "0")
        return int(value) if value.isdigit() else 0

    return {
        "up": True,
        "error": None,
        "address": where,
        "version": info.get("redis_version"),
        "pid": number("process_id"),
        "used_memory": number("used_memory"),
        "maxmemory": int(live["maxmemory"]) if live["maxmemory"].isdigit() else 0,
        "policy": live["maxmemory-policy"],
        "connected_clients": number("connected_clients"),
        "rejected_connections": number("rejected_connections"),
        "persistence": {
            "appendonly": live["appendonly"],
            "appendfsync": live["appendfsync"],
            "save": live["save"],
            "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
            "aof_last_write_status": info.get("aof_last_write_status"),
        },
    }


def redis_apply(request: RedisApplyRequest) -> RedisApplied:
    config = request["config"]
    with HostLock(dict(request["holder"])):
        require_unchanged(config, request["config_sha256"])
        change = request["dropin"]
        if change:
            require_unchanged(change["path"], change["before"])
        text = read_text(config) or ""
        client, where = redis_connect(request, config, text)
        try:
            return _redis_apply(request, client, where, text)
        finally:
            client.close()


def _redis_apply(
    request: RedisApplyRequest, client: RedisClient, where: str, text: str
) -> RedisApplied:
    config = request["config"]
    wanted: list[list[str]] = request["set"]
    try:
        old = {p: client.config_get(p) for p, _ in wanted}
    except (RedisReply, OSError) as exc:
        raise AgentError(f"Redis at {where}: {exc}") from None
    st = os.stat(config)
    changes = []
    if request["dropin"]:
        # Readable by whoever may read the main config (often root:redis 0640), no more.
        changes.append(
            {**request["dropin"], "mode": st.st_mode & 0o7777, "owner": [st.st_uid, st.st_gid]}
        )
    if request["include"]:
        changes.append(
            {
                "path": config,
                "before": request["config_sha256"],
                "after": with_include(text, request["dropin_path"]),
            }
        )
    try:
        written = write_changes(changes, request["backup_dir"], request["backups_keep"])
    except OSError as exc:
        raise AgentError(f"{exc} — nothing was left changed") from None
    done: list[str] = []
    try:
        for parameter, value in wanted:
            try:
                client.call("CONFIG", "SET", parameter, value)
            except RedisReply as exc:
                raise AgentError(f"Redis refused {parameter} {value!r}: {exc}") from None
            done.append(parameter)
        for parameter, value in wanted:
            now = client.config_get(parameter)
            if now != value:
                raise AgentError(f"CONFIG GET {parameter} says {now!r} after setting {value!r}")
    except (AgentError, RedisReply, OSError) as exc:
        undone = []
        for parameter in reversed(done):
            with contextlib.suppress(RedisReply, OSError):
                client.call("CONFIG", "SET", parameter, old[parameter])
                undone.append(parameter)
        restore_changes(written)
        note = "rolled back: files restored"
        if done:
            note += f", {', '.join(reversed(undone))} set back to their previous values"
        raise AgentError(f"{exc} — {note}") from None
    return {"old": old, "new": {p: client.config_get(p) for p, _ in wanted}}


def observe(request: RedisTarget, facts: Facts) -> dict[str, Any]:
    """A host of the redis group: its Redis server as it runs (redis_health)."""
    return redis_health(request)


# Its figures in `invoke metrics` (redis_up is every observation's: the app's Redis too).
METRICS = {
    "redis_memory_used_bytes": ("gauge", "Memory the Redis server uses (used_memory)."),
    "redis_memory_max_bytes": ("gauge", "The Redis server's maxmemory (0: no limit)."),
    "redis_connected_clients": ("gauge", "Clients connected to the Redis server."),
    "redis_rejected_connections_total": (
        "counter",
        "Connections the Redis server refused (maxclients reached).",
    ),
}


def metric_samples(server: dict[str, Any], base: dict[str, str]) -> list[Any]:
    samples: list[Any] = [("redis_up", base, 1 if server["up"] else 0)]
    if server["up"]:
        for metric, key in (
            ("redis_memory_used_bytes", "used_memory"),
            ("redis_memory_max_bytes", "maxmemory"),
            ("redis_connected_clients", "connected_clients"),
            ("redis_rejected_connections_total", "rejected_connections"),
        ):
            samples.append((metric, base, server[key]))
    return samples


OPERATIONS: dict[str, Operation] = {"redis_facts": redis_facts, "redis_apply": redis_apply}
