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
    # Files whose info is wanted whoever wrote them.
    paths: list[str]


class LaravelFacts(TypedDict, total=False):
    """The app's own answer about its configuration (see agent.laravel), without secrets."""

    env: str | None
    name: str | None
    queue_connection: str | None
    config_cached: bool
    # "cache" when the hashes of .env, config/ and the config cache were unchanged.
    source: str
    error: str


class AppFacts(TypedDict):
    path: str | None
    env_exists: bool
    queue_connection: str | None
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
