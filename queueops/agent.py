"""The remote half of queueops: one Python program sent to a host over SSH on stdin.

It runs under the host's own python3 with the standard library only (the same requirement
Ansible has), answers one request per run as one JSON document on stdout, and is the only
place where a host is changed. Sending a program instead of many shell commands is what
makes facts one round trip and an apply a second one.

Supervisor is driven through its XML-RPC interface on the unix socket, with the same calls
`supervisorctl update` makes (reloadConfig, then stop/remove/add only the changed groups):
each supervisorctl run costs a Python start-up of its own (~0.3 s), these calls cost
milliseconds.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from typing import Any

MANAGED_MARKER = "Managed by queueops"
LOCK_PATH = "/run/lock/queueops.lock"
RUNNING = "RUNNING"


class AgentError(Exception):
    """A failure to report to the operator as this host's error."""


# -- supervisor over its unix socket ------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.unix_path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.unix_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self.unix_path)


def supervisor_socket(main_config: str) -> str | None:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(main_config)
    except configparser.Error:
        return None
    if not parser.has_option("unix_http_server", "file"):
        return None
    return parser.get("unix_http_server", "file").split(";")[0].strip()


def supervisor_proxy(main_config: str) -> Any:
    path = supervisor_socket(main_config)
    if path is None:
        raise AgentError(f"{main_config} has no [unix_http_server] file= socket to talk to")
    return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(path))


def supervisor_answers(main_config: str) -> bool:
    try:
        supervisor_proxy(main_config).supervisor.getState()
    except (OSError, xmlrpc.client.Error, AgentError):
        return False
    return True


# -- facts ---------------------------------------------------------------------------------


def sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def file_info(path: str) -> dict[str, str] | None:
    """Hash, header line and text of a file queueops may manage (they are small)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    text = data.decode(errors="replace")
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "header": text.split("\n", 1)[0],
        "content": text,
    }


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def env_value(env_text: str, key: str) -> str | None:
    """The value of KEY in a Laravel .env (last assignment wins, quotes and comments dropped)."""
    found = None
    for raw in env_text.splitlines():
        line = raw.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if name.strip() != key:
            continue
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        found = value
    return found


def cached_queue_connection(app_path: str) -> str | None:
    """The queue connection frozen in bootstrap/cache/config.php, if the app caches config."""
    cached = os.path.join(app_path, "bootstrap", "cache", "config.php")
    if not os.path.exists(cached):
        return None
    try:
        result = subprocess.run(
            ["php", "-r", "echo (require $argv[1])['queue']['default'] ?? '';", cached],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def worker_processes() -> list[dict[str, Any]]:
    """Every `artisan queue:work` / `artisan horizon` process, with its parent and user."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, ValueError, IndexError):
            continue
        if not any(a.endswith("artisan") for a in argv):
            continue
        if not any(a in ("queue:work", "horizon", "queue:listen") for a in argv):
            continue
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        found.append({"pid": int(entry), "ppid": ppid, "user": user, "args": " ".join(argv)})
    return found


