"""Redis without redis-cli: just enough RESP2, and the one way to reach the app's queue Redis.

Passwords travel only to Redis: never on a command line, in an answer or in a message.
"""

from __future__ import annotations

import contextlib
import os
import socket

from queueops.agent.common import AgentError
from queueops.agent.laravel import app_config, queue_redis

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RedisReply(AgentError):
    """An error reply from Redis (-ERR ..., -WRONGPASS ...), reported as the host's error."""


class RedisClient:
    """AUTH, SELECT, CONFIG, INFO, EVAL and the list/set reads the tasks need; over TLS when
    `tls` (laravel.redis_tls) says so, before a byte of AUTH is sent."""

    def __init__(
        self, address: str, port: int, timeout: float = 10, tls: dict[str, Any] | None = None
    ) -> None:
        self.sock = socket.create_connection((address, port), timeout=timeout)
        if tls is not None:
            try:
                self.sock = tls_context(tls).wrap_socket(
                    self.sock, server_hostname=tls["peer_name"] or address
                )
            except BaseException:
                self.sock.close()
                raise
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


# A CA bundle larger than this is not one (Debian's whole store is ~220 KB).
CAFILE_LIMIT = 4 << 20


def read_cafile(path: str) -> str:
    """The PEM certificates of the app's cafile. Root reads a path the app's user chose: only
    a regular file (never a FIFO that would hang the run), and only its certificates go on."""
    import re
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise AgentError(f"cannot read the app's Redis CA file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AgentError(f"the app's Redis CA file {path} is not a regular file")
        text = handle.read(CAFILE_LIMIT).decode("ascii", errors="replace")
    pems = re.findall(
        r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----", text
    )
    if not pems:
        raise AgentError(f"the app's Redis CA file {path} holds no PEM certificate")
    return "\n".join(pems) + "\n"


def tls_context(tls: dict[str, Any]) -> Any:
    """The ssl context PHP would build from the app's ssl options: peer and name verified
    against the system's CA store, or only the cafile/capath the app names."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not tls["verify_peer"]:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context.check_hostname = bool(tls["verify_peer_name"])
    if tls["cafile"] or tls["capath"]:
        cadata = read_cafile(str(tls["cafile"])) if tls["cafile"] else None
        context.load_verify_locations(capath=tls["capath"], cadata=cadata)
    else:
        context.load_default_certs()
    return context


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
    tls: dict[str, Any] | None = None,
) -> RedisClient:
    """An authenticated connection (database `db` selected), or the AgentError saying why not;
    `refused` names the credentials it refused, `hint` where to set a missing password. With
    `tls`, a handshake that fails is the error: never plain TCP instead."""
    try:
        client = RedisClient(address, port, timeout, tls)
    except OSError as exc:
        if tls is not None and type(exc).__module__ == "ssl":
            detail = getattr(exc, "verify_message", None)
            reason = f"certificate verify failed: {detail}" if detail else str(exc)
            raise AgentError(f"TLS with Redis at {where} failed: {reason}") from None
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
        tls=conf["tls"],
    )


def redis_endpoint(conf: dict[str, Any]) -> str:
    """host:port/db of a resolved Redis connection (tls://… over TLS): what may be said of it."""
    scheme = "tls://" if conf.get("tls") else ""
    return f"{scheme}{conf['host']}:{conf['port']}/{conf['db']}"


def app_redis(
    app_path: str, php: str, user: str | None, connection: str = "redis", timeout: float = 10
) -> tuple[RedisClient, dict[str, Any]]:
    """The app's queue Redis, reached with the app's own resolved configuration; and what may
    be said of it: `endpoint` (host:port/db), the key `prefix`, the connection's `queue`,
    `tls` (tls_verification)."""
    conf = queue_redis(app_config(app_path, php, user)[0], connection)
    client = connect_app_redis(conf, timeout)
    return client, {
        "endpoint": redis_endpoint(conf),
        "prefix": conf["prefix"],
        "queue": conf["queue"],
        "tls": tls_verification(conf["tls"]),
    }


def tls_verification(tls: dict[str, Any] | None) -> str | None:
    """What TLS proves of the server: None over plain TCP, "verified", or what the app's
    configuration leaves unchecked."""
    if tls is None:
        return None
    if not tls["verify_peer"]:
        return "server not verified (the app sets verify_peer false)"
    if not tls["verify_peer_name"]:
        return "server name not verified (the app sets verify_peer_name false)"
    return "verified"
