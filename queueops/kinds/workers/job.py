"""setup-worker and restart-queue: the per-host jobs of the workers kind."""

from __future__ import annotations

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.workers.plan import HostPlan, facts_request, plan_workers
from queueops.kinds.workers.protocol import MODULE, ApplyRequest, RestartRequest
from queueops.kinds.workers.settings import WorkerSettings, artisan_user, worker_of
from queueops.plan.changes import host_platform
from queueops.plan.report import HostResult
from queueops.platforms import supervisor_spec
from queueops.transport.fleet import HostJob, backup_dir, holder
from queueops.transport.session import HostSession

TASK = "setup-worker"


def wait_timeout(worker: WorkerSettings) -> float:
    """Long enough for supervisor to give up (FATAL) on a program that cannot start."""
    startsecs = max((p.startsecs for p in worker.programs), default=1)
    return startsecs * 4 + 20


def apply_request(plan: HostPlan, worker: WorkerSettings, task: str = TASK) -> ApplyRequest:
    return {
        "op": "apply",
        "holder": holder(task),
        "backup_dir": backup_dir(task),
        "changes": [c.request() for c in plan.changes],  # type: ignore[misc]
        "supervisor": {
            **supervisor_spec(plan.platform),
            "groups": list(plan.groups),
            "expected": dict(plan.expected),
            "previous": dict(plan.previous),
            "start": list(plan.start),
            "timeout": wait_timeout(worker),
        },
    }


def converge(
    session: HostSession,
    settings: HostSettings,
    check: bool,
    worker: WorkerSettings,
    task: str = TASK,
) -> tuple[HostPlan, HostResult]:
    """Facts, plan and (unless `check` or nothing to do) apply the worker programs."""
    plan = plan_workers(settings, session.facts(facts_request(worker)), worker)
    result = HostResult.of(settings.name, plan)
    if not check and plan.changed:
        session.agent(MODULE, apply_request(plan, worker, task))
    return plan, result


def setup_worker(check: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        return converge(session, settings, check, worker_of(settings))[1]

    return job


def restart_timeout(worker: WorkerSettings) -> float:
    """A worker notices queue:restart after its current job or its next empty-queue sleep."""
    longest_job = max((p.timeout for p in worker.programs), default=60)
    longest_sleep = max((p.sleep for p in worker.programs), default=3)
    return longest_job + longest_sleep + 15


def restart_queue(force: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        worker = worker_of(settings)
        if not worker.programs:
            return HostResult(settings.name, "ok")
        found = session.facts(facts_request(worker))
        platform = host_platform(settings, found)
        if not found["supervisor"]["running"]:
            raise QueueopsError(f"supervisord is not running on {settings.name}: run setup-worker")
        request: RestartRequest = {
            "op": "restart",
            "holder": holder("restart-queue"),
            "supervisor_config": platform.supervisor_config,
            "expected": {p.name: p.processes for p in worker.programs},
            "php": worker.php,
            "app_path": worker.app_path,
            "user": artisan_user(worker.programs, platform),
            "force": force,
            "timeout": restart_timeout(worker),
        }
        answer = session.agent(MODULE, request, timeout=restart_timeout(worker) + 60)
        return HostResult(settings.name, "changed", items=answer["items"])

    return job
