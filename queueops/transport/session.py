"""One SSH connection per host (Fabric, on paramiko), and the agent requests sent over it.

How a host is reached follows OpenSSH and Ansible: the inventory's ansible_* variables first,
then ~/.ssh/config (Host aliases, HostName, User, Port, IdentityFile, ProxyJump,
ProxyCommand, UserKnownHostsFile), keys from ansible_ssh_private_key_file, ~/.ssh/config or
ssh-agent. Bastions are one shared connection per run; host keys are checked strictly
(transport/hostkeys.py); a connection refused or reset before authentication is retried.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import paramiko
from fabric import Config as FabricConfig
from fabric import Connection as FabricConnection

from queueops.agent import facts as facts_module
from queueops.errors import RemoteError
from queueops.inventory.host import Connection, Hop
from queueops.protocol import Facts, FactsRequest
from queueops.shell import cmd
from queueops.transport.agent import AGENT_TIMEOUT
from queueops.transport.assembly import program
from queueops.transport.hostkeys import HostKeyPolicy, KnownHosts, ansible_says_accept

CONNECT_TIMEOUT = 10
# paramiko logs what its transport threads see: with no handler of its own, Python prints
# the warnings and errors on stderr ("Socket exception: Bad file descriptor (9)" when a
# refused host's connection is closed). Every host's outcome is in the report instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
# Delays before each new attempt: short first, doubling, capped (5 s of waiting at most).
RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6, 2.0)
T = TypeVar("T")
Request = TypeVar("Request", bound=Mapping[str, Any])
Answer = TypeVar("Answer")


def retryable(exc: BaseException) -> bool:
    """Refused or reset before authentication: sshd restarting, or dropping connections over
    its MaxStartups during a burst. Authentication failures and host-key refusals never are."""
    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException):
        return False
    if isinstance(exc, RemoteError):
        return False
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return True
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError | ConnectionAbortedError):
        return True
    if isinstance(exc, EOFError):
        return True
    text = str(exc).lower()
    return isinstance(exc, paramiko.SSHException) and (
        "protocol banner" in text or "reset by peer" in text or "eof" in text
    )


def with_retries(attempt: Callable[[], T], counted: Callable[[], None]) -> T:
    """`attempt()` again after each retryable failure, RETRY_DELAYS apart; `counted()` each try."""
    for delay in (*RETRY_DELAYS, None):
        counted()
        try:
            return attempt()
        except Exception as exc:  # paramiko raises many unrelated types
            if delay is None or not retryable(exc):
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


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
    # Connection attempts to the host itself (more than 1: it was retried).
    attempts: int = 0


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


def connect_kwargs(target: Connection) -> dict[str, Any]:
    """Key login as OpenSSH does it: the inventory's key file, else ~/.ssh/config's
    IdentityFile and the default keys; ssh-agent (SSH_AUTH_SOCK) in either case."""
    kwargs: dict[str, Any] = {"allow_agent": True}
    if target.key_file:
        kwargs["key_filename"] = [target.key_file]
        kwargs["look_for_keys"] = False
    return kwargs


def parse_jump(text: str) -> tuple[Hop, ...]:
    """~/.ssh/config's ProxyJump value as hops (`none` means no jump)."""
    hops = []
    for part in text.split(","):
        part = part.strip()
        if not part or part == "none":
            continue
        user, _, rest = part.rpartition("@")
        host, _, port = rest.partition(":")
        hops.append(Hop(host, user or None, int(port) if port.isdigit() else None))
    return tuple(hops)


@dataclass(frozen=True)
class Resolved:
    """Where a host really is once ~/.ssh/config has had its say (nothing is connected)."""

    host: str
    port: int
    user: str
    key_files: tuple[str, ...]
    hops: tuple[Hop, ...]
    proxy_command: str | None
    # ~/.ssh/config's UserKnownHostsFile for the host, if it names one.
    known_hosts_file: str | None


def fabric_connection(target: Connection, config: FabricConfig | None = None) -> FabricConnection:
    """The host's Fabric connection, not opened and without a gateway yet. With `config` (one
    per run, ~/.ssh/config read once) it is cloned instead of every file being read again."""
    return FabricConnection(
        host=target.host,
        user=target.user,
        port=target.port,
        connect_timeout=CONNECT_TIMEOUT,
        connect_kwargs=connect_kwargs(target),
        gateway=False,
        config=config,
    )


