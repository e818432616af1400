"""setup-horizon's apply request: the plan's files, and how Horizon picks them up."""

from __future__ import annotations

from queueops.kinds.horizon.plan import HorizonPlan
from queueops.kinds.horizon.protocol import HorizonApplyRequest
from queueops.kinds.horizon.settings import HorizonSettings
from queueops.platforms import supervisor_spec
from queueops.transport.agent import backup_dir, holder

TASK = "setup-horizon"


def apply_request(plan: HorizonPlan, horizon: HorizonSettings, keep: int) -> HorizonApplyRequest:
    platform = plan.platform
    return {
        "op": "horizon_apply",
        "holder": holder(TASK),
        "backup_dir": backup_dir(TASK),
        "backups_keep": keep,
        "changes": [c.request() for c in plan.changes],
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
