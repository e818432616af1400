"""Workers started by hand outside supervisor: list them, then (confirmed) stop them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.observe import host
from queueops.observe.observation import observe
from queueops.observe.protocol import StopStaleRequest
from queueops.plan.report import HostResult
from queueops.protocol import ReportItem
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession

# A hand-started worker gets this long to finish its current job after SIGTERM.
STOP_TIMEOUT = 60


def list_job(found: dict[str, dict[str, Any]]) -> HostJob:
    """Record each host's stale workers (and its supervisord config) in `found`."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        obs = observe(session, settings)
        found[settings.name] = {
            "stale": obs["stale"],
            "supervisor_config": obs["facts"]["supervisor"]["config"],
        }
        items: list[ReportItem] = [
            {"item": f"pid {w['pid']} ({w['user']}): {w['args']}", "action": "found",
             "status": "ok"}
            for w in obs["stale"]
        ]  # fmt: skip
        return HostResult(settings.name, "ok", items=items)

    return job


def stop_job(found: Mapping[str, Mapping[str, Any]], timeout: float = STOP_TIMEOUT) -> HostJob:
    """Stop exactly the pids listed and confirmed; a pid that became something else is skipped."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        seen = found.get(settings.name, {})
        pids = [w["pid"] for w in seen.get("stale", [])]
        if not pids:
            return HostResult(settings.name, "ok")
        request: StopStaleRequest = {
            "op": "stop_stale",
            "pids": pids,
            "timeout": timeout,
            "supervisor_config": seen.get("supervisor_config"),
        }
        answer = session.call(host.stop_stale, request)
        items: list[ReportItem] = [
            {
                "item": f"pid {s['pid']}" + (f" ({s['args']})" if s.get("args") else ""),
                "action": s["result"],
                "status": "changed" if not s["result"].startswith("skipped") else "ok",
            }
            for s in answer["stopped"]
        ]
        return HostResult(
            settings.name,
            "changed" if any(i["status"] == "changed" for i in items) else "ok",
            items=items,
        )

    return job
