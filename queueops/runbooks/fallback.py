"""fallback-to-database and restore-redis, the operator half: prepare on the host, converge
the workers on the connection .env names now, then restart and drain the other connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.settings import HorizonSettings, configured_horizon
from queueops.kinds.workers.job import converge
from queueops.kinds.workers.plan import facts_request, plan_workers
from queueops.kinds.workers.settings import Program, artisan_user, worker_of
from queueops.plan.changes import host_platform, refuse_if_locked
from queueops.plan.report import HostResult
from queueops.runbooks import host_fallback
from queueops.runbooks.audit import audit_entry, skip
from queueops.runbooks.protocol import FallbackRequest
from queueops.transport.agent import backup_dir, holder
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession

DRAIN_TIMEOUT = 600


def horizon_queues(horizon: HorizonSettings) -> list[str]:
    queues: list[str] = []
    for _, supervisors in horizon.environments:
        for sup in supervisors:
            queues += [q for q in sup.queue if q not in queues]
    return queues


def horizon_fallback_program(horizon: HorizonSettings) -> Program:
    """Plain workers for Horizon's queues while Horizon is stopped (it cannot run without
    Redis): as many processes as Horizon's largest environment, on the app's connection."""
    supervisors = [s for _, sups in horizon.environments for s in sups]
    return Program(
        name=f"{horizon.program_name}-fallback",
        queues=tuple(horizon_queues(horizon)),
        connection=None,
        processes=max(sum(s.max_processes for s in sups) for _, sups in horizon.environments),
        sleep=3,
        tries=max(1, *(s.tries for s in supervisors)),
        max_time=0,
        timeout=max(s.timeout for s in supervisors),
        memory=None,
        backoff=(),
        user=horizon.user,
        stopwaitsecs=horizon.stopwaitsecs,
        startsecs=1,
    )


def fallback_job(task: str, target: str, check: bool, args: Mapping[str, Any]) -> HostJob:
    """fallback-to-database (target database) or restore-redis (target redis) on one host."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = configured_horizon(settings)
        worker = worker_of(settings)
        if not worker.programs and horizon is None:
            return skip(settings.name, "no managed worker program and no Horizon here")
        facts = session.facts(facts_request(worker))
        refuse_if_locked(settings.name, facts)
        platform = host_platform(settings, facts)
        base: FallbackRequest = {
            "op": "fallback_prepare",
            "target": target,
            "app_path": worker.app_path,
            "php": worker.php,
            "user": artisan_user(
                worker.programs, platform, horizon.user_on(platform) if horizon else None
            ),
            "supervisor_config": facts["supervisor"]["config"] or platform.supervisor_config,
            "horizon": (
                {"program": horizon.program_name, "stop_timeout": horizon.stopwaitsecs + 10}
                if horizon
                else None
            ),
            "holder": holder(task),
            "audit": audit_entry(task, args),
        }
        prepare: FallbackRequest = {**base, "check": check, "backup_dir": backup_dir(task),
                                    "backups_keep": settings.backups_keep}  # fmt: skip
        prepared = session.call(
            host_fallback.fallback_prepare,
            prepare,
            timeout=(horizon.stopwaitsecs if horizon else 0) + 300,
        )
        items = prepared["items"]
        # The programs again, rendered on the connection .env names now.
        programs = worker.programs
        if target == "database" and horizon is not None:
            programs = (*programs, horizon_fallback_program(horizon))
        now = dataclasses.replace(worker, programs=programs)
        if check:
            facts = session.facts(facts_request(now))
            # What the apply would see once .env names the target connection.
            wanted = target if target == "database" else "redis"
            cached = facts["app"].get("cached_queue_connection")
            facts["app"] = {**facts["app"], "queue_connection": wanted,
                            "cached_queue_connection": wanted if cached else None}  # fmt: skip
            if horizon is not None and target == "database":
                items.append({"item": f"program {horizon.program_name}", "action": "stop",
                              "status": "changed"})  # fmt: skip
            items += plan_workers(settings, facts, now).items()
            items.append({"item": "the other connection", "action": "queue:restart, drain",
                          "status": "changed"})  # fmt: skip
            return HostResult(settings.name, "changed", items=items)
        plan, _ = converge(session, settings, False, now, task)
        items += plan.items() if plan.changed else []
        queues = [q for p in programs for q in p.queues]
        queues += horizon_queues(horizon) if horizon else []
        finish: FallbackRequest = {
            **base,
            "op": "fallback_finish",
            "queues": list(dict.fromkeys(queues)),
            "tries": max((p.tries for p in programs), default=3),
            "timeout": max((p.timeout for p in programs), default=60),
            "drain_timeout": DRAIN_TIMEOUT,
        }
        finished = session.call(host_fallback.fallback_finish, finish, timeout=DRAIN_TIMEOUT + 300)
        return HostResult(settings.name, "changed", items=items + finished["items"])

    return job
