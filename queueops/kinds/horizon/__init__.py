"""Laravel Horizon (role horizon): its supervisor program and config/horizon.php."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.health import HostHealth
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.kinds.base import Kind, observed
from queueops.kinds.horizon import host, job, lint
from queueops.kinds.horizon.grading import grade_horizon, state_cell
from queueops.kinds.horizon.plan import (
    HorizonPlan,
    horizon_facts_request,
    horizon_paths,
    plan_horizon,
    render_horizon,
)
from queueops.kinds.horizon.protocol import HorizonProbe
from queueops.kinds.horizon.settings import KIND as NAME
from queueops.kinds.horizon.settings import (
    HorizonSettings,
    configured_horizon,
    horizon_of,
    horizon_settings,
)
from queueops.lint.findings import Collector
from queueops.plan.changes import FileChange
from queueops.plan.report import HostResult
from queueops.plan.templates import offline_platform
from queueops.platforms import app_users
from queueops.protocol import AppTarget, Facts, RestartStep
from queueops.transport.agent import AGENT_TIMEOUT, AgentSession


class Horizon(Kind[HorizonSettings, Facts, HorizonPlan]):
    name = NAME
    role = "horizon"
    task = job.TASK
    help = "Install Horizon's supervisor program and config/horizon.php; restart it only on change."
    # Its rules compare timeouts with the workers' retry_after.
    needs = ("workers",)
    rules = lint.HORIZON_RULES
    host_module = host.__name__
    checks = f"{__name__}.checks"
    observation = "horizon"
    status_column = "horizon"

    def settings(self, host: Host) -> HorizonSettings:
        return horizon_settings(host)

    def of(self, settings: HostSettings) -> HorizonSettings:
        return horizon_of(settings)

    def skip(self, settings: HostSettings) -> str | None:
        return None if horizon_of(settings).configured else "horizon_environments is empty"

    def facts(self, session: AgentSession, settings: HostSettings) -> Facts:
        return session.facts(horizon_facts_request(horizon_of(settings)))

    def plan(self, settings: HostSettings, facts: Facts) -> HorizonPlan:
        return plan_horizon(settings, facts)

    def apply(
        self, session: AgentSession, settings: HostSettings, plan: HorizonPlan, result: HostResult
    ) -> None:
        request = job.apply_request(plan, horizon_of(settings), settings.backups_keep)
        # Horizon's stop and status on top of what any apply may do (install supervisord).
        timeout = request["stop_timeout"] + request["status_timeout"] + AGENT_TIMEOUT
        answer = session.call(host.horizon_apply, request, timeout=timeout)
        for item in result.items:
            if item["item"] == f"program {plan.program}":
                item["detail"] = f"master pid {answer['old_pid']} -> {answer['pid']}"

    def lint(self, out: Collector) -> None:
        lint.lint(out)

    def render(self, host: Host, settings: HostSettings) -> dict[str, str]:
        horizon = horizon_of(settings)
        if not horizon.configured:
            return {}
        return render_horizon(horizon, offline_platform(host, settings))

    def programs(self, settings: HostSettings) -> dict[str, int]:
        horizon = configured_horizon(settings)
        return {horizon.program_name: 1} if horizon else {}

    def restart_steps(self, settings: HostSettings) -> list[RestartStep]:
        horizon = configured_horizon(settings)
        if horizon is None:
            return []
        # horizon:terminate as the workers restart; then a new master must run, which may
        # take as long as the old one's running jobs (stopwaitsecs) and a start.
        timeout = horizon.stopwaitsecs + horizon.status_timeout + 10
        app: AppTarget = {"app_path": horizon.app_path, "php": horizon.php,
                          "user": horizon.user or ""}  # fmt: skip
        step: RestartStep = {
            "item": f"program {horizon.program_name}",
            "app": app,
            "args": ["horizon:terminate"],
            "if_defined": False,
            "module": host.__name__,
            "program": horizon.program_name,
            "request": {"timeout": timeout},
            "timeout": timeout,
        }
        return [step]

    def observed_paths(self, settings: HostSettings) -> list[str]:
        horizon = configured_horizon(settings)
        return horizon_paths(horizon) if horizon else []

    def drift(self, settings: HostSettings, facts: Facts) -> list[FileChange]:
        if configured_horizon(settings) is None:
            return []
        return list(plan_horizon(settings, facts).changes)

    def observe_request(self, settings: HostSettings, deep: bool) -> dict[str, Any] | None:
        horizon = configured_horizon(settings)
        if horizon is None:
            return None
        probe: HorizonProbe = {
            "app_path": horizon.app_path,
            "php": horizon.php,
            "app_users": app_users(horizon.user_on),
            "program": horizon.program_name,
        }
        return dict(probe)

    def health(self, obs: Mapping[str, Any], settings: HostSettings, out: HostHealth) -> None:
        horizon = observed(obs, self.observation)
        if horizon is not None:
            for level, reason in grade_horizon(horizon, obs.get("pause")):
                out.worse(level, reason)

    def status_cell(self, obs: Mapping[str, Any]) -> str:
        horizon = observed(obs, self.observation)
        return "-" if horizon is None else state_cell(horizon)


KIND = Horizon()
