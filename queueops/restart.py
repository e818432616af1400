"""restart-queue: the step after every deploy, graceful and verified by new PIDs."""

from __future__ import annotations

from queueops.errors import QueueopsError
from queueops.fleet_run import HostJob, holder
from queueops.plan import facts_request, host_platform
from queueops.remote import HostSession
from queueops.report import HostResult
from queueops.settings import HostSettings

TASK = "restart-queue"


def restart_timeout(settings: HostSettings) -> float:
    """A worker notices queue:restart after its current job or its next empty-queue sleep."""
    programs = settings.worker.programs
    longest_job = max((p.timeout for p in programs), default=60)
    longest_sleep = max((p.sleep for p in programs), default=3)
    return longest_job + longest_sleep + 15


def restart_queue(force: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        worker = settings.worker
        if not worker.programs:
            return HostResult(settings.name, "ok")
        facts = session.agent(facts_request(settings))
        platform = host_platform(settings, facts)
        if not facts["supervisor"]["running"]:
            raise QueueopsError(f"supervisord is not running on {settings.name}: run setup-worker")
        users = {p.user or platform.web_user for p in worker.programs}
        answer = session.agent(
            {
                "op": "restart",
                "holder": holder(TASK),
                "supervisor_config": platform.supervisor_config,
                "expected": {p.name: p.processes for p in worker.programs},
                "php": worker.php,
                "app_path": worker.app_path,
                # queue:restart writes the app's cache: as the workers' user, never as root.
                "user": sorted(users)[0],
                "force": force,
                "timeout": restart_timeout(settings),
            },
            timeout=restart_timeout(settings) + 60,
        )
        return HostResult(settings.name, "changed", items=answer["items"])

    return job
