"""Run one task on many hosts at once: one connection each, at most `forks` at a time, one
host's failure stops no other; on a terminal, each host is shown as it finishes."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO, TypeVar

from queueops.errors import QueueopsError, UsageError
from queueops.inventory.host import HostSettings
from queueops.plan.report import HostResult, RunReport
from queueops.transport.session import Gateways, HostSession

# Hosts in flight at once unless told otherwise. Ansible's 5 is tuned for its many short
# connections per task; queueops holds one connection per host and its runs wait mostly on
# the hosts (supervisord starting programs), so 20 keeps a 20-host fleet in one wave while a
# 200-host run never opens more than 20 sessions, well under sshd's MaxStartups (10:30:100)
# on any one target. Bastions are one connection per run whatever the count.
DEFAULT_FORKS = 20
FORKS_ENV = "QUEUEOPS_FORKS"

HostJob = Callable[[HostSession, HostSettings], HostResult]
T = TypeVar("T")
R = TypeVar("R")


def resolve_forks(option: int | None, config_value: object = None) -> int:
    """--forks, then QUEUEOPS_FORKS, then invoke.yaml's queueops.forks, then DEFAULT_FORKS."""
    for where, value in (
        ("--forks", option),
        (FORKS_ENV, os.environ.get(FORKS_ENV)),
        ("queueops.forks in invoke.yaml", config_value),
    ):
        if value is None or value == "":
            continue
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"{where} must be a whole number of hosts >= 1, got {value!r}")
        return int(text)
    return DEFAULT_FORKS


@dataclass(frozen=True)
class Reach:
    """How a run reaches its hosts: how many at once, whether to accept and record unknown
    host keys, and where to show hosts as they finish (None: nowhere)."""

    forks: int = DEFAULT_FORKS
    accept_new_host_keys: bool = False
    progress: TextIO | None = None

    @classmethod
    def for_terminal(cls, forks: int, accept_new: bool, as_json: bool) -> Reach:
        """Progress lines only for a person at a terminal; --json and pipes see none."""
        shown = sys.stderr if sys.stderr.isatty() and not as_json else None
        return cls(forks, accept_new, shown)


def failure_text(name: str, exc: Exception) -> str:
    """What a host's row says when its work raised: an operator error as it is, anything else
    (a bug) named as internal so it is never mistaken for the host's state."""
    if isinstance(exc, QueueopsError):
        return str(exc).removeprefix(f"{name}: ")
    return f"internal error: {type(exc).__name__}: {exc}"


def fleet_map(items: Sequence[T], one: Callable[[T], R], forks: int = DEFAULT_FORKS) -> list[R]:
    """`one` for every item, at most `forks` at a time, results in the items' order. `one` must
    turn its own host's failures into a result: a host's failure never stops another host."""
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(items)))) as pool:
        return list(pool.map(one, items))


class Progress:
    """`[3/20] app7 changed 2 (1.4 s)` on stderr as each host finishes."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self._lock = threading.Lock()

    def finished(self, result: HostResult, seconds: float) -> None:
        if self.stream is None:
            return
        with self._lock:
            self.done += 1
            what = result.error or (f"{result.changed} changed" if result.changed else "")
            line = f"[{self.done}/{self.total}] {result.host} {result.status}"
            line += f": {what[:120]}" if what else ""
            self.stream.write(f"{line} ({seconds:.1f} s)\n")
            self.stream.flush()


def run_on_hosts(
    task: str,
    hosts: Sequence[HostSettings],
    job: HostJob,
    check: bool,
    reach: Reach | None = None,
) -> RunReport:
    reach = reach or Reach()
    gateways = Gateways(reach.accept_new_host_keys)
    progress = Progress(reach.progress, len(hosts))

    def one(settings: HostSettings) -> HostResult:
        start = time.monotonic()
        session = HostSession(
            settings.name, settings.connection, reach.accept_new_host_keys, gateways
        )
        try:
            with session:
                result = job(session, settings)
        except Exception as exc:  # a bug on one host must not take the other hosts down
            result = HostResult(settings.name, "failed", error=failure_text(settings.name, exc))
        result.connections = session.counters.connections
        result.commands = session.counters.commands
        result.attempts = session.counters.attempts
        progress.finished(result, time.monotonic() - start)
        return result

    try:
        return RunReport(task, fleet_map(hosts, one, reach.forks), check)
    finally:
        gateways.close()
