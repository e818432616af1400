"""pause, continue and terminate on the host: workers through supervisord, Horizon through
its own artisan commands, each proven by its effect, and queueops' record of its pause.

What Horizon prints proves nothing (one line per master up to 5.22, a summary from 5.23,
nothing at all when no master runs, and exit 0 whatever happened): after each command the
host's reading of Horizon (kinds/horizon/state.py) must show the effect within a bound.

pause and pause-supervisor record what they paused in the pause marker (host_pause.py),
continue and continue-supervisor take out what they resumed.
"""

from __future__ import annotations

import time

from queueops.agent.common import AgentError
from queueops.agent.laravel import artisan
from queueops.agent.supervisor import running_pid, start_group, supervisor_proxy, wait_stopped
from queueops.agent.supervisor_state import RUNNING, STOPPED_STATES, answering
from queueops.kinds.horizon.host import (
    read_horizon,
    supervisor_processes,
    terminate_master,
    wait_master,
)
from queueops.kinds.horizon.state import PAUSED
from queueops.kinds.horizon.state import RUNNING as HORIZON_RUNNING
from queueops.runbooks.host_audit import audited
from queueops.runbooks.host_pause import pause_marker, paused_now, write_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.agent.supervisor import Proxy
    from queueops.kinds.horizon.protocol import HorizonObserved, HorizonProbe
    from queueops.protocol import PauseMarker, ReportItem
    from queueops.runbooks.protocol import (
        HorizonTarget,
        ProgramPause,
        RunbookAnswer,
        SignalRequest,
        TerminateRequest,
    )

# How long a master may take to act on USR2/CONT and say so in Redis: Horizon's master loop
# sleeps a second between rounds, and its heartbeat is written in the same round.
HORIZON_SIGNAL_TIMEOUT = 15.0
# Between two readings while waiting for an effect.
POLL = 0.3


# -- workers --------------------------------------------------------------------------------


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


def _programs(
    request: SignalRequest, proxy: Proxy, check: bool, marker: PauseMarker
) -> list[ReportItem]:
    action = request["action"]
    items: list[ReportItem] = []
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
            marker["programs"][name] = program["mode"]
        else:
            how = "start" if stopped else "SIGCONT"
            detail = f"{len(procs)} processes"
            if not check and stopped:
                start_group(proxy, name)
            elif not check:
                proxy.supervisor.signalProcessGroup(name, "CONT")
            marker["programs"].pop(name, None)
        items.append({"item": f"program {name}", "action": how, "status": "changed",
                      "detail": detail})  # fmt: skip
    return items


# -- Horizon --------------------------------------------------------------------------------


def _probe(horizon: HorizonTarget) -> HorizonProbe:
    return {"app_path": horizon["app_path"], "php": horizon["php"],
            "app_users": [horizon["user"]], "program": horizon["program"]}  # fmt: skip


def _said(code: int, output: str) -> str:
    return f"it printed {' '.join(output.split())[-160:] or 'nothing'!r}, exit {code}"


def wait_horizon(
    proxy: Proxy, horizon: HorizonTarget, done: Any, what: str, said: str
) -> HorizonObserved:
    """Readings of Horizon until `done(reading)`, or the AgentError saying what it still
    shows after HORIZON_SIGNAL_TIMEOUT s, beside what Horizon printed."""
    deadline = time.monotonic() + HORIZON_SIGNAL_TIMEOUT
    while True:
        seen = read_horizon(_probe(horizon), supervisor_processes(proxy))
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise AgentError(
                f"{what} did not take effect within {HORIZON_SIGNAL_TIMEOUT:.0f} s ({said}): "
                f"Horizon is {seen['state']}: {seen['detail']}"
            )
        time.sleep(POLL)


def _masters(seen: HorizonObserved, status: str) -> str:
    pids = ", ".join(str(m["pid"]) for m in seen["masters"])
    return f"master{'s' if len(seen['masters']) > 1 else ''} {pids} {status}"


