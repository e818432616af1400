"""Laravel's scheduler (role scheduler): `schedule:run` every minute from an /etc/cron.d
entry, or `schedule:work` under Supervisor, on the hosts of the inventory group scheduler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.health import HostHealth
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.kinds.base import Kind, observed
from queueops.kinds.scheduler import host, lint
from queueops.kinds.scheduler.plan import (
    CRON_HEADER,
    PROGRAM_HEADER,
    SchedulerPlan,
    cron_path,
    cron_spec,
    plan_scheduler,
    render_scheduler,
    scheduler_facts_request,
)
from queueops.kinds.scheduler.protocol import (
    SchedulerApplyRequest,
    SchedulerFacts,
    SchedulerProbe,
)
from queueops.kinds.scheduler.settings import KIND as NAME
from queueops.kinds.scheduler.settings import (
    SchedulerSettings,
    scheduler_of,
    scheduler_settings,
)
from queueops.lint.findings import Collector
from queueops.plan.changes import FileChange, file_changes
from queueops.plan.report import HostResult
from queueops.plan.templates import offline_platform
from queueops.platforms import detect_family, platform_for
from queueops.protocol import AppTarget, Facts, RestartStep
from queueops.supervisor.programs import FAMILIES, program_paths
from queueops.transport.agent import AGENT_TIMEOUT, AgentSession, backup_dir, holder

TASK = "setup-scheduler"
# The scheduler runs every minute: no run for this long means it does not run.
STALE_SECONDS = 150


class Scheduler(Kind[SchedulerSettings, SchedulerFacts, SchedulerPlan]):
    name = NAME
    role = "scheduler"
    task = TASK
    help = "Install Laravel's scheduler (cron schedule:run, or schedule:work); prove it runs."
    rules = lint.SCHEDULER_RULES
    host_module = host.__name__
    checks = f"{__name__}.checks"
    observation = "scheduler"
    status_column = "scheduler"

    def settings(self, host: Host) -> SchedulerSettings:
        return scheduler_settings(host)

    def of(self, settings: HostSettings) -> SchedulerSettings:
        return scheduler_of(settings)

    def skip(self, settings: HostSettings) -> str | None:
        return None if scheduler_of(settings).configured else "not in the scheduler group"

    def facts(self, session: AgentSession, settings: HostSettings) -> SchedulerFacts:
        request = scheduler_facts_request(scheduler_of(settings))
        return session.call(host.scheduler_facts, request)

    def plan(self, settings: HostSettings, facts: SchedulerFacts) -> SchedulerPlan:
        return plan_scheduler(settings, facts)

    def apply(
        self, session: AgentSession, settings: HostSettings, plan: SchedulerPlan, result: HostResult
    ) -> None:
        scheduler = scheduler_of(settings)
        request: SchedulerApplyRequest = {
            "op": "scheduler_apply",
            "holder": holder(TASK),
            "backup_dir": backup_dir(TASK),
            "backups_keep": settings.backups_keep,
            "changes": [c.request() for c in plan.changes],
            "supervisor": plan.programs.spec(scheduler.stopwaitsecs + 30),
            "cron": cron_spec(plan.platform) if plan.mode == "cron" else None,
        }
        session.call(host.scheduler_apply, request, timeout=scheduler.stopwaitsecs + AGENT_TIMEOUT)

    def lint(self, out: Collector) -> None:
        lint.lint(out)

    def render(self, host: Host, settings: HostSettings) -> dict[str, str]:
        scheduler = scheduler_of(settings)
        if not scheduler.configured:
            return {}
        return render_scheduler(scheduler, offline_platform(host, settings))

    def programs(self, settings: HostSettings) -> dict[str, int]:
        scheduler = scheduler_of(settings)
        return {scheduler.name: 1} if scheduler.configured and scheduler.mode == "work" else {}

    def restart_steps(self, settings: HostSettings) -> list[RestartStep]:
        scheduler = scheduler_of(settings)
        if not scheduler.configured:
            return []
        # Laravel 10+: a schedule:run or schedule:work still running the old code stops.
        app: AppTarget = {
            "app_path": scheduler.app_path,
            "php": scheduler.php,
            "user": scheduler.user or "",
        }
        return [
            {"item": "scheduler", "app": app, "args": ["schedule:interrupt"], "if_defined": True}
        ]

    def observed_paths(self, settings: HostSettings) -> list[str]:
        scheduler = scheduler_of(settings)
        if not scheduler.configured:
            return []
        return [cron_path(scheduler), *program_paths(scheduler.name)]

    def drift(self, settings: HostSettings, facts: Facts) -> list[FileChange]:
        scheduler = scheduler_of(settings)
        if not scheduler.configured:
            return []
        platform = platform_for(detect_family(facts["os_release"]))
        files = facts["files"]
        mine = {
            path: info
            for path, info in files.items()
            if info is not None and info["header"] in (CRON_HEADER, PROGRAM_HEADER)
        }
        return file_changes(render_scheduler(scheduler, platform), files, mine)

    def observe_request(self, settings: HostSettings, deep: bool) -> dict[str, Any] | None:
        scheduler = scheduler_of(settings)
        if not scheduler.configured:
            return None
        probe: SchedulerProbe = {
            "mode": scheduler.mode,
            "name": scheduler.name,
            "cron_path": cron_path(scheduler),
            "program_paths": program_paths(scheduler.name),
            "log_file": scheduler.log_file,
            "cron": [cron_spec(platform) for platform in FAMILIES],
            "deep": deep,
            "app_path": scheduler.app_path,
            "php": scheduler.php,
        }
        return dict(probe)

    def health(self, obs: Mapping[str, Any], settings: HostSettings, out: HostHealth) -> None:
        seen = observed(obs, self.observation)
        if seen is None:
            return
        if not seen["entry"] or not seen["running"]:
            out.worse("red", describe_entry(seen))
            return
        last_run, now = seen["last_run"], seen["now"]
        if last_run is not None and now - last_run > STALE_SECONDS:
            out.worse("red", f"the scheduler last ran {now - last_run:.0f} s ago")
        elif last_run is None and (seen["entry_since"] or now) < now - STALE_SECONDS:
            out.worse("red", "the scheduler has never run")

    def status_cell(self, obs: Mapping[str, Any]) -> str:
        seen = observed(obs, self.observation)
        if seen is None:
            return "-"
        if not seen["entry"] or not seen["running"]:
            return f"{seen['mode']} DOWN"
        last = "never" if seen["last_run"] is None else f"{seen['now'] - seen['last_run']:.0f}s ago"
        return f"{seen['mode']}, last run {last}"


def describe_entry(seen: Mapping[str, Any]) -> str:
    """Why a scheduler observed does not run, in the operator's words."""
    if seen["mode"] == "cron":
        if not seen["entry"]:
            return "no scheduler cron entry"
        return "cron is not running: nothing reads the scheduler's entry"
    if not seen["entry"]:
        return "no schedule:work program file"
    return "the schedule:work program is not RUNNING"


KIND = Scheduler()
