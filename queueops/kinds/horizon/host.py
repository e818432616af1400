"""Horizon's host half: setup-horizon's apply (place the program and config/horizon.php,
restart Horizon only on change, prove it runs, roll back otherwise), and the one reading of
Horizon's state on this host (kinds/horizon/state.py) that status, metrics, verify, the
runbooks and restart-queue prove their work with."""

from __future__ import annotations

import os
import subprocess
import time

from queueops.agent.common import AgentError
from queueops.agent.hostlock import HostLock
from queueops.agent.laravel import (
    app_config,
    app_user,
    artisan,
    artisan_ok,
    machine_slug,
    redis_connection,
)
from queueops.agent.procs import worker_processes
from queueops.agent.redis_client import RedisReply, connect_app_redis, redis_endpoint
from queueops.agent.supervisor import (
    describe,
    ensure_supervisor,
    process_info,
    program_command,
    reload_program,
    running_pid,
    start_group,
    supervisor_proxy,
)
from queueops.agent.supervisor_state import RUNNING, state_of
from queueops.agent.transaction import require_unchanged, restore_changes, write_changes
from queueops.kinds.horizon.state import (
    DOUBLED,
    INACTIVE,
    MASTER_FRESH,
    PAUSED,
    STATES,
    master_process,
    own_name,
    read_state,
    status_says,
)
from queueops.kinds.horizon.state import RUNNING as HORIZON_RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.agent.redis_client import RedisClient
    from queueops.agent.supervisor import Proxy
    from queueops.kinds.horizon.protocol import (
        HorizonApplyAnswer,
        HorizonApplyRequest,
        HorizonObserved,
        HorizonProbe,
    )
    from queueops.protocol import AppTarget, Facts, ReportItem, RestartStep, WorkerProcess


def php_lint(php: str, content: str) -> None:
    """Refuse PHP that does not parse (`php -l` on stdin) before it is written anywhere."""
    result = subprocess.run([php, "-l"], input=content, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-400:]
        raise AgentError(f"the rendered config/horizon.php does not parse (php -l): {tail}")


def _app(request: HorizonApplyRequest) -> AppTarget:
    return {"app_path": request["app_path"], "php": request["php"], "user": request["user"]}


def probe_of(request: HorizonApplyRequest) -> HorizonProbe:
    program = request["supervisor"]["program"]
    return {"app_path": request["app_path"], "php": request["php"],
            "app_users": [request["user"]], "program": program}  # fmt: skip


def wait_horizon(proxy: Proxy, request: HorizonApplyRequest, old_pid: int | None) -> int:
    timeout = request["stop_timeout"] + request["status_timeout"]
    return wait_master(proxy, probe_of(request), old_pid, timeout, "after the change")


def wait_master(
    proxy: Proxy, probe: HorizonProbe, old_pid: int | None, timeout: float, when: str
) -> int:
    """Until supervisord runs Horizon's program (with a new pid, after a restart) and that
    master is registered and running: the host's reading of Horizon says so. Its pid."""
    program = probe["program"]
    deadline = time.monotonic() + timeout
    last = "supervisord has not started it"
    while True:
        info = process_info(proxy, program)
        if info is None:
            last = "supervisord does not know the program"
        elif info["statename"] == "FATAL":
            raise AgentError(f"program {program} did not start: {describe(proxy, [info])}")
        elif info["statename"] == RUNNING and info["pid"] != old_pid:
            seen = read_horizon(probe, supervisor_processes(proxy))
            if seen["state"] == HORIZON_RUNNING and supervised_master(seen) == info["pid"]:
                return int(info["pid"])
            last = f"Horizon is {seen['state']}: {seen['detail']}"
        elif info["statename"] == RUNNING:
            last = f"the old master (pid {old_pid}) is still finishing its jobs"
        else:
            last = f"program {program} is {info['statename']}"
        if time.monotonic() > deadline:
            raise AgentError(f"Horizon is not running {when} (waited {timeout:.0f} s): {last}")
        time.sleep(0.3)


