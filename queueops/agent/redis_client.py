"""Redis without redis-cli: just enough RESP2, and the one way to reach the app's queue Redis.

Passwords travel only to Redis: never on a command line, in an answer or in a message.
"""

from __future__ import annotations

import contextlib
import socket

from queueops.agent.common import AgentError
from queueops.agent.laravel import app_config, queue_redis

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RedisReply(AgentError):
    """An error reply from Redis (-ERR ..., -WRONGPASS ...), reported as the host's error."""


class RedisClient:
    """AUTH, SELECT, CONFIG, INFO, EVAL and the list/set reads the tasks need."""

    def __init__(self, address: str, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection((address, port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()

    def call(self, *args: str) -> Any:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self) -> Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2].decode(errors="replace")
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisReply(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            return self.reader.read(int(rest) + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise OSError(f"unexpected reply from Redis: {line[:40]!r}")

    def config_get(self, parameter: str) -> str:
        reply = self.call("CONFIG", "GET", parameter)
        if not reply or len(reply) < 2:
            raise AgentError(f"Redis does not know the parameter {parameter}")
        return str(reply[1])

    def info(self) -> dict[str, str]:
        fields = {}
        for line in str(self.call("INFO")).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        return fields


def open_redis(
    address: str,
    port: int,
    where: str,
    password: str | None,
    user: str | None = None,
    db: str = "0",
    refused: str = "",
    hint: str = "",
    timeout: float = 10,
) -> RedisClient:
    """An authenticated connection (database `db` selected), or the AgentError saying why not;
    `refused` names the credentials it refused, `hint` where to set a missing password."""
    try:
        client = RedisClient(address, port, timeout)
    except OSError as exc:
        raise AgentError(f"cannot reach Redis at {where}: {exc.strerror or exc}") from None
    try:
        if password is not None:
            client.call("AUTH", *([user] if user else []), password)
        if db != "0":
            client.call("SELECT", db)
        client.call("PING")
    except RedisReply as exc:
        client.close()
        if password is None:
            raise AgentError(f"Redis at {where} needs a password ({exc}): {hint}") from None
        raise AgentError(f"Redis at {where} refused {refused}: {exc}") from None
    except OSError as exc:
        client.close()
        raise AgentError(f"cannot talk to Redis at {where}: {exc.strerror or exc}") from None
    return client


def connect_app_redis(conf: dict[str, Any], timeout: float = 10) -> RedisClient:
    """A connection to one of the app's Redis connections, as agent.laravel resolves them
    (redis_connection, queue_redis)."""
    return open_redis(
        conf["host"],
        conf["port"],
        redis_endpoint(conf),
        conf["password"],
        conf["username"],
        conf["db"],
        refused="its .env credentials",
        hint="the app's configuration sets no Redis password (REDIS_PASSWORD)",
        timeout=timeout,
    )


def redis_endpoint(conf: dict[str, Any]) -> str:
    """host:port/db of a resolved Redis connection: what may be said of it."""
    return f"{conf['host']}:{conf['port']}/{conf['db']}"


def app_redis(
    app_path: str, php: str, user: str | None, connection: str = "redis", timeout: float = 10
) -> tuple[RedisClient, dict[str, Any]]:
    """The app's queue Redis, reached with the app's own resolved configuration; and what may
    be said of it: `endpoint` (host:port/db), the key `prefix`, the connection's `queue`."""
    conf = queue_redis(app_config(app_path, php, user)[0], connection)
    client = connect_app_redis(conf, timeout)
    return client, {
        "endpoint": redis_endpoint(conf),
        "prefix": conf["prefix"],
        "queue": conf["queue"],
    }
