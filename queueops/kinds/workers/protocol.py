"""setup-worker's and restart-queue's requests to the host (see kinds/workers/host.py)."""

from __future__ import annotations

from typing import TypedDict

from queueops.transport.protocol import FileChangeRequest, Holder, SupervisorSpec

MODULE = "queueops.kinds.workers.host"


class ProgramsSpec(SupervisorSpec):
    # Supervisor groups to reload: their files changed, appeared, went away or never loaded.
    groups: list[str]
    # Program → process count after this run, and before it (for the rollback).
    expected: dict[str, int]
    previous: dict[str, int]
    start: list[str]
    timeout: float


class ApplyRequest(TypedDict):
    op: str
    holder: Holder
    backup_dir: str
    changes: list[FileChangeRequest]
    supervisor: ProgramsSpec


class RestartRequest(TypedDict):
    op: str
    holder: Holder
    supervisor_config: str
    expected: dict[str, int]
    php: str
    app_path: str
    user: str
    force: bool
    timeout: float