def terminate_master(proxy: Proxy, app: AppTarget, program: str) -> int:
    """horizon:terminate for a restart: the pid of the master supervisord ran before it.
    What Horizon prints (and its exit code 0, even for no master) proves nothing: the caller
    waits for a new master (wait_master)."""
    old = running_pid(proxy, program)
    if old is None:
        raise AgentError(f"Horizon (program {program}) is not running")
    code, output = artisan(app, "horizon:terminate", timeout=60)
    if code != 0:
        raise AgentError(f"horizon:terminate exited {code}: {' '.join(output.split())[-300:]}")
    return old


def restart_horizon(proxy: Proxy, request: HorizonApplyRequest, how: str | None) -> bool:
    program = request["supervisor"]["program"]
    if how == "update":
        return reload_program(proxy, program, request["stop_timeout"])
    if how == "terminate" and running_pid(proxy, program):
        artisan_ok(_app(request), "horizon:terminate", tail=400)
        return True
    # Nothing to pick up (supervisord was only started, which started Horizon too), or
    # already running.
    if how is None or running_pid(proxy, program):
        return False
    start_group(proxy, program)
    return True


def horizon_apply(request: HorizonApplyRequest) -> HorizonApplyAnswer:
    items: list[ReportItem] = []
    changes: list[dict[str, Any]] = [dict(c) for c in request["changes"]]
    with HostLock(dict(request["holder"])):
        for change in changes:
            require_unchanged(change["path"], change["before"])
            if change["path"] == request["config_path"]:
                php_lint(request["php"], change["after"])
        supervisor = request["supervisor"]
        for done in ensure_supervisor(dict(supervisor), os.path.isdir("/run/systemd/system")):
            action, _, item = done.partition(" ")
            items.append({"item": item, "action": action, "status": "changed"})
        proxy = supervisor_proxy(supervisor["config"])
        old_pid = running_pid(proxy, supervisor["program"])
        try:
            written = write_changes(changes, request["backup_dir"], request["backups_keep"])
        except OSError as exc:
            raise AgentError(f"{exc} — nothing was left changed") from None
        try:
            if request["config_cache"]:
                artisan_ok(_app(request), "config:cache", tail=400)
            restarted = restart_horizon(proxy, request, request["restart"])
            pid = wait_horizon(proxy, request, old_pid if restarted else None)
        except (AgentError, OSError, subprocess.SubprocessError) as exc:
            raise AgentError(f"{exc} — {horizon_rollback(proxy, request, written)}") from None
    return {"items": items, "pid": pid, "old_pid": old_pid}


def horizon_rollback(
    proxy: Proxy, request: HorizonApplyRequest, written: list[dict[str, Any]]
) -> str:
    """Restore the files, re-cache the restored config, bring the previous Horizon back."""
    if not written:
        return "nothing had been written"
    restore_changes(written)
    program = request["supervisor"]["program"]
    # The restored program names the PHP that works here; the new one may be the failure.
    command = program_command(request["program_path"])
    request = {**request, "php": command[0] if command else request["php"]}
    try:
        if request["config_cache"]:
            artisan(_app(request), "config:cache")
        current = running_pid(proxy, program)
        if any(c["path"] == request["program_path"] for c in written):
            reload_program(proxy, program, request["stop_timeout"])
        elif current:
            artisan(_app(request), "horizon:terminate")
        else:
            start_group(proxy, program)
        if not any(c["path"] == request["program_path"] and c["before"] is None for c in written):
            wait_horizon(proxy, request, current)
    except (AgentError, OSError, subprocess.SubprocessError) as exc:
        return f"rolled back the files, but Horizon did not come back: {exc}"
    return "rolled back: previous files restored and Horizon running on them"


def restart_begin(step: RestartStep, supervisor_config: str) -> dict[str, Any]:
    """restart-queue's Horizon step, as the workers are told to restart: horizon:terminate
    (the master exits once its running jobs are done, and supervisord starts a new one)."""
    proxy = supervisor_proxy(supervisor_config)
    program = step["program"]
    info = process_info(proxy, program)
    if info is None or info["statename"] != RUNNING:
        return {
            "old": None,
            "why": f"program {program} is {info['statename'] if info else 'not loaded'}",
        }
    return {"old": terminate_master(proxy, step["app"], program)}


