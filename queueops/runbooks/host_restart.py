"""restart-queue on the host: queue:restart (or a supervisor stop/start) and proof that every
worker process came back with a new PID, then the kinds' own steps."""

from __future__ import annotations

import os
import time

from queueops.agent.common import AgentError, run_command
from queueops.agent.hostlock import HostLock
from queueops.agent.laravel import artisan
from queueops.agent.procs import worker_processes
from queueops.agent.supervisor import group_pids, start_group, supervisor_proxy
from queueops.agent.supervisor_state import group_status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.protocol import ItemsAnswer, ReportItem, RestartStep
    from queueops.runbooks.protocol import RestartRequest

# What artisan says of a command the app does not have, from Laravel 8 to 11.
NOT_DEFINED = ("is not defined", "There are no commands defined")


def run_step(step: RestartStep) -> ReportItem:
    code, output = artisan(step["app"], *step["args"], timeout=120)
    command = " ".join(step["args"])
    if code != 0 and step["if_defined"] and any(text in output for text in NOT_DEFINED):
        return {"item": step["item"], "action": f"skipped {command}:", "status": "ok",
                "detail": f"the app has no {step['args'][0]} command"}  # fmt: skip
    if code != 0:
        raise AgentError(f"{command} exited {code}: {' '.join(output.split())[-300:]}")
    return {"item": step["item"], "action": command, "status": "changed"}


def restart(request: RestartRequest) -> ItemsAnswer:
    expected = request["expected"]
    items: list[ReportItem] = []
    with HostLock(dict(request["holder"])):
        if expected:
            items = restart_programs(request)
        for step in request["steps"]:
            items.append(run_step(step))
    return {"items": items}


def restart_programs(request: RestartRequest) -> list[ReportItem]:
    proxy = supervisor_proxy(request["supervisor_config"])
    expected = request["expected"]
    loaded = {info["group"] for info in proxy.supervisor.getAllProcessInfo()}
    missing = sorted(set(expected) - loaded)
    if missing:
        raise AgentError(
            f"programs not loaded in supervisord: {', '.join(missing)}; run setup-worker first"
        )
    before = group_pids(proxy, list(expected))
    artisan_argv = [request["php"], os.path.join(request["app_path"], "artisan")]
    as_user = ["runuser", "-u", request["user"], "--"]
    if request["force"]:
        for group in expected:
            proxy.supervisor.stopProcessGroup(group)
            start_group(proxy, group)
    else:
        run_command([*as_user, *artisan_argv, "queue:restart"], timeout=120)
        if any(" horizon" in w["args"] for w in worker_processes()):
            run_command([*as_user, *artisan_argv, "horizon:terminate"], timeout=120)
    deadline = time.monotonic() + request["timeout"]
    while True:
        infos: list[dict[str, Any]] = proxy.supervisor.getAllProcessInfo()
        fresh = [i for i in infos if i["pid"] not in before.get(i["group"], [])]
        status = group_status(fresh, expected)
        waiting = [
            f"{group} ({state['running']}/{state['expected']} restarted)"
            for group, state in status.items()
            if state["running"] != state["expected"]
        ]
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise AgentError(
                f"not every worker came back with a new PID within {request['timeout']} s: "
                + ", ".join(waiting)
            )
        time.sleep(0.1)
    after = group_pids(proxy, list(expected))
    return [
        {
            "item": f"program {group}",
            "action": "restarted",
            "status": "changed",
            "detail": f"pids {before[group]} -> {after[group]}",
        }
        for group in expected
    ]


OPERATIONS: dict[str, Operation] = {"restart": restart}
