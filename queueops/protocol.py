"""The typed messages both halves share, for every kind and task.

Standard library only: this module is sent to hosts with the host-side modules that use it,
and the operator side builds its requests against the same definitions, so a renamed key
fails mypy on both sides. Each kind's own requests live in its folder's protocol.py.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Holder(TypedDict):
    """Who holds a host's lock, as another run is told."""

    task: str
    operator: str
    since: str


class AppTarget(TypedDict):
    """An app on a host, and who runs its artisan commands there."""

    app_path: str
    php: str
    user: str


class InstallerSpec(TypedDict):
    binary: str
    argv: list[str]
    refresh: list[str]


class SupervisorSpec(TypedDict):
    config: str
    service: str
    install: list[InstallerSpec]


class ProgramsSpec(SupervisorSpec):
    """What a host's programs transaction does in supervisord (agent/programs.py)."""

    # Supervisor groups to reload: their files changed, appeared, went away or never loaded.
    groups: list[str]
    # Program → process count after this run, and before it (for the rollback).
    expected: dict[str, int]
    previous: dict[str, int]
    start: list[str]
    timeout: float


class ReportItem(TypedDict):
    """One row item of a host's report: `action item` (`create /etc/...`), its status and,
    where there is more to say, a detail."""

    item: str
    action: str
    status: str
    detail: NotRequired[str]


class ItemsAnswer(TypedDict):
    """The answer of an operation that reports what it did as report items."""

    items: list[ReportItem]


class FileChangeRequest(TypedDict):
    """One file of a transaction: `before` is the sha256 the plan saw (None: absent), `after`
    the new text (None: delete)."""

    path: str
    action: NotRequired[str]
    before: str | None
    after: str | None
    # For a file that does not exist yet; an existing file keeps its own.
    mode: NotRequired[int]
    owner: NotRequired[list[int]]
    # Set on the host once the file is backed up.
    backup: NotRequired[str]


class ProgramsApplyRequest(TypedDict):
    """The programs transaction (agent/programs.py): these file changes, then supervisord."""

    op: str
    holder: Holder
    backup_dir: str
    backups_keep: int
    changes: list[FileChangeRequest]
    supervisor: ProgramsSpec


class RestartStep(TypedDict):
    """An artisan command restart-queue runs after queue:restart for a kind (as the app's
    user); with `if_defined`, an app that has no such command is no error (older Laravel).

    A step with a `module` is the kind's own instead: restart_begin(step, supervisor_config)
    of that host module runs when the workers are told to restart, restart_prove(step,
    supervisor_config, begun) once they have, and returns the step's report item; `program`
    is the supervisor program it restarts (a pause holding it refuses restart-queue),
    `request` the module's, `timeout` the longest the proof may wait."""

    item: str
    app: AppTarget
    args: list[str]
    if_defined: bool
    module: NotRequired[str]
    program: NotRequired[str]
    request: NotRequired[dict[str, Any]]
    timeout: NotRequired[float]


class FileInfo(TypedDict):
    sha256: str
    header: str
    content: str


class FactsRequest(TypedDict):
    op: str
    # [directory, suffix] pairs whose managed files are listed.
    program_dirs: list[list[str]]
    supervisor_configs: list[str]
    app_path: str | None
    # The PHP that asks the app for its configuration.
    php: NotRequired[str]
    # Who may run the app's code: the first of them that exists on the host (the configured
    # user, or each platform's web user). Never root.
    app_users: list[str]
    # Files whose info is wanted whoever wrote them.
    paths: list[str]


class LaravelFacts(TypedDict, total=False):
    """The app's own answer about its configuration (see agent.laravel), without secrets."""

    env: str | None
    name: str | None
    # The default queue connection the app dispatches to (its cached config, if cached).
    queue_connection: str | None
    # The one .env, the environment and config/queue.php give now (None: not known).
    configured_queue_connection: str | None
    config_cached: bool
    # "cache" when the hashes of .env, config/ and the config cache were unchanged.
    source: str
    # The app's cache store, and its driver (where queue:restart's signal and the
    # scheduler's locks live).
    cache_store: str | None
    cache_driver: str | None
    error: str


class AppFacts(TypedDict):
    path: str | None
    env_exists: bool
    # What the app resolves from .env, the environment and config/queue.php (None: the app
    # did not say, see laravel.error).
    queue_connection: str | None
    # What it dispatches to while its config is cached.
    cached_queue_connection: str | None
    app_env: str | None
    config_cached: bool
    laravel: LaravelFacts


class ProcessFacts(TypedDict):
    group: str
    name: str
    state: str
    pid: int
    description: str


class GroupStatus(TypedDict):
    """One supervisor program against the process count it should have
    (agent.supervisor_state.group_status)."""

    expected: int
    processes: int
    running: int
    # Each process's state, in supervisord's order.
    states: list[str]
    # Exactly `expected` processes, all RUNNING.
    ok: bool
    # Loaded, and every process in a state that needs an explicit start.
    stopped: bool


class SupervisorFacts(TypedDict):
    installed: bool
    running: bool
    config: str | None
    processes: list[ProcessFacts]


class WorkerProcess(TypedDict):
    pid: int
    ppid: int
    user: str
    args: str


class Facts(TypedDict):
    hostname: str
    os_release: str
    systemd: bool
    python: str
    app: AppFacts
    files: dict[str, FileInfo | None]
    supervisor: SupervisorFacts
    workers: list[WorkerProcess]
    lock: dict[str, Any] | None


class PauseMarker(TypedDict):
    """queueops' own record of its pause on a host (runbooks.protocol.PAUSE_STATE), written by
    pause and pause-supervisor and removed by continue: who paused what, and when."""

    operator: str
    # When, on the host's clock: ISO 8601 (UTC) and as a Unix time.
    since: str
    since_ts: float
    task: str
    # Each program the pause paused, and how: signal (SIGUSR2), stop (a graceful stop) or
    # horizon (horizon:pause, for Horizon's program).
    programs: dict[str, str]
    # The Horizon supervisors pause-supervisor paused.
    supervisors: list[str]
