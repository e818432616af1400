"""supervisord over its XML-RPC interface on the unix socket.

The calls are the ones `supervisorctl update` makes (reloadConfig, then stop/remove/add only the
changed groups): each supervisorctl run costs a Python start-up of its own (~0.3 s), these
calls cost milliseconds. They go through agent/supervisor_state.py's client, which imports
nothing heavy (see agent/common.py); so does this module, but where it installs supervisor
or reads a program file.
"""

from __future__ import annotations

import time

from queueops.agent.common import AgentError
from queueops.agent.services import install_package, start_service
from queueops.agent.supervisor_state import (
    RUNNING,
    STOPPED_STATES,
    RpcFault,
    SupervisorRpc,
    group_status,
    supervisor_socket,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Proxy = SupervisorRpc

# Between two looks at a stopping program: a worker between jobs stops in ~20 ms, and each
# look is one cheap call.
STOP_POLL = 0.05


def supervisor_proxy(main_config: str) -> Proxy:
    path = supervisor_socket(main_config)
    if path is None:
        raise AgentError(f"{main_config} has no [unix_http_server] file= socket to talk to")
    return SupervisorRpc(path)


def supervisor_answers(main_config: str) -> bool:
    try:
        supervisor_proxy(main_config).supervisor.getState()
    except (OSError, AgentError):
        return False
    return True


def ensure_supervisor(spec: dict[str, Any], systemd: bool) -> list[str]:
    """Install, enable and start supervisord when needed; returns what was done."""
    import shutil

    done = []
    if shutil.which("supervisord") is None:
        install_package("supervisor", spec["install"])
        done.append("installed supervisor")
    config, service = spec["config"], spec["service"]
    if not supervisor_answers(config):
        start_service(service, systemd)
        deadline = time.monotonic() + 30
        while not supervisor_answers(config):
            if time.monotonic() > deadline:
                raise AgentError(f"supervisord ({service}) did not answer on its socket in 30 s")
            time.sleep(0.05)
        done.append(f"started {service}")
    return done


def apply_update(proxy: Proxy, groups: set[str]) -> None:
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


def start_group(proxy: Proxy, name: str) -> None:
    try:
        proxy.supervisor.startProcessGroup(name)
    except RpcFault as fault:
        if "ALREADY_STARTED" not in str(fault):
            raise


def processes_of(proxy: Proxy, group: str) -> list[dict[str, Any]]:
    return [i for i in proxy.supervisor.getAllProcessInfo() if i["group"] == group]


def process_info(proxy: Proxy, program: str) -> dict[str, Any] | None:
    procs = processes_of(proxy, program)
    return dict(procs[0]) if procs else None


def running_pid(proxy: Proxy, program: str) -> int | None:
    info = process_info(proxy, program)
    return info["pid"] if info and info["statename"] == RUNNING and info["pid"] else None


def group_pids(proxy: Proxy, groups: list[str]) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {g: [] for g in groups}
    for info in proxy.supervisor.getAllProcessInfo():
        if info["group"] in pids and info["pid"]:
            pids[info["group"]].append(info["pid"])
    return pids


def wait_stopped(proxy: Proxy, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if all(p["statename"] in STOPPED_STATES for p in processes_of(proxy, name)):
            return
        if time.monotonic() > deadline:
            raise AgentError(f"program {name} did not stop within {timeout:.0f} s")
        time.sleep(STOP_POLL)


def wait_running(proxy: Proxy, expected: dict[str, int], timeout: float) -> dict[str, str]:
    """Wait until each group has its expected number of RUNNING processes; {group: problem}
    for the groups that did not (empty when all did)."""
    deadline = time.monotonic() + timeout
    while True:
        infos = proxy.supervisor.getAllProcessInfo()
        status = group_status(infos, expected)
        waiting = [name for name, group in status.items() if not group["ok"]]
        if not waiting:
            return {}
        # BACKOFF retries on its own; only FATAL means supervisord stopped trying.
        given_up = any("FATAL" in status[name]["states"] for name in waiting)
        if time.monotonic() > deadline or given_up:
            return {
                name: describe(proxy, [i for i in infos if i["group"] == name]) for name in waiting
            }
        time.sleep(0.1)


def describe(proxy: Proxy, procs: list[dict[str, Any]]) -> str:
    if not procs:
        return "no process of this program is known to supervisord"
    parts = []
    for p in procs:
        reason = p.get("spawnerr") or p.get("description") or ""
        line = f"{p['name']} {p['statename']}" + (f": {reason}" if reason else "")
        try:
            log = proxy.supervisor.tailProcessStdoutLog(f"{p['group']}:{p['name']}", 0, 400)[0]
        except (OSError, AgentError):
            log = ""
        if log.strip():
            line += " | log: " + " / ".join(log.strip().splitlines()[-3:])
        parts.append(line)
    return "; ".join(parts)


def reload_program(proxy: Proxy, program: str, stop_timeout: float) -> bool:
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
            time.sleep(STOP_POLL)
        proxy.supervisor.removeProcessGroup(program)
    if program in changed or program in added:
        proxy.supervisor.addProcessGroup(program)
        return True
    if program in removed:
        return False
    info = process_info(proxy, program)
    if info and info["statename"] in STOPPED_STATES:
        start_group(proxy, program)
        return True
    return False


def program_command(path: str) -> list[str]:
    """The argv of a supervisor program file's `command=` (empty when it has none)."""
    import configparser
    import shlex

    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(path)
    except configparser.Error:
        return []
    for section in parser.sections():
        if parser.has_option(section, "command"):
            return shlex.split(parser.get(section, "command"))
    return []
