"""One SSH connection per host (Fabric), and the agent requests sent over it."""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric import Connection as FabricConnection

from queueops import agent
from queueops.errors import RemoteError
from queueops.settings import Connection
from queueops.shell import cmd

# Marks where an agent part's host-side code starts; above it, only imports for local tools.
PART_MARKER = "# -- sent to hosts from here --"


REGISTERS = re.compile(r"""^OPERATIONS\[["']([a-z_]+)["']\]""", re.MULTILINE)


def _parts() -> dict[str, str]:
    """Host-side text of every queueops/agent_*.py part, by file name."""
    parts = {}
    for part in sorted(Path(agent.__file__).parent.glob("agent_*.py")):
        text = part.read_text()
        if PART_MARKER not in text:
            raise RuntimeError(f"{part.name} has no {PART_MARKER!r} line")
        parts[part.name] = text.split(PART_MARKER, 1)[1]
    return parts


CORE_SOURCE = Path(agent.__file__).read_text()
PARTS = _parts()
# Which part registers which operation: a run sends agent.py plus only the part it needs.
PART_OF_OP = {op: name for name, text in PARTS.items() for op in REGISTERS.findall(text)}


def agent_source(op: str | None = None) -> str:
    """agent.py, then the part that registers `op` (every part when op is None), as one program.

    Parts keep the shared agent file small and let each feature own its host-side code;
    they register their operations in agent.OPERATIONS and use only agent.py's names.
    """
    if op is None:
        return "\n".join([CORE_SOURCE, *PARTS.values()])
    part = PART_OF_OP.get(op)
    return CORE_SOURCE if part is None else CORE_SOURCE + "\n" + PARTS[part]


def agent_program(request: dict[str, Any]) -> str:
    """The whole program for one request: the agent it needs, then the call with the request."""
    return agent_source(request["op"]) + f"\nmain(json.loads({json.dumps(request)!r}))\n"


CONNECT_TIMEOUT = 10


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
        # as with ssh and Ansible. Unknown hosts are accepted (and not recorded).
        known_hosts = Path(os.environ.get("QUEUEOPS_KNOWN_HOSTS", "~/.ssh/known_hosts"))
        known_hosts = known_hosts.expanduser()
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

    def agent(self, request: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
        """Send the agent with one request; return its JSON answer or raise its error."""
        program = agent_program(request)
        # -S: the agent needs no site-packages, and skipping site saves ~15 ms per run.
        result = self.run("python3 -I -S -", stdin=program, timeout=timeout)
        try:
            answer: dict[str, Any] = json.loads(result.stdout)
        except ValueError:
            tail = (result.stdout + result.stderr).strip()[-600:]
            raise RemoteError(
                f"{self.name}: the queueops agent failed (exit {result.exited}): {tail}"
            ) from None
        if not answer.get("ok"):
            raise RemoteError(f"{self.name}: {answer.get('error')}")
        return answer
