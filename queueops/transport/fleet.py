"""Run one task on many hosts at once: one connection each, one host's failure stops no other."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.plan.report import HostResult, RunReport
from queueops.transport.protocol import Holder
from queueops.transport.session import HostSession

MAX_PARALLEL = 64

HostJob = Callable[[HostSession, HostSettings], HostResult]
T = TypeVar("T")
R = TypeVar("R")


def holder(task: str) -> Holder:
    """Who holds a host's lock, as another run will be told."""
    return {
        "task": task,
        "operator": getpass.getuser(),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def backup_dir(task: str) -> str:
    return f"/var/backups/queueops/{time.strftime('%Y%m%dT%H%M%S')}-{task}"


def failure_text(name: str, exc: Exception) -> str:
    """What a host's row says when its work raised: an operator error as it is, anything else
    (a bug) named as internal so it is never mistaken for the host's state."""
    if isinstance(exc, QueueopsError):
        return str(exc).removeprefix(f"{name}: ")
    return f"internal error: {type(exc).__name__}: {exc}"


def fleet_map(items: Sequence[T], one: Callable[[T], R]) -> list[R]:
    """`one` for every item, hosts in parallel, results in the items' order. `one` must turn
    its own host's failures into a result: a host's failure never stops another host."""
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(items)))) as pool:
        return list(pool.map(one, items))


def run_on_hosts(task: str, hosts: Sequence[HostSettings], job: HostJob, check: bool) -> RunReport:
    def one(settings: HostSettings) -> HostResult:
        session = HostSession(settings.name, settings.connection)
        try:
            with session:
                result = job(session, settings)
        except Exception as exc:  # a bug on one host must not take the other hosts down
            result = HostResult(settings.name, "failed", error=failure_text(settings.name, exc))
        result.connections = session.counters.connections
        result.commands = session.counters.commands
        return result

    return RunReport(task, fleet_map(hosts, one), check)
