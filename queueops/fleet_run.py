"""Run one task on many hosts at once: one connection each, one host's failure stops no other."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from queueops.errors import QueueopsError
from queueops.remote import HostSession
from queueops.report import HostResult, RunReport
from queueops.settings import HostSettings

MAX_PARALLEL = 64

HostJob = Callable[[HostSession, HostSettings], HostResult]


def holder(task: str) -> dict[str, Any]:
    """Who holds a host's lock, as another run will be told."""
    return {
        "task": task,
        "operator": getpass.getuser(),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def backup_dir(task: str) -> str:
    return f"/var/backups/queueops/{time.strftime('%Y%m%dT%H%M%S')}-{task}"


def run_on_hosts(task: str, hosts: Sequence[HostSettings], job: HostJob, check: bool) -> RunReport:
    def one(settings: HostSettings) -> HostResult:
        session = HostSession(settings.name, settings.connection)
        try:
            with session:
                result = job(session, settings)
        except QueueopsError as exc:
            error = str(exc).removeprefix(f"{settings.name}: ")
            result = HostResult(settings.name, "failed", error=error)
        except Exception as exc:  # a bug on one host must not take the other hosts down
            result = HostResult(
                settings.name, "failed", error=f"internal error: {type(exc).__name__}: {exc}"
            )
        result.connections = session.counters.connections
        result.commands = session.counters.commands
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(hosts)))) as pool:
        results = list(pool.map(one, hosts))
    return RunReport(task, results, check)
