"""setup-worker: converge each host's supervisor programs to what the inventory renders."""

from __future__ import annotations

from typing import Any

from queueops.fleet_run import HostJob, backup_dir, holder
from queueops.plan import HostPlan, facts_request, plan_workers
from queueops.remote import HostSession
from queueops.report import HostResult
from queueops.settings import HostSettings

TASK = "setup-worker"


def wait_timeout(settings: HostSettings) -> float:
    """Long enough for supervisor to give up (FATAL) on a program that cannot start."""
    startsecs = max((p.startsecs for p in settings.worker.programs), default=1)
    return startsecs * 4 + 20


def apply_request(plan: HostPlan, settings: HostSettings) -> dict[str, Any]:
    return {
        "op": "apply",
        "holder": holder(TASK),
        "backup_dir": backup_dir(TASK),
        "changes": [
            {"path": c.path, "action": c.action, "before": c.before_sha, "after": c.after}
            for c in plan.changes
        ],
        "supervisor": {
            "config": plan.platform.supervisor_config,
            "service": plan.platform.service,
            "install": [
                {"binary": i.binary, "argv": [*i.argv, "supervisor"], "refresh": list(i.refresh)}
                for i in plan.platform.installers
            ],
            "groups": list(plan.groups),
            "expected": dict(plan.expected),
            "previous": dict(plan.previous),
            "start": list(plan.start),
            "timeout": wait_timeout(settings),
        },
    }


def setup_worker(check: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        facts = session.agent(facts_request(settings))
        plan = plan_workers(settings, facts)
        result = HostResult(
            settings.name,
            "changed" if plan.changed else "ok",
            items=plan.items(),
            diffs=[c.diff for c in plan.changes],
        )
        if check or not plan.changed:
            return result
        session.agent(apply_request(plan, settings))
        return result

    return job
