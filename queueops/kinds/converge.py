"""The converge task of every kind: facts, the pure plan, and the apply when the plan changes
something (never with --check), one host at a time in the fleet's loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queueops.inventory.host import HostSettings
from queueops.kinds.base import Kind
from queueops.plan.report import HostResult
from queueops.protocol import ReportItem
from queueops.transport.agent import AgentSession

if TYPE_CHECKING:
    from queueops.transport.fleet import HostJob


def converge_job(kind: Kind[Any, Any, Any], check: bool) -> HostJob:
    def job(session: AgentSession, settings: HostSettings) -> HostResult:
        reason = kind.skip(settings)
        if reason is not None:
            skip: ReportItem = {"item": kind.name, "action": "skip", "status": "ok",
                                "detail": reason}  # fmt: skip
            return HostResult(settings.name, "ok", items=[skip])
        plan = kind.plan(settings, kind.facts(session, settings))
        result = HostResult.of(settings.name, plan)
        if not check and plan.changed:
            kind.apply(session, settings, plan, result)
        return result

    return job
