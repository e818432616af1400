"""setup-horizon's host half: place the program and config/horizon.php, restart Horizon only
on change, prove it runs, roll back otherwise."""

from __future__ import annotations

import os
import subprocess
import time

from queueops.agent.common import AgentError
from queueops.agent.hostlock import HostLock
from queueops.agent.laravel import artisan, artisan_ok, machine_slug
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
from queueops.agent.supervisor_state import RUNNING
from queueops.agent.transaction import require_unchanged, restore_changes, write_changes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.agent.supervisor import Proxy
    from queueops.kinds.horizon.protocol import (
        HorizonApplyAnswer,
        HorizonApplyRequest,
        HorizonObserved,
        HorizonProbe,
    )
    from queueops.protocol import AppTarget, Facts, ReportItem


def php_lint(php: str, content: str) -> None:
    """Refuse PHP that does not parse (`php -l` on stdin) before it is written anywhere."""
    result = subprocess.run([php, "-l"], input=content, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-400:]
        raise AgentError(f"the rendered config/horizon.php does not parse (php -l): {tail}")


def _app(request: HorizonApplyRequest) -> AppTarget:
    return {"app_path": request["app_path"], "php": request["php"], "user": request["user"]}


def master_listed(listing: str, pid: int) -> bool:
    """Whether `horizon:list` shows a master of this machine with this pid."""
    for line in listing.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1] == str(pid) and cells[0].startswith(machine_slug() + "-"):
            return True
    return False


def wait_horizon(proxy: Proxy, request: HorizonApplyRequest, old_pid: int | None) -> int:
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
            code, status = artisan(_app(request), "horizon:status", timeout=60)
            _, listing = artisan(_app(request), "horizon:list", timeout=60)
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
            written = write_changes(changes, request["backup_dir"])
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


def observe(request: HorizonProbe, facts: Facts) -> HorizonObserved:
    """`horizon:status` run as the user of this machine's Horizon master."""
    masters = [w for w in facts["workers"] if w["args"].split()[-1:] == ["horizon"]]
    if not masters:
        return {"running": False, "status": "no horizon process on this host"}
    run_as: AppTarget = {
        "app_path": request["app_path"],
        "php": request["php"],
        "user": masters[0]["user"],
    }
    try:
        code, output = artisan(run_as, "horizon:status", timeout=60)
    except (OSError, ValueError) as exc:
        return {"running": False, "status": f"horizon:status failed: {exc}"}
    text = " ".join(output.split())
    return {"running": code == 0 and "is running" in text, "status": text[-200:]}


# Its figures in `invoke metrics`: name → (type, help).
METRICS = {"horizon_up": ("gauge", "1 when horizon:status says running on this host.")}


def metric_samples(observed: HorizonObserved, base: dict[str, str]) -> list[Any]:
    return [("horizon_up", base, 1 if observed["running"] else 0)]


OPERATIONS: dict[str, Operation] = {"horizon_apply": horizon_apply}
