"""pause, continue, pause-supervisor, continue-supervisor and terminate: the operator half."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.settings import HorizonSettings, configured_horizon
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import Program, worker_of
from queueops.plan.changes import host_platform, refuse_if_locked
from queueops.plan.report import HostResult
from queueops.protocol import Facts
from queueops.runbooks import host_signals
from queueops.runbooks.audit import audit_entry, skip
from queueops.runbooks.protocol import (
    HorizonTarget,
    ProgramPause,
    SignalRequest,
    TerminateRequest,
)
from queueops.supervisor.programs import SUPERVISOR_CONFIGS
from queueops.transport.agent import holder
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession


def horizon_target(horizon: HorizonSettings, settings: HostSettings, facts: Any) -> HorizonTarget:
    return {
        "program": horizon.program_name,
        "php": horizon.php,
        "app_path": horizon.app_path,
        "user": horizon.user_on(host_platform(settings, facts)),
    }


def supervised_facts(session: HostSession, settings: HostSettings, fix: str) -> tuple[Facts, str]:
    """Facts of a host whose supervisord must run and whose lock must be free, and the main
    configuration of that supervisord."""
    facts = session.facts(facts_request(worker_of(settings)))
    refuse_if_locked(settings.name, facts)
    config = facts["supervisor"]["config"]
    if not facts["supervisor"]["running"] or config is None:
        raise QueueopsError(f"{settings.name}: supervisord is not running: run {fix}")
    return facts, config


def pause_mode(program: Program) -> ProgramPause:
    """How a program is paused. Laravel's worker pauses on SIGUSR2, but a paused worker
    started with --max-time exits at once (up to Laravel 10 it compares max-time with the
    machine's uptime while paused) and supervisord starts it again unpaused: such programs
    are stopped gracefully instead, and `continue` starts them."""
    return {
        "name": program.name,
        "mode": "stop" if program.max_time else "signal",
        "sleep": program.sleep,
        "stop_timeout": program.stopwaitsecs + 10,
    }


def signal_job(
    task: str,
    action: str,
    check: bool,
    args: Mapping[str, Any],
    supervisor_name: str | None = None,
) -> HostJob:
    """pause/continue (all managed workers and Horizon), or one Horizon supervisor."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = configured_horizon(settings)
        worker = worker_of(settings)
        programs = [] if supervisor_name else [pause_mode(p) for p in worker.programs]
        if not programs and horizon is None:
            return skip(settings.name, "no managed worker program and no Horizon here")
        request: SignalRequest = {
            "op": "runbook_signal",
            "action": action,
            "check": check,
            "holder": holder(task),
            "audit": audit_entry(task, args),
            "programs": programs,
            "horizon": None,
            "supervisor_name": supervisor_name,
        }
        if horizon is None:
            # Nothing else needs the facts: the host finds supervisord and refuses a held
            # lock itself, in the same round trip as the signals.
            request["supervisor_configs"] = SUPERVISOR_CONFIGS
        else:
            facts, config = supervised_facts(session, settings, "setup-worker")
            request["supervisor_config"] = config
            request["horizon"] = horizon_target(horizon, settings, facts)
        answer = session.call(host_signals.runbook_signal, request)
        return HostResult(settings.name, "changed", items=answer["items"])

    return job


def terminate_job(check: bool, args: Mapping[str, Any]) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = configured_horizon(settings)
        if horizon is None:
            return skip(settings.name, "no Horizon here")
        facts, config = supervised_facts(session, settings, "setup-horizon")
        timeout = horizon.stopwaitsecs + horizon.status_timeout + 10
        request: TerminateRequest = {
            "op": "runbook_terminate",
            "check": check,
            "holder": holder("terminate"),
            "audit": audit_entry("terminate", args),
            "supervisor_config": config,
            "horizon": horizon_target(horizon, settings, facts),
            "timeout": timeout,
        }
        answer = session.call(host_signals.runbook_terminate, request, timeout=timeout + 120)
        return HostResult(settings.name, "changed", items=answer["items"])

    return job
