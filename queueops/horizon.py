"""setup-horizon: converge each host's Horizon program and config/horizon.php, prove it runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.fleet_run import HostJob, backup_dir, holder
from queueops.horizon_plan import (
    HorizonPlan,
    horizon_facts_request,
    horizon_user,
    plan_horizon,
)
from queueops.horizon_settings import HorizonSettings
from queueops.remote import HostSession
from queueops.report import HostResult
from queueops.settings import HostSettings

TASK = "setup-horizon"


def apply_request(plan: HorizonPlan, horizon: HorizonSettings) -> dict[str, Any]:
    platform = plan.platform
    return {
        "op": "horizon_apply",
        "holder": holder(TASK),
        "backup_dir": backup_dir(TASK),
        "changes": [
            {"path": c.path, "before": c.before_sha, "after": c.after} for c in plan.changes
        ],
        "config_path": horizon.config_path,
        "program_path": plan.program_path,
        "config_cache": plan.config_cached and plan.config_changed,
        "restart": plan.restart,
        "php": horizon.php,
        "app_path": horizon.app_path,
        # artisan writes the app's cache and logs: as Horizon's user, never as root.
        "user": horizon_user(horizon, platform),
        # The old master finishes its running jobs first: up to stopwaitsecs.
        "stop_timeout": horizon.stopwaitsecs + 10,
        "status_timeout": horizon.status_timeout,
        "supervisor": {
            "config": platform.supervisor_config,
            "service": platform.service,
            "install": [
                {"binary": i.binary, "argv": [*i.argv, "supervisor"], "refresh": list(i.refresh)}
                for i in platform.installers
            ],
            "program": plan.program,
        },
    }


def setup_horizon(check: bool, horizons: Mapping[str, HorizonSettings]) -> HostJob:
    """The job of one host; `horizons` holds the validated horizon settings by host name."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizons[settings.name]
        if not horizon.configured:
            return HostResult(
                settings.name,
                "ok",
                items=[{"item": "horizon", "action": "skip", "status": "ok",
                        "detail": "horizon_environments is empty"}],
            )  # fmt: skip
        facts = session.agent(horizon_facts_request(settings, horizon))
        plan = plan_horizon(settings, horizon, facts)
        result = HostResult(
            settings.name,
            "changed" if plan.changed else "ok",
            items=plan.items(),
            diffs=[c.diff for c in plan.changes],
        )
        if check or not plan.changed:
            return result
        request = apply_request(plan, horizon)
        answer = session.agent(
            request, timeout=request["stop_timeout"] + request["status_timeout"] + 300
        )
        for item in result.items:
            if item["item"] == f"program {plan.program}":
                item["detail"] = f"master pid {answer.get('old_pid')} -> {answer.get('pid')}"
        return result

    return job