def _horizon(request: SignalRequest, proxy: Proxy, check: bool, marker: PauseMarker) -> ReportItem:
    """horizon:pause / continue: every master of this host registered as paused (running)
    afterwards. Or horizon:pause-supervisor / continue-supervisor NAME: that supervisor."""
    horizon = request["horizon"]
    assert horizon is not None
    action, name = request["action"], request.get("supervisor_name")
    args = [f"horizon:{action}-supervisor", name] if name else [f"horizon:{action}"]
    want = PAUSED if action == "pause" else HORIZON_RUNNING
    item: ReportItem = {"item": "horizon", "action": " ".join(args), "status": "changed",
                        "detail": ""}  # fmt: skip
    if check:
        return item
    code, output = artisan(horizon, *args, timeout=60)
    said = _said(code, output)
    if name:
        # Horizon's lookup: this machine's supervisor whose name ends with NAME.
        if code != 0:
            raise AgentError(f"{' '.join(args)} failed: {said}")

        def supervisor_done(seen: HorizonObserved) -> bool:
            ours = [s for s in seen["supervisors"] if s["name"].split(":", 1)[-1] == name]
            return bool(ours) and all(s["status"] == want for s in ours)

        wait_horizon(proxy, horizon, supervisor_done, " ".join(args), said)
        if action == "pause":
            marker["supervisors"] = sorted({*marker["supervisors"], name})
        else:
            marker["supervisors"] = [s for s in marker["supervisors"] if s != name]
        item["detail"] = f"supervisor {name} {want}"
        return item

    def masters_done(seen: HorizonObserved) -> bool:
        statuses = {m["status"] for m in seen["masters"]}
        return bool(statuses) and statuses == {want}

    seen = wait_horizon(proxy, horizon, masters_done, args[0], said)
    if action == "pause":
        marker["programs"][horizon["program"]] = "horizon"
    else:
        marker["programs"].pop(horizon["program"], None)
        # horizon:continue continues every supervisor of the master too.
        marker["supervisors"] = []
    item["detail"] = _masters(seen, want)
    return item


def runbook_signal(request: SignalRequest) -> RunbookAnswer:
    """Pause or continue managed worker programs through supervisord (SIGUSR2/SIGCONT, or a
    graceful stop/start where a paused worker would exit); horizon:pause/continue (or the
    -supervisor variants) on a Horizon host, proven; the pause marker kept up to date."""
    check = bool(request.get("check"))
    config = _supervisor_config(request)

    def work() -> RunbookAnswer:
        proxy = supervisor_proxy(config)
        old = pause_marker()
        if request["action"] == "pause":
            marker = paused_now(request, old)
        else:
            marker = old or paused_now(request, None)
        try:
            items = _programs(request, proxy, check, marker)
            horizon = request.get("horizon")
            if horizon:
                seen = read_horizon(_probe(horizon), supervisor_processes(proxy))
                if not seen["masters"]:
                    down = (
                        f"Horizon (program {horizon['program']}) is not running "
                        f"({seen['state']}): nothing to {request['action']}"
                    )
                    if not items:
                        raise AgentError(down)
                    # The workers were handled all the same; the report says Horizon was not.
                    items.append({"item": "horizon", "action": "skipped:", "status": "ok",
                                  "detail": down})  # fmt: skip
                else:
                    items.append(_horizon(request, proxy, check, marker))
        finally:
            # What was paused or resumed before a failure is recorded all the same.
            if not check:
                write_marker(marker)
        summary = ", ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary}

    return audited(request, work)


def runbook_terminate(request: TerminateRequest) -> RunbookAnswer:
    """horizon:terminate, then proof: supervisord runs a new master, registered and running
    (a master queueops had paused works again: the marker says so no more)."""
    horizon = request["horizon"]

    def work() -> RunbookAnswer:
        proxy = supervisor_proxy(request["supervisor_config"])
        old = running_pid(proxy, horizon["program"])
        if old is None:
            raise AgentError(f"Horizon (program {horizon['program']}) is not running")
        if request.get("check"):
            return {"items": [{"item": "horizon", "action": "terminate", "status": "changed",
                               "detail": f"master pid {old}"}], "summary": ""}  # fmt: skip
        old = terminate_master(proxy, horizon, horizon["program"])
        new = wait_master(proxy, _probe(horizon), old, request["timeout"], "after terminate")
        marker = pause_marker()
        if marker and marker["programs"].pop(horizon["program"], None):
            write_marker(marker)
        detail = f"master pid {old} -> {new}"
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
