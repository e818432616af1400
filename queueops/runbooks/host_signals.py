"""pause, continue and terminate on the host: workers through supervisord, Horizon through
its own artisan commands, each proven."""

from __future__ import annotations

import time

from queueops.agent.common import AgentError
from queueops.agent.laravel import artisan, artisan_ok
from queueops.agent.supervisor import running_pid, start_group, supervisor_proxy, wait_stopped
from queueops.agent.supervisor_state import RUNNING, STOPPED_STATES, answering
from queueops.runbooks.host_audit import audited

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.agent.supervisor import Proxy
    from queueops.protocol import ReportItem
    from queueops.runbooks.protocol import (
        ProgramPause,
        RunbookAnswer,
        SignalRequest,
        TerminateRequest,
    )


def _pause_program(proxy: Proxy, program: ProgramPause, procs: list[dict[str, Any]]) -> str:
    """SIGUSR2, then proof the workers are still the same processes; or a graceful stop."""
    name = program["name"]
    if program["mode"] == "stop":
        proxy.supervisor.stopProcessGroup(name, False)
        wait_stopped(proxy, name, program["stop_timeout"])
        return "stopped (each worker finished its job)"
    before = {p["name"]: p["pid"] for p in procs if p["statename"] == RUNNING}
    proxy.supervisor.signalProcessGroup(name, "USR2")
    # A worker reads the flag after its current job or its empty-queue sleep.
    time.sleep(program["sleep"] + 1.5)
    after = {
        i["name"]: i["pid"] for i in proxy.supervisor.getAllProcessInfo() if i["group"] == name
    }
    gone = sorted(n for n, pid in before.items() if after.get(n) != pid)
    if gone:
        raise AgentError(
            f"program {name}: {', '.join(gone)} exited on SIGUSR2 instead of pausing, and "
            "supervisord started it again unpaused"
        )
    return f"SIGUSR2 to {len(before)} workers, still the same pids"


def _supervisor_config(request: SignalRequest) -> str:
    """The main config the operator found in the facts; without facts (a request that needs
    nothing else of them), the first candidate whose supervisord answers, found here."""
    config = request.get("supervisor_config")
    if config:
        return config
    found = answering(request["supervisor_configs"])
    if found is None:
        raise AgentError("supervisord is not running: run setup-worker")
    return found[0]


def runbook_signal(request: SignalRequest) -> RunbookAnswer:
    """Pause or continue managed worker programs through supervisord (SIGUSR2/SIGCONT, or a
    graceful stop/start where a paused worker would exit); horizon:pause/continue (or the
    -supervisor variants) on a Horizon host."""
    action = request["action"]
    check = bool(request.get("check"))
    config = _supervisor_config(request)

    def work() -> RunbookAnswer:
        items: list[ReportItem] = []
        proxy = supervisor_proxy(config)
        infos = proxy.supervisor.getAllProcessInfo()
        for program in request["programs"]:
            name = program["name"]
            procs = [i for i in infos if i["group"] == name]
            if not procs:
                raise AgentError(f"program {name} is not loaded in supervisord: run setup-worker")
            stopped = all(p["statename"] in STOPPED_STATES for p in procs)
            if action == "pause":
                how = "stop" if program["mode"] == "stop" else "SIGUSR2"
                detail = "already stopped" if stopped else ""
                if not check and not stopped:
                    detail = _pause_program(proxy, program, procs)
            else:
                how = "start" if stopped else "SIGCONT"
                detail = f"{len(procs)} processes"
                if not check and stopped:
                    start_group(proxy, name)
                elif not check:
                    proxy.supervisor.signalProcessGroup(name, "CONT")
            items.append(
                {"item": f"program {name}", "action": how, "status": "changed", "detail": detail}
            )
        horizon = request.get("horizon")
        if horizon and running_pid(proxy, horizon["program"]) is None:
            down = f"Horizon (program {horizon['program']}) is not running: nothing to {action}"
            if not items:
                raise AgentError(down)
            # The workers were handled all the same; the report says Horizon was not.
            items.append({"item": "horizon", "action": "skipped:", "status": "ok",
                          "detail": down})  # fmt: skip
            horizon = None
        if horizon:
            args = [f"horizon:{action}"]
            supervisor_name = request.get("supervisor_name")
            if supervisor_name:
                args = [f"horizon:{action}-supervisor", supervisor_name]
            detail = ""
            if not check:
                output = artisan_ok(horizon, *args, timeout=60)
                detail = " ".join(output.split())[-120:]
            items.append(
                {"item": "horizon", "action": " ".join(args), "status": "changed",
                 "detail": detail}
            )  # fmt: skip
        summary = ", ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary}

    return audited(request, work)


def runbook_terminate(request: TerminateRequest) -> RunbookAnswer:
    """horizon:terminate, then proof: supervisord runs a new master and horizon:status agrees."""
    horizon = request["horizon"]

    def work() -> RunbookAnswer:
        proxy = supervisor_proxy(request["supervisor_config"])
        old = running_pid(proxy, horizon["program"])
        if old is None:
            raise AgentError(f"Horizon (program {horizon['program']}) is not running")
        if request.get("check"):
            return {"items": [{"item": "horizon", "action": "terminate", "status": "changed",
                               "detail": f"master pid {old}"}], "summary": ""}  # fmt: skip
        artisan_ok(horizon, "horizon:terminate", timeout=60)
        deadline = time.monotonic() + request["timeout"]
        last = "the old master is still finishing its jobs"
        while True:
            pid = running_pid(proxy, horizon["program"])
            if pid is not None and pid != old:
                code, status = artisan(horizon, "horizon:status", timeout=60)
                if code == 0:
                    break
                last = f"horizon:status says: {' '.join(status.split())[-200:]}"
            if time.monotonic() > deadline:
                raise AgentError(
                    f"supervisord did not bring Horizon back within {request['timeout']} s: {last}"
                )
            time.sleep(0.3)
        detail = f"master pid {old} -> {pid}"
        return {
            "items": [
                {"item": "horizon", "action": "terminate", "status": "changed", "detail": detail}
            ],
            "summary": detail,
        }

    return audited(request, work)


OPERATIONS: dict[str, Operation] = {
    "runbook_signal": runbook_signal,
    "runbook_terminate": runbook_terminate,
}
