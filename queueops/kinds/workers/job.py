"""setup-worker's round trips: facts, then the programs transaction when the plan changes
something (fallback-to-database and restore-redis converge other programs through it too)."""

from __future__ import annotations

from queueops.inventory.host import HostSettings
from queueops.kinds.workers import host
from queueops.kinds.workers.plan import HostPlan, facts_request, plan_workers
from queueops.kinds.workers.settings import WorkerSettings
from queueops.plan.report import HostResult
from queueops.protocol import ProgramsApplyRequest
from queueops.transport.agent import AgentSession, backup_dir, holder

TASK = "setup-worker"


def wait_timeout(worker: WorkerSettings) -> float:
    """Long enough for supervisor to give up (FATAL) on a program that cannot start."""
    startsecs = max((p.startsecs for p in worker.programs), default=1)
    return startsecs * 4 + 20


def apply_request(
    plan: HostPlan, worker: WorkerSettings, keep: int, task: str = TASK
) -> ProgramsApplyRequest:
    return {
        "op": "apply",
        "holder": holder(task),
        "backup_dir": backup_dir(task),
        "backups_keep": keep,
        "changes": [c.request() for c in plan.changes],
        "supervisor": plan.spec(wait_timeout(worker)),
    }


def converge(
    session: AgentSession,
    settings: HostSettings,
    check: bool,
    worker: WorkerSettings,
    task: str = TASK,
) -> tuple[HostPlan, HostResult]:
    """Facts, plan and (unless `check` or nothing to do) apply the worker programs."""
    plan = plan_workers(settings, session.facts(facts_request(worker)), worker)
    result = HostResult.of(settings.name, plan)
    if not check and plan.changed:
        session.call(host.apply, apply_request(plan, worker, settings.backups_keep, task))
    return plan, result