def lock_holder() -> dict[str, Any] | None:
    try:
        with open(LOCK_PATH, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                return _holder(handle.read())
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _holder(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    return holder if isinstance(holder, dict) else {"task": "unknown", "raw": text[:200]}


def supervisor_facts(main_configs: list[str]) -> dict[str, Any]:
    installed = any(shutil.which(binary) is not None for binary in ("supervisord", "supervisorctl"))
    for config in main_configs:
        if os.path.exists(config) and supervisor_answers(config):
            proxy = supervisor_proxy(config)
            processes = [
                {
                    "group": p["group"],
                    "name": p["name"],
                    "state": p["statename"],
                    "pid": p["pid"],
                    "description": p["description"],
                }
                for p in proxy.supervisor.getAllProcessInfo()
            ]
            return {
                "installed": installed,
                "running": True,
                "config": config,
                "processes": processes,
            }
    return {"installed": installed, "running": False, "config": None, "processes": []}


def gather_facts(request: dict[str, Any]) -> dict[str, Any]:
    files: dict[str, dict[str, str] | None] = {}
    for pattern_dir, suffix in request["program_dirs"]:
        if os.path.isdir(pattern_dir):
            for name in sorted(os.listdir(pattern_dir)):
                path = os.path.join(pattern_dir, name)
                if name.endswith(suffix):
                    info = file_info(path)
                    if info is not None and MANAGED_MARKER in info["header"]:
                        files[path] = info
    for path in request.get("paths", []):
        files[path] = file_info(path)
    app_path = request.get("app_path")
    env_text = read_text(os.path.join(app_path, ".env")) if app_path else None
    return {
        "hostname": socket.gethostname(),
        "os_release": read_text("/etc/os-release") or read_text("/usr/lib/os-release") or "",
        "systemd": os.path.isdir("/run/systemd/system"),
        "python": sys.version.split()[0],
        "app": {
            "path": app_path,
            "env_exists": env_text is not None,
            "queue_connection": env_value(env_text, "QUEUE_CONNECTION") if env_text else None,
            "cached_queue_connection": cached_queue_connection(app_path) if app_path else None,
        },
        "files": files,
        "supervisor": supervisor_facts(request["supervisor_configs"]),
        "workers": worker_processes(),
        "lock": lock_holder(),
    }


# -- apply ---------------------------------------------------------------------------------


@contextlib.contextmanager
def host_lock(holder: dict[str, Any]) -> Iterator[None]:
    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    with open(LOCK_PATH, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            other = _holder(handle.read())
            raise AgentError(
                "locked by another queueops run: "
                f"{other.get('task', '?')} by {other.get('operator', '?')} "
                f"(pid {other.get('pid', '?')}, since {other.get('since', '?')}); "
                "wait for it to finish or check that it is still alive"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**holder, "pid": os.getpid()}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def require_unchanged(path: str, planned_sha256: str | None) -> None:
    """The file must still be what the plan saw (None: absent), or nothing is written."""
    if sha256_file(path) != planned_sha256:
        raise AgentError(f"{path} changed since the plan was made; run the task again")


def atomic_write(path: str, content: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.queueops-tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)


def run_command(argv: list[str], timeout: float = 600) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-600:]
        raise AgentError(f"{' '.join(argv)} exited {result.returncode}: {tail}")


def ensure_supervisor(spec: dict[str, Any], systemd: bool) -> list[str]:
    """Install, enable and start supervisord when needed; returns what was done."""
    done = []
    if shutil.which("supervisord") is None:
        for installer in spec["install"]:
            if shutil.which(installer["binary"]) is not None:
                try:
                    run_command(installer["argv"], timeout=900)
                except AgentError:
                    if not installer["refresh"]:
                        raise
                    run_command(installer["refresh"], timeout=900)
                    run_command(installer["argv"], timeout=900)
                done.append("installed supervisor")
                break
        else:
            raise AgentError("supervisor is not installed and no package manager was found")
    config, service = spec["config"], spec["service"]
    if not supervisor_answers(config):
        if systemd:
            run_command(["systemctl", "enable", "--now", service])
        else:
            run_command(["service", service, "start"])
        deadline = time.monotonic() + 30
        while not supervisor_answers(config):
            if time.monotonic() > deadline:
                raise AgentError(f"supervisord ({service}) did not answer on its socket in 30 s")
            time.sleep(0.05)
        done.append(f"started {service}")
    return done


def apply_update(proxy: Any, groups: set[str]) -> None:
    """What `supervisorctl update` does, limited to the groups queueops manages."""
    added, changed, removed = proxy.supervisor.reloadConfig()[0]
    for name in removed:
        if name in groups:
            proxy.supervisor.stopProcessGroup(name)
            proxy.supervisor.removeProcessGroup(name)
    for name in changed:
        if name in groups:
            proxy.supervisor.stopProcessGroup(name)
            proxy.supervisor.removeProcessGroup(name)
            proxy.supervisor.addProcessGroup(name)
    for name in added:
        if name in groups:
            proxy.supervisor.addProcessGroup(name)


def start_group(proxy: Any, name: str) -> None:
    try:
        proxy.supervisor.startProcessGroup(name)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            raise


def wait_running(proxy: Any, expected: dict[str, int], timeout: float) -> dict[str, Any]:
    """Wait until each group has its expected number of RUNNING processes."""
    deadline = time.monotonic() + timeout
    while True:
        infos = proxy.supervisor.getAllProcessInfo()
        by_group: dict[str, list[dict[str, Any]]] = {}
        for info in infos:
            by_group.setdefault(info["group"], []).append(info)
        problems: dict[str, dict[str, Any]] = {}
        for group, count in expected.items():
            procs = by_group.get(group, [])
            running = [p for p in procs if p["statename"] == RUNNING]
            if len(running) == count and len(procs) == count:
                continue
            # BACKOFF retries on its own; only FATAL means supervisord stopped trying.
            given_up = [p for p in procs if p["statename"] == "FATAL"]
            problems[group] = {"procs": procs, "given_up": bool(given_up)}
        if not problems:
            return {}
        if time.monotonic() > deadline or any(p["given_up"] for p in problems.values()):
            return {group: describe(proxy, p["procs"]) for group, p in problems.items()}
        time.sleep(0.1)


def describe(proxy: Any, procs: list[dict[str, Any]]) -> str:
    if not procs:
        return "no process of this program is known to supervisord"
    parts = []
    for p in procs:
        reason = p.get("spawnerr") or p.get("description") or ""
        line = f"{p['name']} {p['statename']}" + (f": {reason}" if reason else "")
        with contextlib.suppress(Exception):
            log = proxy.supervisor.tailProcessStdoutLog(f"{p['group']}:{p['name']}", 0, 400)[0]
            if log.strip():
                line += " | log: " + " / ".join(log.strip().splitlines()[-3:])
        parts.append(line)
    return "; ".join(parts)


def apply(request: dict[str, Any]) -> dict[str, Any]:
    facts_systemd = os.path.isdir("/run/systemd/system")
    items: list[dict[str, Any]] = []
    with host_lock(request["holder"]):
        for change in request["changes"]:
            require_unchanged(change["path"], change["before"])
        supervisor = request["supervisor"]
        for done in ensure_supervisor(supervisor, facts_systemd):
            items.append({"item": "supervisor", "status": "changed", "detail": done})
        written: list[dict[str, Any]] = []
        try:
            written = write_changes(request["changes"], request["backup_dir"])
            proxy = supervisor_proxy(supervisor["config"])
            groups = set(supervisor["groups"])
            if groups:
                apply_update(proxy, groups)
            for name in supervisor["start"]:
                start_group(proxy, name)
            problems = wait_running(proxy, supervisor["expected"], supervisor["timeout"])
            if problems:
                raise AgentError(
                    "; ".join(
                        f"program {g} did not reach RUNNING: {d}" for g, d in problems.items()
                    )
                )
        except (AgentError, OSError, xmlrpc.client.Error) as exc:
            reason = exc.faultString if isinstance(exc, xmlrpc.client.Fault) else str(exc)
            rollback_note = rollback(written, supervisor)
            raise AgentError(f"{reason} — {rollback_note}") from None
    return {"items": items}


def rollback(written: list[dict[str, Any]], supervisor: dict[str, Any]) -> str:
    """Put back every file this run touched and let supervisord return to the old programs."""
    restore_changes(written)
    if not written:
        return "nothing had been written"
    try:
        proxy = supervisor_proxy(supervisor["config"])
        apply_update(proxy, set(supervisor["groups"]))
        problems = wait_running(proxy, supervisor["previous"], supervisor["timeout"])
    except (OSError, xmlrpc.client.Error, AgentError) as exc:
        return f"files rolled back, but supervisord could not reload them: {exc}"
    if problems:
        return "files rolled back; previous programs not all RUNNING: " + "; ".join(
            f"{g}: {d}" for g, d in problems.items()
        )
    return "rolled back: previous files restored and their programs RUNNING"


def group_pids(proxy: Any, groups: list[str]) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {g: [] for g in groups}
    for info in proxy.supervisor.getAllProcessInfo():
        if info["group"] in pids and info["pid"]:
            pids[info["group"]].append(info["pid"])
    return pids


def restart(request: dict[str, Any]) -> dict[str, Any]:
    """queue:restart (or a supervisor stop/start) and proof: every process has a new PID."""
    proxy = supervisor_proxy(request["supervisor_config"])
    expected: dict[str, int] = request["expected"]
    with host_lock(request["holder"]):
        loaded = {info["group"] for info in proxy.supervisor.getAllProcessInfo()}
        missing = sorted(set(expected) - loaded)
        if missing:
            raise AgentError(
                f"programs not loaded in supervisord: {', '.join(missing)}; run setup-worker first"
            )
        before = group_pids(proxy, list(expected))
        artisan = [request["php"], os.path.join(request["app_path"], "artisan")]
        as_user = ["runuser", "-u", request["user"], "--"]
        if request["force"]:
            for group in expected:
                proxy.supervisor.stopProcessGroup(group)
                start_group(proxy, group)
        else:
            run_command([*as_user, *artisan, "queue:restart"], timeout=120)
            if any(" horizon" in w["args"] for w in worker_processes()):
                run_command([*as_user, *artisan, "horizon:terminate"], timeout=120)
        deadline = time.monotonic() + request["timeout"]
        while True:
            infos = proxy.supervisor.getAllProcessInfo()
            waiting = []
            for group, count in expected.items():
                procs = [i for i in infos if i["group"] == group]
                fresh = [
                    i for i in procs if i["statename"] == RUNNING and i["pid"] not in before[group]
                ]
                if len(fresh) != count:
                    waiting.append(f"{group} ({len(fresh)}/{count} restarted)")
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise AgentError(
                    f"not every worker came back with a new PID within {request['timeout']} s: "
                    + ", ".join(waiting)
                )
            time.sleep(0.1)
        after = group_pids(proxy, list(expected))
    return {
        "items": [
            {
                "item": f"program {group}",
                "action": "restarted",
                "status": "changed",
                "detail": f"pids {before[group]} -> {after[group]}",
            }
            for group in expected
        ]
    }


# -- horizon --------------------------------------------------------------------------------


def horizon_facts(request: dict[str, Any]) -> dict[str, Any]:
    """gather_facts, plus what Horizon needs: APP_ENV and whether the app caches its config."""
    facts = gather_facts(request)
    app_path = request["app_path"]
    env_text = read_text(os.path.join(app_path, ".env"))
    facts["app"]["app_env"] = env_value(env_text, "APP_ENV") if env_text else None
    facts["app"]["config_cached"] = os.path.exists(
        os.path.join(app_path, "bootstrap", "cache", "config.php")
    )
    return facts


def php_lint(php: str, content: str) -> None:
    """Refuse PHP that does not parse (`php -l` on stdin) before it is written anywhere."""
    result = subprocess.run([php, "-l"], input=content, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-400:]
        raise AgentError(f"the rendered config/horizon.php does not parse (php -l): {tail}")


def write_changes(changes: list[dict[str, Any]], backup_dir: str) -> list[dict[str, Any]]:
    """Back up, then atomically write (or delete) each change, keeping an existing file's owner.

    On a failure it restores what it had done before raising, so callers see all or nothing.
    """
    written: list[dict[str, Any]] = []
    try:
        for change in changes:
            path = change["path"]
            owner = None
            if change["before"] is not None:
                backup = backup_dir + path
                os.makedirs(os.path.dirname(backup), exist_ok=True)
                shutil.copy2(path, backup)
                change["backup"] = backup
                st = os.stat(path)
                owner = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
            written.append(change)
            if change["after"] is None:
                os.remove(path)
            elif owner is None:
                atomic_write(path, change["after"], change.get("mode", 0o644))
                if change.get("owner"):
                    os.chown(path, *change["owner"])
            else:
                atomic_write(path, change["after"], owner[2])
                os.chown(path, owner[0], owner[1])
    except OSError:
        restore_changes(written)
        raise
    return written


def restore_changes(written: list[dict[str, Any]]) -> None:
    for change in reversed(written):
        path = change["path"]
        backup = change.get("backup")
        if backup:
            shutil.copy2(backup, path)
        elif os.path.exists(path):
            os.remove(path)


def process_info(proxy: Any, program: str) -> dict[str, Any] | None:
    for info in proxy.supervisor.getAllProcessInfo():
        if info["group"] == program:
            return dict(info)
    return None


def running_pid(proxy: Any, program: str) -> int | None:
    info = process_info(proxy, program)
    return info["pid"] if info and info["statename"] == RUNNING and info["pid"] else None


def artisan(request: dict[str, Any], *args: str, timeout: float = 120) -> tuple[int, str]:
    argv = [
        "runuser", "-u", request["user"], "--",
        request["php"], os.path.join(request["app_path"], "artisan"), *args,
    ]  # fmt: skip
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, cwd=request["app_path"]
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def reload_program(proxy: Any, program: str, stop_timeout: float) -> bool:
    """What `supervisorctl update PROGRAM` does; True when the program was (re)started."""
    added, changed, removed = proxy.supervisor.reloadConfig()[0]
    if program in changed or program in removed:
        # Without waiting in the call: Horizon may take stopwaitsecs to finish its jobs.
        proxy.supervisor.stopProcessGroup(program, False)
        deadline = time.monotonic() + stop_timeout
        while (info := process_info(proxy, program)) and info["statename"] in (
            RUNNING, "STOPPING", "STARTING",
        ):  # fmt: skip
            if time.monotonic() > deadline:
                raise AgentError(f"program {program} did not stop within {stop_timeout:.0f} s")
            time.sleep(0.2)
        proxy.supervisor.removeProcessGroup(program)
    if program in changed or program in added:
        proxy.supervisor.addProcessGroup(program)
        return True
    if program in removed:
        return False
    info = process_info(proxy, program)
    if info and info["statename"] in ("STOPPED", "EXITED", "FATAL"):
        start_group(proxy, program)
        return True
    return False


def restart_horizon(proxy: Any, request: dict[str, Any], how: str) -> bool:
    program = request["supervisor"]["program"]
    if how == "update":
        return reload_program(proxy, program, request["stop_timeout"])
    if how == "terminate" and running_pid(proxy, program):
        code, output = artisan(request, "horizon:terminate")
        if code != 0:
            raise AgentError(f"horizon:terminate exited {code}: {output[-400:]}")
        return True
    # Nothing to pick up (supervisord was only started, which started Horizon too), or
    # already running.
    if how is None or running_pid(proxy, program):
        return False
    start_group(proxy, program)
    return True


def machine_slug() -> str:
    """Str::slug(gethostname()): how Horizon names this machine's masters."""
    out, dash = [], False
    for char in socket.gethostname().lower():
        if char.isascii() and char.isalnum():
            out.append(char)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


def master_listed(listing: str, pid: int) -> bool:
    """Whether `horizon:list` shows a master of this machine with this pid."""
    for line in listing.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1] == str(pid) and cells[0].startswith(machine_slug() + "-"):
            return True
    return False


def wait_horizon(proxy: Any, request: dict[str, Any], old_pid: int | None) -> int:
    """RUNNING in supervisord (a new pid after a restart), then `horizon:status` running."""
    program = request["supervisor"]["program"]
    deadline = time.monotonic() + request["stop_timeout"] + request["status_timeout"]
    last = "supervisord has not started it"
    while True:
        info = process_info(proxy, program)
        if info is None:
            last = "supervisord does not know the program"
        elif info["statename"] == "FATAL":
            raise AgentError(f"program {program} did not start: {describe(proxy, [info])}")
        elif info["statename"] == RUNNING and info["pid"] != old_pid:
            code, status = artisan(request, "horizon:status", timeout=60)
            _, listing = artisan(request, "horizon:list", timeout=60)
            if code == 0 and "running" in status and master_listed(listing, info["pid"]):
                return int(info["pid"])
            last = f"horizon:status says: {' '.join(status.split())[-200:] or '(nothing)'}"
        elif info["statename"] == RUNNING:
            last = f"the old master (pid {old_pid}) is still finishing its jobs"
        else:
            last = f"program {program} is {info['statename']}"
        if time.monotonic() > deadline:
            raise AgentError(f"Horizon is not running after the change: {last}")
        time.sleep(0.5)


def horizon_apply(request: dict[str, Any]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    with host_lock(request["holder"]):
        for change in request["changes"]:
            require_unchanged(change["path"], change["before"])
            if change["path"] == request["config_path"]:
                php_lint(request["php"], change["after"])
        supervisor = request["supervisor"]
        for done in ensure_supervisor(supervisor, os.path.isdir("/run/systemd/system")):
            items.append({"item": "supervisor", "status": "changed", "detail": done})
        proxy = supervisor_proxy(supervisor["config"])
        old_pid = running_pid(proxy, supervisor["program"])
        try:
            written = write_changes(request["changes"], request["backup_dir"])
        except OSError as exc:
            raise AgentError(f"{exc} — nothing was left changed") from None
        try:
            if request["config_cache"]:
                code, output = artisan(request, "config:cache")
                if code != 0:
                    raise AgentError(f"config:cache exited {code}: {output[-400:]}")
            restarted = restart_horizon(proxy, request, request["restart"])
            pid = wait_horizon(proxy, request, old_pid if restarted else None)
        except (AgentError, OSError, subprocess.SubprocessError, xmlrpc.client.Error) as exc:
            reason = exc.faultString if isinstance(exc, xmlrpc.client.Fault) else str(exc)
            raise AgentError(f"{reason} — {horizon_rollback(proxy, request, written)}") from None
    return {"items": items, "pid": pid, "old_pid": old_pid}


def program_php(path: str) -> str | None:
    """The executable of a supervisor program file's `command=`."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(path)
    except configparser.Error:
        return None
    for section in parser.sections():
        if parser.has_option(section, "command"):
            words = shlex.split(parser.get(section, "command"))
            return words[0] if words else None
    return None


def horizon_rollback(proxy: Any, request: dict[str, Any], written: list[dict[str, Any]]) -> str:
    """Restore the files, re-cache the restored config, bring the previous Horizon back."""
    if not written:
        return "nothing had been written"
    restore_changes(written)
    program = request["supervisor"]["program"]
    # The restored program names the PHP that works here; the new one may be the failure.
    request = {**request, "php": program_php(request["program_path"]) or request["php"]}
    try:
        if request["config_cache"]:
            artisan(request, "config:cache")
        current = running_pid(proxy, program)
        if any(c["path"] == request["program_path"] for c in written):
            reload_program(proxy, program, request["stop_timeout"])
        elif current:
            artisan(request, "horizon:terminate")
        else:
            start_group(proxy, program)
        if not any(c["path"] == request["program_path"] and c["before"] is None for c in written):
            wait_horizon(proxy, request, current)
    except (AgentError, OSError, subprocess.SubprocessError, xmlrpc.client.Error) as exc:
        return f"rolled back the files, but Horizon did not come back: {exc}"
    return "rolled back: previous files restored and Horizon running on them"


# -- redis --------------------------------------------------------------------------------

REDIS_CONFIGS = ("/etc/redis/redis.conf", "/etc/redis.conf")
INCLUDE_COMMENT = "# Added by queueops (tune-redis): the settings for queue use, applied live."


class RedisReply(Exception):
    """An error reply from Redis (-ERR ..., -WRONGPASS ...)."""


class RedisClient:
    """Just enough RESP2 to AUTH, CONFIG GET/SET and INFO, without redis-cli: the password
    never appears on a command line."""

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


def redis_main_config(request: dict[str, Any]) -> str:
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
    request: dict[str, Any], directives: list[tuple[str, list[str]]]
) -> tuple[str, int]:
    address, port = request.get("address") or "", request.get("port")
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


def redis_connect(request: dict[str, Any], config: str, text: str) -> tuple[RedisClient, str]:
    """An authenticated connection, and `address:port` for messages (never the password)."""
    directives = redis_directives(text)
    address, port = redis_endpoint(request, directives)
    where = f"{address}:{port}"
    password, source = request.get("password"), "redis_queue_password of the inventory"
    if password is None:
        passes = [args[0] for name, args in directives if name == "requirepass" and args]
        password, source = (passes[-1], f"requirepass of {config}") if passes else (None, "")
    try:
        client = RedisClient(address, port)
    except OSError as exc:
        raise AgentError(f"cannot reach Redis at {where}: {exc.strerror or exc}") from None
    try:
        if password is not None:
            user = request.get("user")
            client.call("AUTH", *([user] if user else []), password)
        client.call("PING")
    except RedisReply as exc:
        client.close()
        if password is None:
            raise AgentError(
                f"Redis at {where} needs a password ({exc}): set redis_queue_password, or "
                f"requirepass in {config}"
            ) from None
        raise AgentError(f"Redis at {where} refused the credentials ({source}): {exc}") from None
    except OSError as exc:
        client.close()
        raise AgentError(f"cannot talk to Redis at {where}: {exc.strerror or exc}") from None
    return client, where


def redis_info(client: RedisClient) -> dict[str, str]:
    fields = {}
    for line in str(client.call("INFO")).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def has_include(text: str, dropin: str) -> bool:
    return any(name == "include" and args[:1] == [dropin] for name, args in redis_directives(text))


def redis_facts(request: dict[str, Any]) -> dict[str, Any]:
    config = redis_main_config(request)
    text = read_text(config)
    if text is None:
        raise AgentError(f"cannot read {config}")
    client, where = redis_connect(request, config, text)
    try:
        live = {p: client.config_get(p) for p in request["parameters"]}
        info = redis_info(client)
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


def redis_apply(request: dict[str, Any]) -> dict[str, Any]:
    config = request["config"]
    with host_lock(request["holder"]):
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
    request: dict[str, Any], client: RedisClient, where: str, text: str
) -> dict[str, Any]:
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
                "after": text
                + ("" if text.endswith("\n") or not text else "\n")
                + f"\n{INCLUDE_COMMENT}\ninclude {request['dropin_path']}\n",
            }
        )
    try:
        written = write_changes(changes, request["backup_dir"])
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


Operation = Callable[[dict[str, Any]], dict[str, Any]]

# Agent parts (queueops/agent_*.py, appended to this file when sent) add their own entries.
OPERATIONS: dict[str, Operation] = {
    "facts": gather_facts,
    "apply": apply,
    "restart": restart,
    "horizon_facts": horizon_facts,
    "horizon_apply": horizon_apply,
    "redis_facts": redis_facts,
    "redis_apply": redis_apply,
}


def main(request: dict[str, Any]) -> None:
    try:
        result = {"ok": True, **OPERATIONS[request["op"]](request)}
    except AgentError as exc:
        result = {"ok": False, "error": str(exc)}
    sys.stdout.write(json.dumps(result))