def restart_prove(step: RestartStep, supervisor_config: str, begun: dict[str, Any]) -> ReportItem:
    """restart-queue's Horizon step, once the workers came back: a new master under
    supervisord, registered and running, within what stopwaitsecs lets the old one take."""
    request = step["request"]
    if begun["old"] is None:
        why = f"Horizon was not running ({begun['why']}): nothing to restart"
        return {"item": step["item"], "action": "skipped:", "status": "ok", "detail": why}
    probe: HorizonProbe = {
        "app_path": step["app"]["app_path"],
        "php": step["app"]["php"],
        "app_users": [step["app"]["user"]],
        "program": step["program"],
    }
    proxy = supervisor_proxy(supervisor_config)
    new = wait_master(proxy, probe, begun["old"], request["timeout"], "after horizon:terminate")
    detail = f"master pid {begun['old']} -> {new}, Horizon running"
    return {"item": step["item"], "action": "restarted", "status": "changed", "detail": detail}


def registrations(client: RedisClient, prefix: str, slug: str, now: float) -> dict[str, Any]:
    """This machine's masters and supervisors as Horizon registered them (see state.py)."""
    masters = []
    listed = client.call("ZRANGEBYSCORE", f"{prefix}masters", "-inf", "+inf", "WITHSCORES")
    for name, score in zip(listed[::2], listed[1::2], strict=True):
        if not own_name(name, slug):
            continue
        key = f"{prefix}master:{name}"
        pid, status = client.call("HMGET", key, "pid", "status")
        ttl = int(client.call("TTL", key))
        record = {"name": name, "pid": int(pid or 0), "status": status, "ttl": ttl}
        masters.append({**record, "heartbeat": float(score)})
    supervisors = []
    listed = client.call("ZRANGEBYSCORE", f"{prefix}supervisors", "-inf", "+inf", "WITHSCORES")
    for name, score in zip(listed[::2], listed[1::2], strict=True):
        master = name.split(":", 1)[0]
        # Horizon counts a supervisor for 29 s after its heartbeat.
        if own_name(master, slug) and now - float(score) < MASTER_FRESH + 15:
            pid, status = client.call("HMGET", f"{prefix}supervisor:{name}", "pid", "status")
            if pid is not None:
                record = {"name": name, "master": master, "pid": int(pid), "status": status}
                supervisors.append(record)
    return {"masters": masters, "supervisors": supervisors}


def horizon_records(app_path: str, php: str, user: str | None, now: float) -> dict[str, Any]:
    """Horizon's registrations of this machine, read from the `horizon` Redis connection its
    service provider gives the app (with Horizon's prefix): whether the app has Horizon at
    all, the records, or why they could not be read."""
    try:
        config = app_config(app_path, php, user)[0]
    except AgentError as exc:
        return {"installed": None, "masters": None, "supervisors": [], "error": str(exc)}
    if "horizon" not in (config.get("redis") or {}):
        return {"installed": False, "masters": [], "supervisors": [], "error": None}
    conf = redis_connection(config, "horizon")
    try:
        client = connect_app_redis(conf, timeout=5)
    except AgentError as exc:
        return {"installed": True, "masters": None, "supervisors": [], "error": str(exc)}
    try:
        found = registrations(client, conf["prefix"], machine_slug(), now)
    except (RedisReply, OSError) as exc:
        where = redis_endpoint(conf)
        error = f"Horizon's Redis at {where}: {exc}"
        return {"installed": True, "masters": None, "supervisors": [], "error": error}
    finally:
        client.close()
    return {"installed": True, **found, "error": None}


def supervisor_processes(proxy: Proxy) -> list[dict[str, Any]]:
    """supervisord's processes, as the facts record them."""
    return [
        {"group": p["group"], "name": p["name"], "state": state_of(p), "pid": p["pid"]}
        for p in proxy.supervisor.getAllProcessInfo()
    ]


