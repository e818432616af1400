"""Supervisor programs of queue:work workers (role queue_worker): setup-worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from queueops.health import HostHealth, grade
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.kinds.base import Kind, RoleElements
from queueops.kinds.workers import host, job, lint
from queueops.kinds.workers.plan import HostPlan, facts_request, plan_workers
from queueops.kinds.workers.render import render_offline
from queueops.kinds.workers.settings import KIND as NAME
from queueops.kinds.workers.settings import WorkerSettings, worker_of, worker_settings
from queueops.lint.findings import Collector
from queueops.plan.changes import FileChange
from queueops.plan.report import HostResult
from queueops.protocol import Facts, RestartStep
from queueops.transport.agent import AgentSession

# A worker process at or above these percents of its --memory limit is yellow, red.
MEMORY_PERCENT = (80, 90)


class Workers(Kind[WorkerSettings, Facts, HostPlan]):
    name = NAME
    role = "queue_worker"
    task = job.TASK
    help = "Install and converge the supervisor programs of queue workers; prove they run."
    rules = lint.WORKER_RULES
    host_module = host.__name__
    checks = None
    # Its programs are in every observation's supervisor reading.
    observation = None
    status_column = None
    role_elements: ClassVar[RoleElements] = {
        "queue_worker_programs": (
            "queue_worker_program_defaults",
            {
                "name": {"type": "str", "required": True,
                         "description": ["Program name: letters, digits and . _ -"]},
                "queues": {"type": "list", "elements": "str", "required": True,
                           "description": ["Queues the program works, in priority order."]},
            },
        ),
    }  # fmt: skip

    def settings(self, host: Host) -> WorkerSettings:
        return worker_settings(host)

    def of(self, settings: HostSettings) -> WorkerSettings:
        return worker_of(settings)

    def skip(self, settings: HostSettings) -> str | None:
        # Never: a host without programs still loses the programs queueops wrote earlier.
        return None

    def facts(self, session: AgentSession, settings: HostSettings) -> Facts:
        return session.facts(facts_request(worker_of(settings)))

    def plan(self, settings: HostSettings, facts: Facts) -> HostPlan:
        return plan_workers(settings, facts)

    def apply(
        self, session: AgentSession, settings: HostSettings, plan: HostPlan, result: HostResult
    ) -> None:
        session.call(
            host.apply, job.apply_request(plan, worker_of(settings), settings.backups_keep)
        )

    def lint(self, out: Collector) -> None:
        lint.lint(out)

    def render(self, host: Host, settings: HostSettings) -> dict[str, str]:
        return render_offline(host, settings)

    def programs(self, settings: HostSettings) -> dict[str, int]:
        return {p.name: p.processes for p in worker_of(settings).programs}

    def restart_steps(self, settings: HostSettings) -> list[RestartStep]:
        # Its programs are what restart-queue restarts.
        return []

    def observed_paths(self, settings: HostSettings) -> list[str]:
        return facts_request(worker_of(settings))["paths"]

    def drift(self, settings: HostSettings, facts: Facts) -> list[FileChange]:
        return list(plan_workers(settings, facts).changes)

    def observe_request(self, settings: HostSettings, deep: bool) -> dict[str, Any] | None:
        return None

    def health(self, obs: Mapping[str, Any], settings: HostSettings, out: HostHealth) -> None:
        limits = memory_limits(settings)
        for proc in (obs.get("supervisor") or {}).get("processes", []):
            limit, rss = limits.get(proc["group"]), proc.get("rss")
            if limit and rss is not None:
                percent = 100 * rss / limit
                if (level := grade(percent, MEMORY_PERCENT)) != "green":
                    out.worse(level, f"{proc['name']} uses {percent:.0f} % of its --memory limit")

    def status_cell(self, obs: Mapping[str, Any]) -> str:
        return ""


def memory_limits(settings: HostSettings) -> dict[str, int]:
    """Program name → its worker's --memory limit in bytes (programs without one: none)."""
    return {p.name: p.memory * 1024 * 1024 for p in worker_of(settings).programs if p.memory}


KIND = Workers()
