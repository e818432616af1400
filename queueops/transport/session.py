"""One SSH connection per host (Fabric), and the agent requests sent over it."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric import Connection as FabricConnection

from queueops.errors import RemoteError
from queueops.inventory.host import Connection
from queueops.shell import cmd
from queueops.transport.assembly import program
from queueops.transport.protocol import FactsRequest

CONNECT_TIMEOUT = 10
KNOWN_HOSTS_ENV = "QUEUEOPS_KNOWN_HOSTS"
FACTS_MODULE = "queueops.agent.facts"


def known_hosts_file() -> Path:
    """The host keys on record, for every way queueops reaches a host (sessions and verify's
    ssh): a host whose key differs from its record is refused before anything runs there; a
    host with no record is accepted for the run and not recorded."""
    return Path(os.environ.get(KNOWN_HOSTS_ENV, "~/.ssh/known_hosts")).expanduser()


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exited: int

    @property
    def ok(self) -> bool:
        return self.exited == 0


def _drain(stream: Any) -> str:
    return bytes(stream.read()).decode(errors="replace")


@dataclass
class Counters:
    connections: int = 0
    commands: int = 0


def parse_answer(name: str, stdout: str, stderr: str, exited: int) -> dict[str, Any]:
    """The agent's JSON answer, or the RemoteError of a host whose agent failed or refused."""
    try:
        answer: dict[str, Any] = json.loads(stdout)
    except ValueError:
        tail = (stdout + stderr).strip()[-600:]
        raise RemoteError(f"{name}: the queueops agent failed (exit {exited}): {tail}") from None
    if not answer.get("ok"):
        raise RemoteError(f"{name}: {answer.get('error')}")
    return answer


@dataclass
class HostSession:
    """An open connection to one host; every command of a run on that host goes through it."""

    name: str
    target: Connection
    counters: Counters = field(default_factory=Counters)
    _conn: FabricConnection | None = None

    def open(self) -> None:
        kwargs: dict[str, Any] = {"allow_agent": False}
        if self.target.key_file:
            kwargs["key_filename"] = self.target.key_file
            kwargs["look_for_keys"] = False
        conn = FabricConnection(
            host=self.target.host,
            user=self.target.user,
            port=self.target.port,
            connect_timeout=CONNECT_TIMEOUT,
            connect_kwargs=kwargs,
        )
        # Fabric trusts any key; a host whose key changed from the one on record must fail,
        # as with ssh and Ansible.
        known_hosts = known_hosts_file()
        try:
            if known_hosts.is_file():
                conn.client.load_system_host_keys(str(known_hosts))
            conn.open()
        except (OSError, Exception) as exc:  # paramiko raises many unrelated types
            raise RemoteError(
                f"{self.name}: cannot connect to {self.target.user}@"
                f"{self.target.host}:{self.target.port}: {exc or type(exc).__name__}"
            ) from None
        transport = conn.client.get_transport()
        # paramiko leaves Nagle on: every small command would wait ~40 ms for a delayed ACK.
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self.counters.connections += 1

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> HostSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _privileged(self, command: str) -> str:
        if self.target.become and self.target.user != "root":
            return "sudo -n -- sh -c " + cmd(command)
        return command

    def run(self, command: str, stdin: str | None = None, timeout: float = 600) -> Result:
        """Run a command built with queueops.shell; never raises on a non-zero exit.

        Goes to the paramiko channel under Fabric's connection: Invoke's stdin pump reads a
        non-terminal stream one character per 10 ms, which turns sending the agent into minutes.
        """
        if self._conn is None:
            self.open()
        assert self._conn is not None
        self.counters.commands += 1
        try:
            channel = self._conn.client.get_transport().open_session()
            channel.settimeout(timeout)
            channel.exec_command(self._privileged(command))
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            stdout = _drain(channel.makefile("rb"))
            stderr = _drain(channel.makefile_stderr("rb"))
            exited = channel.recv_exit_status()
            channel.close()
        except Exception as exc:  # connection dropped, timeout: the host failed, not the run
            raise RemoteError(f"{self.name}: {command[:80]!r} failed: {exc}") from None
        return Result(stdout, stderr, exited)

    def agent(
        self, module: str, request: Mapping[str, Any], timeout: float = 600
    ) -> dict[str, Any]:
        """Send the agent with one request for the host-side `module`; return its JSON answer
        or raise its error."""
        # -S: the agent needs no site-packages, and skipping site saves ~15 ms per run.
        result = self.run("python3 -I -S -", stdin=program(module, request), timeout=timeout)
        return parse_answer(self.name, result.stdout, result.stderr, result.exited)

    def facts(self, request: FactsRequest) -> dict[str, Any]:
        """One facts round trip (queueops/agent/facts.py): reads the host, changes nothing."""
        return self.agent(FACTS_MODULE, request)
