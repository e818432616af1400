"""setup-horizon's request to the host (see kinds/horizon/host.py)."""

from __future__ import annotations

from typing import TypedDict

from queueops.protocol import FileChangeRequest, Holder, ReportItem, SupervisorSpec

MODULE = "queueops.kinds.horizon.host"


class HorizonProgramSpec(SupervisorSpec):
    program: str


class HorizonApplyRequest(TypedDict):
    op: str
    holder: Holder
    backup_dir: str
    changes: list[FileChangeRequest]
    config_path: str
    program_path: str
    # config:cache after the change: the app caches its config and horizon.php changed.
    config_cache: bool
    # How Horizon picks the change up: update (program), terminate (config), start, or None.
    restart: str | None
    php: str
    app_path: str
    user: str
    stop_timeout: float
    status_timeout: float
    supervisor: HorizonProgramSpec


class HorizonApplyAnswer(TypedDict):
    items: list[ReportItem]
    # The master supervisord runs after the change, and the one before it (None: none ran).
    pid: int
    old_pid: int | None


class HorizonProbe(TypedDict):
    """What an observation asks of Horizon on a host."""

    app_path: str
    php: str
    program: str


class HorizonObserved(TypedDict):
    running: bool
    # What horizon:status printed (its end), or why it was not asked.
    status: str