def read_horizon(
    probe: HorizonProbe,
    processes: Sequence[Mapping[str, Any]],
    workers: list[WorkerProcess] | None = None,
    ask_status: bool = False,
) -> HorizonObserved:
    """The host's Horizon now: supervisord's `processes`, the `artisan horizon` processes
    among `workers` (read here when not given), Horizon's records in Redis and, with
    `ask_status`, `horizon:status` (every host on that Redis) as the master's user."""
    now = time.time()
    program = next(
        (
            {"name": p["group"], "state": p["state"], "pid": p["pid"]}
            for p in processes
            if p["group"] == probe["program"]
        ),
        None,
    )
    found = worker_processes() if workers is None else workers
    masters = [dict(w) for w in found if master_process(w["args"])]
    records = horizon_records(probe["app_path"], probe["php"], app_user(probe["app_users"]), now)
    reading = read_state(program, masters, records["masters"], records["installed"], now)
    names = {m["name"] for m in reading["masters"]}
    supervisors = [s for s in records["supervisors"] if s["master"] in names]
    notes = [reading["detail"]] if reading["detail"] else []
    if records["error"]:
        notes.append(records["error"])
    seen: HorizonObserved = {
        "state": reading["state"],
        "running": reading["state"] == HORIZON_RUNNING,
        "detail": "",
        "masters": reading["masters"],
        "gone": reading["gone"],
        "supervisors": supervisors,
        "program": program,
        "status": "not asked",
        "status_code": None,
    }
    if ask_status:
        notes += asked_status(probe, seen)
    seen["detail"] = "; ".join(notes)
    return seen


def asked_status(probe: HorizonProbe, seen: HorizonObserved) -> list[str]:
    """horizon:status, as the user of this host's master, beside the reading: what it says
    of every host on the Redis, and where it disagrees with this host's state."""
    if not seen["masters"]:
        seen["status"] = "no horizon master runs on this host"
        return []
    user = seen["masters"][0]["user"]
    if user == "root":
        # Root never runs the app's code; the reading above does not need it.
        seen["status"] = "not asked: the master runs as root"
        return []
    run_as: AppTarget = {"app_path": probe["app_path"], "php": probe["php"], "user": user}
    try:
        code, output = artisan(run_as, "horizon:status", timeout=60)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        seen["status"] = f"horizon:status failed: {exc}"
        return []
    text = " ".join(output.split())
    seen["status"], seen["status_code"] = text[-200:], code
    says = status_says(text, code)
    state = seen["state"]
    if says == INACTIVE and state in (HORIZON_RUNNING, PAUSED):
        return ["horizon:status says inactive: does Horizon use another Redis or prefix?"]
    if says == PAUSED and state == HORIZON_RUNNING:
        return ["horizon:status says paused: a master of another host on this Redis is"]
    return []


def supervised_master(seen: HorizonObserved) -> int | None:
    """The pid of the registered master supervisord runs (None: there is none)."""
    return next((m["pid"] for m in seen["masters"] if m["supervised"] and m["name"]), None)


def observe(request: HorizonProbe, facts: Facts) -> HorizonObserved:
    """Horizon on this host for status, metrics and verify (see read_horizon)."""
    return read_horizon(
        request, facts["supervisor"]["processes"], facts["workers"], ask_status=True
    )


# Its figures in `invoke metrics`: name → (type, help).
METRICS = {
    "horizon_up": (
        "gauge",
        "1 when a Horizon master runs on this host (running, paused, or more than one).",
    ),
    "horizon_state": (
        "gauge",
        "1 for Horizon's state on this host (running, paused, inactive, absent, doubled, "
        "unknown), 0 for the others.",
    ),
    "horizon_masters": (
        "gauge",
        "Horizon masters running on this host (more than 1: a second php artisan horizon).",
    ),
}


def metric_samples(observed: HorizonObserved, base: dict[str, str]) -> list[Any]:
    state = observed["state"]
    up = state in (HORIZON_RUNNING, PAUSED, DOUBLED)
    samples: list[Any] = [("horizon_up", base, 1 if up else 0)]
    samples += [("horizon_state", {**base, "state": s}, 1 if s == state else 0) for s in STATES]
    samples.append(("horizon_masters", base, len(observed["masters"])))
    return samples


OPERATIONS: dict[str, Operation] = {"horizon_apply": horizon_apply}
