"""The runbooks' requests to the host (see the host_*.py modules beside this one)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from queueops.protocol import AppTarget, Holder, ReportItem, RestartStep

SIGNALS_MODULE = "queueops.runbooks.host_signals"
QUEUE_JOBS_MODULE = "queueops.runbooks.host_queue_jobs"
FALLBACK_MODULE = "queueops.runbooks.host_fallback"
FAILED_MODULE = "queueops.runbooks.host_failed"
# On each host while a fallback is active: since, operator, the previous connection, and
# whether the fallback stopped Horizon (restore-redis starts it again only then).
FALLBACK_STATE = "/var/lib/queueops/fallback.json"
# On each host while queueops holds something paused: who paused what and when
# (protocol.PauseMarker); status and verify tell such a pause from an outage by it.
PAUSE_STATE = "/var/lib/queueops/pause.json"


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


class RestartRequest(TypedDict):
    """restart-queue on one host (runbooks/host_restart.py)."""

    op: str
    holder: Holder
    supervisor_config: str
    # The workers' programs and their process counts: each process must come back anew.
    expected: dict[str, int]
    php: str
    app_path: str
    user: str
    force: bool
    timeout: float
    # The kinds' own steps, after queue:restart.
    steps: list[RestartStep]


class QueueJob(TypedDict):
    state: str
    payload: str
    score: NotRequired[str | None]


class QueueRequest(Audited):
    app_path: str
    php: str
    # Who may run the app's code (protocol.FactsRequest).
    app_users: list[str]
    connection: str
    queue: str
    jobs: NotRequired[list[QueueJob]]
    # restore: a digest of the export's host, queue and jobs, the key of its marker in Redis
    # (queue_jobs.restore_id); force pushes them even when the marker is there (--again).
    restore_id: NotRequired[str]
    force: NotRequired[bool]


class FallbackHorizon(TypedDict):
    program: str
    stop_timeout: int


class FallbackRequest(Audited, AppTarget):
    target: str
    supervisor_config: str
    horizon: FallbackHorizon | None
    backup_dir: NotRequired[str]
    backups_keep: NotRequired[int]
    queues: NotRequired[list[str]]
    tries: NotRequired[int]
    timeout: NotRequired[int]
    drain_timeout: NotRequired[int]


class FailedRequest(Audited, AppTarget):
    ids: NotRequired[list[str]]


class AuditedAnswer(TypedDict):
    """What every audited step answers: its audit line's summary, and why that line is
    missing when the host's audit log could not be written (the step itself was done)."""

    summary: str
    audit_warning: NotRequired[str]


class RunbookAnswer(AuditedAnswer):
    """What an audited runbook step did: its report items, and its audit line's summary."""

    items: list[ReportItem]


class FallbackPrepared(RunbookAnswer):
    # The fallback marker as the step found it (None: no fallback was active).
    state: NotRequired[dict[str, Any] | None]


class QueuePlace(TypedDict):
    """Where the app's queue lives: its Redis (address only, never the password) and keys."""

    endpoint: str
    prefix: str
    queue: str
    # The queue's list, then its delayed, reserved and notify keys.
    keys: list[str]


class QueueRead(QueuePlace):
    jobs: list[QueueJob]
    counts: dict[str, int]


class QueueDeleted(QueuePlace, AuditedAnswer):
    # Per exported job: whether it was still there and is now removed.
    removed: list[bool]


class QueueRestored(QueuePlace, AuditedAnswer):
    pushed: int
    # This restore id's marker was in Redis: its jobs were pushed back before, not again.
    already: bool


class FailedRows(TypedDict):
    # The app's failed jobs, as its queue.failer returns them.
    rows: list[dict[str, Any]]
    store: dict[str, str]


class FailedStore(TypedDict):
    # Which failed-job store the app uses: an id equal on hosts that share it, a name to show.
    store: dict[str, str]


class FailedForgotten(AuditedAnswer):
    forgotten: list[str]


class FailedRetried(AuditedAnswer):
    pushed: int
