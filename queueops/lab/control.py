"""Start, stop and inspect the lab fleet on this machine.

A host is one `unshare --mount --pid --uts --fork --kill-child` process whose child is the
host's PID 1 (hostinit.py). Killing the unshare process kills the child, which tears down
the whole PID namespace, and with it the mount namespace and the overlay: nothing to unmount
by hand. Running hosts are found from /proc (the spec path in their command line), so a lost
state file can never leave hosts that `down` does not see.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from queueops.errors import LabError, UsageError
from queueops.lab import prepare
from queueops.lab.fleet import (
    APP_PATH,
    DB_PORTS,
    DEFAULT_DATABASE,
    REDIS_TLS_PORT,
    Database,
    LabHost,
    LabPaths,
    database_kind,
    fleet,
    horizon_contract,
)
from queueops.shell import cmd, quote

SYSTEM_PYTHON = "/usr/bin/python3"
REQUIRED_COMMANDS = ("unshare", "pivot_root", "mount", "sshd", "ssh-keygen", "php")
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunningHost:
    name: str
    address: str
    flavour: str
    role: str
    pid: int  # the unshare process on this machine
    database: str  # db1's server, as this host was started with


def preflight() -> None:
    if not sys.platform.startswith("linux"):
        raise UsageError(f"the lab needs Linux namespaces and overlayfs; this is {sys.platform}")
    if os.geteuid() != 0:
        raise UsageError(
            "the lab needs root (mount, PID and UTS namespaces, overlay mounts): run as root"
        )
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None and not _sbin(c)]
    for path in (SYSTEM_PYTHON, "/usr/bin/supervisord", "/usr/bin/redis-server", "/usr/sbin/cron"):
        if not Path(path).exists():
            missing.append(path)
    if missing:
        raise UsageError(
            "the lab needs these commands, missing here: " + ", ".join(missing)
            + " (scripts/demo and scripts/test install them with apt-get)"
        )  # fmt: skip


def _sbin(command: str) -> bool:
    return any(Path(d, command).exists() for d in ("/usr/sbin", "/sbin"))


@contextmanager
def locked(paths: LabPaths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def running_hosts(paths: LabPaths) -> dict[str, RunningHost]:
    hosts_dir = str(paths.root / "hosts") + "/"
    found: dict[str, RunningHost] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"unshare"):
            continue
        spec_args = [a.decode(errors="replace") for a in argv if a.endswith(b"/spec.json")]
        if not spec_args or not spec_args[0].startswith(hosts_dir):
            continue
        spec_arg = spec_args[0]
        try:
            spec = json.loads(Path(spec_arg).read_text())
        except (OSError, ValueError):
            spec = {"name": Path(spec_arg).parent.name}
        name = spec["name"]
        found[name] = RunningHost(
            name, spec.get("address", "?"), spec.get("flavour", "?"), spec.get("role", "?"),
            int(proc.name), spec.get("database", DEFAULT_DATABASE),
        )  # fmt: skip
    return found


def port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise LabError(f"cannot use {address}:{port}: {exc.strerror}") from exc
    return True


def ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5) as conn:
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def redis_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 6379), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            # Without AUTH a password-protected Redis still answers (-NOAUTH): it is up.
            return conn.recv(64)[:1] in (b"+", b"-")
    except OSError:
        return False


def accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def host_ready(paths: LabPaths, host: LabHost) -> bool:
    if not ssh_banner(host.address):
        return False
    if host.role == "redis":
        return redis_answers(host.address)
    if host.role == "database":
        # The server accepts connections before PID 1 has created the app's user and database.
        return accepts(host.address, DB_PORTS[host.database or DEFAULT_DATABASE]) and (
            f"lab host {host.name} ready" in log_tail(paths, host.name)
        )
    return True


def service_ports(host: LabHost) -> tuple[int, ...]:
    if host.role == "redis":
        return (22, 6379, REDIS_TLS_PORT)
    if host.role == "database":
        return (22, DB_PORTS[host.database or DEFAULT_DATABASE])
    return (22,)


def running_database(running: dict[str, RunningHost]) -> Database | None:
    """db1's server in the running lab (None when no host runs)."""
    kinds = {h.database for h in running.values()}
    if not kinds:
        return None
    if len(kinds) > 1:
        found = ", ".join(sorted(kinds))
        raise LabError(f"running lab hosts disagree on db1's server ({found}): invoke lab.down")
    return database_kind(kinds.pop())


