"""restart-queue, the operator half: the step after a deploy, on every selected host."""

from __future__ import annotations

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds import KINDS
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import WorkerSettings, artisan_user, worker_of
from queueops.plan.changes import host_platform
from queueops.plan.report import HostResult
from queueops.protocol import RestartStep
from queueops.runbooks import host_restart
from queueops.runbooks.protocol import RestartRequest
from queueops.transport.agent import holder
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession


def restart_timeout(worker: WorkerSettings) -> float:
    """A worker notices queue:restart after its current job or its next empty-queue sleep."""
    longest_job = max((p.timeout for p in worker.programs), default=60)
    longest_sleep = max((p.sleep for p in worker.programs), default=3)
    return longest_job + longest_sleep + 15


def restart_queue(force: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        worker = worker_of(settings)
        steps: list[RestartStep] = [s for kind in KINDS for s in kind.restart_steps(settings)]
        if not worker.programs and not steps:
            return HostResult(settings.name, "ok")
        found = session.facts(facts_request(worker))
        platform = host_platform(settings, found)
        supervised = worker.programs or any("module" in s for s in steps)
        if supervised and not found["supervisor"]["running"]:
            raise QueueopsError(f"supervisord is not running on {settings.name}: run setup-worker")
        for step in steps:
            step["app"]["user"] = step["app"]["user"] or platform.web_user
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
            "steps": steps,
        }
        # Each kind's own step waits after the workers: up to its own timeout.
        timeout = restart_timeout(worker) + sum(s.get("timeout", 0) for s in steps) + 60
        modules = tuple(sorted({s["module"] for s in steps if "module" in s}))
        answer = session.call(host_restart.restart, request, timeout=timeout, also=modules)
        return HostResult(settings.name, "changed", items=answer["items"])

    return job
