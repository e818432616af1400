"""restart-queue on the host: queue:restart (or a supervisor stop/start) and proof that every
worker process came back with a new PID, and the kinds' own steps (Horizon's: its master
terminated and a new one proven running)."""

from __future__ import annotations

import sys
import time

from queueops.agent.common import AgentError
from queueops.agent.hostlock import HostLock
from queueops.agent.laravel import artisan, artisan_ok
from queueops.agent.supervisor import group_pids, start_group, supervisor_proxy
from queueops.agent.supervisor_state import group_status
from queueops.runbooks.host_pause import pause_marker, paused_note

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.protocol import AppTarget, ItemsAnswer, ReportItem, RestartStep
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
        own = [s for s in request["steps"] if "module" in s]
        touched = {*expected, *(s["program"] for s in own if "program" in s)}
        marker = pause_marker()
        if marker is not None and touched & set(marker["programs"]):
            # queue:restart and a new Horizon master would take jobs again, unpaused; a
            # program the pause stopped would never come back with a new pid.
            raise AgentError(
                f"{paused_note(marker)}: restart-queue would resume what the pause holds; "
                "run invoke continue first"
            )
        config = request["supervisor_config"]
        begun = [sys.modules[s["module"]].restart_begin(s, config) for s in own]
        if expected:
            items = restart_programs(request)
        for step, started in zip(own, begun, strict=True):
            items.append(sys.modules[step["module"]].restart_prove(step, config, started))
        for step in request["steps"]:
            if "module" not in step:
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
    app: AppTarget = {"app_path": request["app_path"], "php": request["php"],
                      "user": request["user"]}  # fmt: skip
    if request["force"]:
        for group in expected:
            proxy.supervisor.stopProcessGroup(group)
            start_group(proxy, group)
    else:
        artisan_ok(app, "queue:restart")
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