def resolve(target: Connection, probe: FabricConnection | None = None) -> Resolved:
    """The inventory's values, and ~/.ssh/config's where the inventory is silent (as ssh reads
    it: HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand, UserKnownHostsFile), from
    the host's own Fabric connection when there is one already."""
    probe = probe or fabric_connection(target)
    config = probe.ssh_config
    known = config.get("userknownhostsfile")
    return Resolved(
        host=probe.host,
        port=int(probe.port),
        user=probe.user,
        key_files=(target.key_file,)
        if target.key_file
        else tuple(probe.connect_kwargs.get("key_filename") or ()),
        hops=target.jumps or parse_jump(config.get("proxyjump", "")),
        proxy_command=target.proxy_command or config.get("proxycommand"),
        known_hosts_file=known.split()[0] if isinstance(known, str) and known else None,
    )


def accepts_new(target: Connection, accept_new: bool) -> bool:
    """Unknown host keys are accepted (and recorded) for this host in this run."""
    return accept_new or target.host_key_checking == "accept-new" or ansible_says_accept()


def host_key_policy(target: Connection, where: Resolved, accept_new: bool) -> HostKeyPolicy:
    return HostKeyPolicy.resolve(
        target.known_hosts_file, where.known_hosts_file, accepts_new(target, accept_new)
    )


def known_as(conn: FabricConnection) -> str:
    """The name paramiko looks a host's key up by: its address, `[address]:port` off 22."""
    port = int(conn.port)
    return conn.host if port == 22 else f"[{conn.host}]:{port}"


class Gateways:
    """The bastions of one run, each connected once and shared by every host behind it
    (paramiko opens one direct-tcpip channel per host on the bastion's connection), and the
    run's SSH configuration and known_hosts files, each read once."""

    def __init__(self, accept_new: bool) -> None:
        self.accept_new = accept_new
        self.config = FabricConfig()
        self.known_hosts = KnownHosts()
        self._lock = threading.Lock()
        self._open: dict[tuple[Hop, ...], FabricConnection] = {}

    def through(self, hops: tuple[Hop, ...], target: Connection) -> FabricConnection:
        with self._lock:
            previous: FabricConnection | None = None
            for depth in range(1, len(hops) + 1):
                chain = hops[:depth]
                if chain not in self._open:
                    self._open[chain] = self._connect(chain[-1], previous, target)
                previous = self._open[chain]
            assert previous is not None
            return previous

    def _connect(
        self, hop: Hop, previous: FabricConnection | None, target: Connection
    ) -> FabricConnection:
        conn = FabricConnection(
            host=hop.host,
            user=hop.user,
            port=hop.port,
            connect_timeout=CONNECT_TIMEOUT,
            connect_kwargs=connect_kwargs(target),
            gateway=previous or False,
            config=self.config,
        )
        known = conn.ssh_config.get("userknownhostsfile")
        policy = HostKeyPolicy.resolve(
            target.known_hosts_file,
            known.split()[0] if isinstance(known, str) and known else None,
            accepts_new(target, self.accept_new),
        )
        policy.apply(conn.client, f"bastion {hop}", known_as(conn), self.known_hosts)
        try:
            with_retries(lambda: open_connection(conn), lambda: None)
        except RemoteError:
            raise
        except Exception as exc:
            raise RemoteError(f"cannot connect to the bastion {hop}: {exc}") from None
        return conn

    def close(self) -> None:
        """The run's end: its bastions closed, and its hosts whose keys went unchecked named."""
        with self._lock:
            for conn in reversed(list(self._open.values())):
                conn.close()
            self._open.clear()
        self.known_hosts.warn_blind()


