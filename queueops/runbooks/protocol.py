"""The runbooks' requests to the host (see the host_*.py modules beside this one)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from queueops.transport.protocol import AppTarget, Holder

SIGNALS_MODULE = "queueops.runbooks.host_signals"
QUEUE_JOBS_MODULE = "queueops.runbooks.host_queue_jobs"
FALLBACK_MODULE = "queueops.runbooks.host_fallback"
FAILED_MODULE = "queueops.runbooks.host_failed"
# On each host while a fallback is active: since, operator, the previous connection, and
# whether the fallback stopped Horizon (restore-redis starts it again only then).
FALLBACK_STATE = "/var/lib/queueops/fallback.json"


class Audited(TypedDict):
    """A request that changes a host: it takes the host lock and leaves an audit line; with
    `check` it only looks and takes neither."""

    op: str
    check: NotRequired[bool]
    holder: NotRequired[Holder]
    # operator, task, arguments: what the host's audit line says (never a secret).
    audit: NotRequired[dict[str, Any]]


class ProgramPause(TypedDict):
    name: str
    # "signal": SIGUSR2/SIGCONT; "stop": a graceful stop and start (see runbooks.signals).
    mode: str
    sleep: int
    stop_timeout: int


class HorizonTarget(AppTarget):
    program: str


class SignalRequest(Audited):
    action: str
    # From the facts where the operator took them (a Horizon host); else the candidates, and
    # the host finds the one whose supervisord answers.
    supervisor_config: NotRequired[str]
    supervisor_configs: NotRequired[list[str]]
    programs: list[ProgramPause]
    horizon: HorizonTarget | None
    supervisor_name: str | None


class TerminateRequest(Audited):
    supervisor_config: str
    horizon: HorizonTarget
    timeout: float


class QueueJob(TypedDict):
    state: str
    payload: str
    score: NotRequired[str | None]


class QueueRequest(Audited):
    app_path: str
    php: str
    connection: str
    queue: str
    jobs: NotRequired[list[QueueJob]]


class FallbackHorizon(TypedDict):
    program: str
    stop_timeout: int


class FallbackRequest(Audited, AppTarget):
    target: str
    supervisor_config: str
    horizon: FallbackHorizon | None
    backup_dir: NotRequired[str]
    queues: NotRequired[list[str]]
    tries: NotRequired[int]
    timeout: NotRequired[int]
    drain_timeout: NotRequired[int]


class FailedRequest(Audited, AppTarget):
    ids: NotRequired[list[str]]
