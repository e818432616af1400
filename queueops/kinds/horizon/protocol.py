"""setup-horizon's request to the host (see kinds/horizon/host.py)."""

from __future__ import annotations

from typing import Any, TypedDict

from queueops.protocol import FileChangeRequest, Holder, ReportItem, SupervisorSpec

MODULE = "queueops.kinds.horizon.host"


class HorizonProgramSpec(SupervisorSpec):
    program: str


class HorizonApplyRequest(TypedDict):
    op: str
    holder: Holder
    backup_dir: str
    backups_keep: int
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
    """What a reading of Horizon on a host needs (observations, runbooks, restart-queue)."""

    app_path: str
    php: str
    # Who may run the app's code (protocol.FactsRequest).
    app_users: list[str]
    program: str


class HorizonMaster(TypedDict):
    """A Horizon master process on the host, and its registration (None: unregistered)."""

    pid: int
    user: str
    supervised: bool
    name: str | None
    status: str | None


class HorizonObserved(TypedDict):
    """The host's Horizon (kinds/horizon/state.py): its state, one of running, paused,
    inactive, absent, doubled (more than one master here) or unknown (Redis unreadable)."""

    state: str
    # state == running.
    running: bool
    # Why, in a line: which master, what is wrong, registrations of masters that are gone.
    detail: str
    masters: list[HorizonMaster]
    # Registered masters of this machine whose pid is gone (SIGKILLed: they count for 14 s).
    gone: list[dict[str, Any]]
    # This host's masters' supervisors as registered ({name, master, pid, status}).
    supervisors: list[dict[str, Any]]
    # supervisord's process of the program ({name, state, pid}; None: not loaded).
    program: dict[str, Any] | None
    # What horizon:status printed (its end), or why it was not asked; and its exit code.
    status: str
    status_code: int | None