def log_tail(paths: LabPaths, name: str, lines: int = 15) -> str:
    try:
        return "\n".join(paths.host_log(name).read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch(paths: LabPaths, host: LabHost) -> subprocess.Popen[bytes]:
    spec_file = paths.host_dir(host.name) / "spec.json"
    log = paths.host_log(host.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    hostinit = Path(__file__).with_name("hostinit.py")
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child",
                "--propagation", "private",
                SYSTEM_PYTHON, "-I", str(hostinit), str(spec_file), "hostinit",
            ],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def up(
    app_hosts: int = 2,
    paths: LabPaths | None = None,
    bastion: bool = False,
    database: Database | None = None,
) -> list[str]:
    """Start every lab host that is not already running; returns the names started.

    db1 runs `database`; None keeps the running lab's, or PostgreSQL when none runs. A
    running lab on another database is refused: its app hosts' .env point at that one.
    """
    paths = paths or LabPaths.default()
    preflight()
    fleet(app_hosts, bastion)  # checks --app-hosts before anything else
    with locked(paths):
        running = running_hosts(paths)
        current = running_database(running)
        if database is not None and current is not None and database != current:
            raise UsageError(
                f"the lab runs with {current} on db1; to start it with {database}, stop it "
                f"first: invoke lab.down && invoke lab.up --database {database}"
            )
        database = database or current or DEFAULT_DATABASE
        wanted = fleet(app_hosts, bastion, database)
        prepare.ensure_keys(paths)
        (paths.root / "cm").mkdir(exist_ok=True)
        hosts = fleet(
            max(app_hosts, _app_count(running)), bastion or "bastion" in running, database
        )
        known = {h.name: h for h in hosts}
        prepare.write_ssh_config(paths, list(known.values()))
        todo = [h for h in wanted if h.name not in running]
        for host in todo:
            for port in service_ports(host):
                if not port_free(host.address, port):
                    raise LabError(
                        f"{host.name}: address {host.address}:{port} is already in use by "
                        "something that is not this lab; stop it or free the address"
                    )
        # App hosts get the build's files; a database gets its migrations.
        needs_app = any(h.role in ("app", "database") for h in todo)
        if needs_app:
            prepare.build_app(paths, database)
        if any(h.role == "database" for h in todo):
            if database == "mariadb":
                prepare.mariadb_server()
            else:
                prepare.postgres_bin()
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for host in todo:
                prepare.prepare_host(paths, host, list(known.values()), database)
            prepare.write_known_hosts(paths, list(known.values()))
            for host in todo:
                started[host.name] = launch(paths, host)
            wait_ready(paths, todo, started)
            if needs_app:
                prepare.migrate_database(paths)
        except BaseException:
            for proc in started.values():
                _kill(proc.pid)
            raise
    return [h.name for h in todo]


def enter(name: str, argv: list[str], paths: LabPaths | None = None) -> str:
    """Run argv inside a running lab host (its mount, PID and UTS namespaces), as its PID 1's
    sibling: for what cannot go over the host's sshd, such as starting sshd again."""
    paths = paths or LabPaths.default()
    host = running_hosts(paths).get(name)
    if host is None:
        raise LabError(f"lab host {name} is not running")
    children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
    if not children:
        raise LabError(f"lab host {name} has no PID 1 (unshare {host.pid} has no child)")
    result = subprocess.run(
        ["nsenter", "-t", children[0], "-m", "-u", "-p", "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise LabError(f"{name}: {' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def use_horizon(version: str, paths: LabPaths | None = None) -> list[str]:
    """Make the demo app's Horizon stand-in answer like laravel/horizon `version` on every
    running app host: HORIZON_STANDIN_VERSION in the app's .env, and the app's configuration
    cache rebuilt where it has one (a cached configuration does not read .env). Done as the
    app's owner; a master already running keeps the release it started with."""
    version = horizon_contract(version)
    paths = paths or LabPaths.default()
    line = f"HORIZON_STANDIN_VERSION={version}"
    script = (
        "sed -i '/^HORIZON_STANDIN_VERSION=/d' .env && " + cmd("echo", line) + " >> .env && "
        "if [ -e bootstrap/cache/config.php ]; then php artisan config:cache >/dev/null; fi"
    )
    done = []
    for host in sorted(running_hosts(paths).values(), key=lambda h: h.name):
        if host.role != "app":
            continue
        owner = f'"$(stat -c %U {quote(APP_PATH)}/artisan)"'
        run = f"cd {quote(APP_PATH)} && runuser -u {owner} -- sh -c {quote(script)}"
        enter(host.name, ["sh", "-c", run], paths)
        done.append(host.name)
    return done


def _app_count(running: dict[str, RunningHost]) -> int:
    return sum(1 for h in running.values() if h.role == "app")


def wait_ready(
    paths: LabPaths, hosts: list[LabHost], procs: dict[str, subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(hosts)
    while pending:
        for host in list(pending):
            code = procs[host.name].poll()
            if code is not None:
                raise LabError(
                    f"lab host {host.name} ({host.address}) exited during start-up "
                    f"(code {code}):\n{log_tail(paths, host.name)}"
                )
            if host_ready(paths, host):
                pending.remove(host)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(h.name for h in pending)
            raise LabError(
                f"lab hosts not ready after {READY_TIMEOUT:.0f} s: {names}\n"
                + log_tail(paths, pending[0].name)
            )
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Running, not a zombie left for a parent that is another process (pytest, say)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill(pid: int) -> None:
    """SIGKILL the host's unshare process; --kill-child takes its PID 1, and so the namespace.

    unshare --fork ignores SIGTERM itself, and lab hosts hold nothing worth a clean shutdown.
    """
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            # Reap it if we are its parent, otherwise just watch it go.
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:
            if not _alive(pid):
                return
        time.sleep(0.02)
    raise LabError(f"lab process {pid} did not exit after SIGKILL")


def down(paths: LabPaths | None = None, only: set[str] | None = None) -> list[str]:
    """Stop every lab host (or `only` these) and remove their overlays; quiet when none runs."""
    paths = paths or LabPaths.default()
    if not paths.root.exists():
        return []
    with locked(paths):
        running = running_hosts(paths)
        if only is not None:
            running = {name: h for name, h in running.items() if name in only}
            for host in running.values():
                _kill(host.pid)
                shutil.rmtree(paths.host_dir(host.name), ignore_errors=True)
            _wait_addresses_free(list(running.values()))
            return sorted(running)
        for host in running.values():
            _kill(host.pid)
        _wait_addresses_free(list(running.values()))
        for leftover in (paths.root / "hosts", paths.root / "cm"):
            if leftover.exists():
                shutil.rmtree(leftover)
        # Every up generates new host keys.
        paths.known_hosts.unlink(missing_ok=True)
    return sorted(running)


def _wait_addresses_free(hosts: list[RunningHost]) -> None:
    """A killed namespace closes its sockets asynchronously; wait so a new `up` can bind."""
    deadline = time.monotonic() + 10
    for host in hosts:
        while not port_free(host.address, 22) and time.monotonic() < deadline:
            time.sleep(0.05)


def namespace_memory_kib(pid: int) -> int:
    """Resident memory of every process in the PID namespace of `pid`'s child (its host)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if not children:
        return 0
    target = os.readlink(f"/proc/{children[0]}/ns/pid")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "pid") != target:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def status(paths: LabPaths | None = None) -> list[dict[str, object]]:
    paths = paths or LabPaths.default()
    rows: list[dict[str, object]] = []
    for name, host in sorted(running_hosts(paths).items(), key=lambda kv: kv[1].address):
        up_now = ssh_banner(host.address)
        rows.append(
            {
                "name": name,
                "address": host.address,
                "flavour": host.flavour,
                "role": host.role,
                "state": "up" if up_now else "down",
                "pid": host.pid,
                "memory_kib": namespace_memory_kib(host.pid),
            }
        )
    return rows
