"""setup-horizon: converge each host's Horizon program and config/horizon.php, prove it runs."""

from __future__ import annotations

from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.plan import HorizonPlan, horizon_facts_request, plan_horizon
from queueops.kinds.horizon.protocol import MODULE, HorizonApplyRequest
from queueops.kinds.horizon.settings import HorizonSettings, horizon_of
from queueops.plan.report import HostResult
from queueops.platforms import supervisor_spec
from queueops.transport.fleet import HostJob, backup_dir, holder
from queueops.transport.session import HostSession

TASK = "setup-horizon"


def apply_request(plan: HorizonPlan, horizon: HorizonSettings) -> HorizonApplyRequest:
    platform = plan.platform
    return {
        "op": "horizon_apply",
        "holder": holder(TASK),
        "backup_dir": backup_dir(TASK),
        "changes": [c.request() for c in plan.changes],  # type: ignore[misc]
        "config_path": horizon.config_path,
        "program_path": plan.program_path,
        "config_cache": plan.config_cached and plan.config_changed,
        "restart": plan.restart,
        "php": horizon.php,
        "app_path": horizon.app_path,
        # artisan writes the app's cache and logs: as Horizon's user, never as root.
        "user": horizon.user_on(platform),
        # The old master finishes its running jobs first: up to stopwaitsecs.
        "stop_timeout": horizon.stopwaitsecs + 10,
        "status_timeout": horizon.status_timeout,
        "supervisor": {**supervisor_spec(platform), "program": plan.program},
    }


def setup_horizon(check: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizon_of(settings)
        if not horizon.configured:
            return HostResult(
                settings.name,
                "ok",
                items=[{"item": "horizon", "action": "skip", "status": "ok",
                        "detail": "horizon_environments is empty"}],
            )  # fmt: skip
        plan = plan_horizon(settings, session.facts(horizon_facts_request(horizon)))
        result = HostResult.of(settings.name, plan)
        if check or not plan.changed:
            return result
        request = apply_request(plan, horizon)
        answer = session.agent(
            MODULE, request, timeout=request["stop_timeout"] + request["status_timeout"] + 300
        )
        for item in result.items:
            if item["item"] == f"program {plan.program}":
                item["detail"] = f"master pid {answer.get('old_pid')} -> {answer.get('pid')}"
        return result

    return job