def open_connection(conn: FabricConnection) -> None:
    """conn.open() on a TCP socket with Nagle off from its first byte (when no gateway carries
    the connection). paramiko connects with Nagle on: each small packet of the handshake sent
    behind an unacknowledged one waits for the peer's delayed ACK (26 ms → 68 ms a connection
    on loopback), and so would every small command after it."""
    sock = None
    if not conn.gateway:
        timeout = conn.connect_timeout or CONNECT_TIMEOUT
        sock = socket.create_connection((conn.host, int(conn.port)), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.connect_kwargs["sock"] = sock
    try:
        conn.open()
    except BaseException:
        if sock is not None:
            sock.close()
        raise


# With a sudo password: read it from the first line of stdin (never argv), have sudo check and
# cache the credential with it (-v reads only that line, so a wrong password cannot eat the
# program), then run the command with sudo -n (not exec'd: with no terminal, sudo's cached
# credential belongs to its parent process, this shell). Where sudo caches nothing, the
# password waits in a 0600 file (mktemp's) that sudo's askpass (cat, given the file as its
# "prompt") reads only if sudo asks: the command's stdin is the program alone either way.
_SUDO_WITH_PASSWORD = (
    "IFS= read -r pw; "
    "if ! sudo -n true 2>/dev/null; then "
    "printf '%s\\n' \"$pw\" | sudo -S -p '' -v 2>/dev/null || "
    "{ echo 'sudo refused ansible_become_password' >&2; exit 1; }; fi; "
    "if sudo -n true 2>/dev/null; then pw=; sudo -n -- sh -c {command}; exit; fi; "
    "f=$(mktemp) || exit 1; trap 'rm -f \"$f\"' EXIT; trap 'exit 1' HUP INT TERM; "
    'printf \'%s\\n\' "$pw" > "$f"; pw=; '
    'SUDO_ASKPASS=/bin/cat sudo -A -p "$f" -- sh -c {command}'
)


@dataclass
class HostSession:
    """An open connection to one host; every command of a run on that host goes through it."""

    name: str
    target: Connection
    accept_new_host_keys: bool = False
    gateways: Gateways | None = None
    counters: Counters = field(default_factory=Counters)
    _conn: FabricConnection | None = None

    def open(self) -> None:
        target = self.target
        if self.gateways is None:
            self.gateways = Gateways(accepts_new(target, self.accept_new_host_keys))
        conn = fabric_connection(target, self.gateways.config)
        where = resolve(target, conn)
        address = f"{where.user}@{where.host}:{where.port}"
        conn.gateway = where.proxy_command or False
        if where.hops:
            try:
                conn.gateway = self.gateways.through(where.hops, target)
            except RemoteError as exc:
                raise RemoteError(f"{self.name}: cannot connect to {address}: {exc}") from None
        policy = host_key_policy(target, where, self.accept_new_host_keys)
        policy.apply(conn.client, self.name, known_as(conn), self.gateways.known_hosts)

        def counted() -> None:
            self.counters.attempts += 1

        try:
            with_retries(lambda: open_connection(conn), counted)
        except RemoteError:
            raise
        except Exception as exc:  # paramiko raises many unrelated types
            tries = self.counters.attempts
            after = f" (after {tries} attempts)" if tries > 1 else ""
            raise RemoteError(
                f"{self.name}: cannot connect to {address}{after}: {exc or type(exc).__name__}"
            ) from None
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
        target = self.target
        if not target.become or self._conn is None or self._conn.user == "root":
            return command
        if target.become_password is None:
            return "sudo -n -- sh -c " + cmd(command)
        return "sh -c " + cmd(_SUDO_WITH_PASSWORD.replace("{command}", cmd(command)))

    def run(self, command: str, stdin: str | None = None, timeout: float = AGENT_TIMEOUT) -> Result:
        """Run a command built with queueops.shell; never raises on a non-zero exit.

        Goes to the paramiko channel under Fabric's connection: Invoke's stdin pump reads a
        non-terminal stream one character per 10 ms, which turns sending the agent into minutes.
        """
        if self._conn is None:
            self.open()
        assert self._conn is not None
        self.counters.commands += 1
        password = self.target.become_password
        if password is not None and self._privileged(command) != command:
            stdin = password + "\n" + (stdin or "")
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
        self,
        module: str,
        request: Mapping[str, Any],
        timeout: float = AGENT_TIMEOUT,
        also: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Send the agent with one request for the host-side `module` (and the modules `also`
        names, which the request asks for by name); return its JSON answer or raise its
        error."""
        # -S: the agent needs no site-packages, and skipping site saves ~15 ms per run.
        text = program(module, request, also=tuple(also))
        result = self.run("python3 -I -S -", stdin=text, timeout=timeout)
        return parse_answer(self.name, result.stdout, result.stderr, result.exited)

    def call(
        self,
        operation: Callable[[Request], Answer],
        request: Request,
        timeout: float = AGENT_TIMEOUT,
        also: Sequence[str] = (),
    ) -> Answer:
        """One round trip to `operation` of a host module, typed: the request is checked
        against the operation's parameter and the answer has the operation's return type, so
        a key renamed on either side fails mypy."""
        return cast(Answer, self.agent(operation.__module__, request, timeout, also))

    def facts(self, request: FactsRequest) -> Facts:
        """One facts round trip (queueops/agent/facts.py): reads the host, changes nothing."""
        return self.call(facts_module.facts, request)
