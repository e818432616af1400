"""setup-worker's and restart-queue's host half: apply a plan to supervisord, restart workers."""

from __future__ import annotations

import os
import time

from queueops.agent.common import AgentError, run_command
from queueops.agent.hostlock import HostLock
from queueops.agent.procs import worker_processes
from queueops.agent.supervisor import (
    RUNNING,
    apply_update,
    ensure_supervisor,
    group_pids,
    start_group,
    supervisor_proxy,
    wait_running,
)
from queueops.agent.transaction import require_unchanged, rollback_programs, write_changes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.kinds.workers.protocol import ApplyRequest, RestartRequest


def apply(request: ApplyRequest) -> dict[str, object]:
    items: list[dict[str, str]] = []
    with HostLock(dict(request["holder"])):
        changes: list[dict[str, Any]] = [dict(c) for c in request["changes"]]
        for change in changes:
            require_unchanged(change["path"], change["before"])
        supervisor = request["supervisor"]
        for done in ensure_supervisor(dict(supervisor), os.path.isdir("/run/systemd/system")):
            items.append({"item": "supervisor", "status": "changed", "detail": done})
        written: list[dict[str, object]] = []
        groups = set(supervisor["groups"])
        try:
            written = write_changes(changes, request["backup_dir"])
            proxy = supervisor_proxy(supervisor["config"])
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
        except (AgentError, OSError) as exc:
            note = rollback_programs(
                written, supervisor["config"], groups, supervisor["previous"], supervisor["timeout"]
            )
            raise AgentError(f"{exc} — {note}") from None
    return {"items": items}


def restart(request: RestartRequest) -> dict[str, object]:
    """queue:restart (or a supervisor stop/start) and proof: every process has a new PID."""
    proxy = supervisor_proxy(request["supervisor_config"])
    expected = request["expected"]
    with HostLock(dict(request["holder"])):
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


OPERATIONS: dict[str, Operation] = {"apply": apply, "restart": restart}
