"""The programs transaction every kind that runs supervisor programs applies: under the host
lock, files still as planned, supervisord installed and started, files backed up and
written, only the changed groups reloaded, every program RUNNING with its expected
processes; any failure puts the files and the previous programs back."""

from __future__ import annotations

import os

from queueops.agent.common import AgentError
from queueops.agent.hostlock import HostLock
from queueops.agent.supervisor import (
    apply_update,
    ensure_supervisor,
    start_group,
    supervisor_proxy,
    wait_running,
)
from queueops.agent.transaction import require_unchanged, rollback_programs, write_changes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from queueops.protocol import ItemsAnswer, ProgramsApplyRequest, ReportItem


def _nothing() -> list[str]:
    return []


def apply_programs(
    request: ProgramsApplyRequest,
    before: Callable[[], list[str]] = _nothing,
    after: Callable[[], None] | None = None,
) -> ItemsAnswer:
    """The transaction; `before` runs once the lock is held and the files are as planned
    (what else the programs need on the host, reported as done), `after` once they run
    (a last proof; raising AgentError rolls everything back)."""
    items: list[ReportItem] = []
    with HostLock(dict(request["holder"])):
        changes: list[dict[str, Any]] = [dict(c) for c in request["changes"]]
        for change in changes:
            require_unchanged(change["path"], change["before"])
        supervisor = request["supervisor"]
        groups = set(supervisor["groups"])
        # A host whose programs are none, now and before, needs no supervisord at all.
        programs = bool(groups or supervisor["expected"] or supervisor["start"])
        done = []
        if programs:
            done = ensure_supervisor(dict(supervisor), os.path.isdir("/run/systemd/system"))
        for what in [*done, *before()]:
            action, _, item = what.partition(" ")
            items.append({"item": item, "action": action, "status": "changed"})
        written: list[dict[str, object]] = []
        try:
            written = write_changes(changes, request["backup_dir"], request["backups_keep"])
            problems = {}
            if programs:
                proxy = supervisor_proxy(supervisor["config"])
                if groups:
                    apply_update(proxy, groups)
                for name in supervisor["start"]:
                    start_group(proxy, name)
                problems = wait_running(proxy, supervisor["expected"], supervisor["timeout"])
            if problems:
                raise AgentError(
                    "; ".join(
                        f"program {g} did not reach RUNNING: {d}" for g, d in problems.items()
                    )
                )
            if after is not None:
                after()
        except (AgentError, OSError) as exc:
            note = rollback_programs(
                written, supervisor["config"], groups, supervisor["previous"], supervisor["timeout"]
            )
            raise AgentError(f"{exc} — {note}") from None
    return {"items": items}
