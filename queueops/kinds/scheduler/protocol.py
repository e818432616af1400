"""setup-scheduler's requests and answers, and what an observation asks of the scheduler
(see kinds/scheduler/host.py)."""

from __future__ import annotations

from typing import TypedDict

from queueops.protocol import (
    Facts,
    FactsRequest,
    InstallerSpec,
    ProgramsApplyRequest,
)


class CronSpec(TypedDict):
    """cron on one OS family: its package, daemon and service, and how to install it."""

    package: str
    binary: str
    # The daemon's process name (/proc/PID/comm).
    process: str
    service: str
    install: list[InstallerSpec]


class SchedulerFactsRequest(FactsRequest):
    # Every family's cron: the facts say whether any is installed and runs.
    cron: list[CronSpec]
    log_file: str


class CronFacts(TypedDict):
    installed: bool
    running: bool


class SchedulerFacts(Facts):
    cron: CronFacts


class SchedulerApplyRequest(ProgramsApplyRequest):
    # cron mode: the host's cron, installed and started when it is not.
    cron: CronSpec | None


class SchedulerProbe(TypedDict):
    """What an observation asks of the scheduler on a host."""

    mode: str
    name: str
    cron_path: str
    # Its program file on either family: the host side reads the one there is.
    program_paths: list[str]
    log_file: str
    cron: list[CronSpec]
    # verify's observation: also what the app schedules (its code runs, as the user the
    # scheduler's own entry names).
    deep: bool
    app_path: str
    php: str


class SchedulerObserved(TypedDict):
    mode: str
    # The cron entry (cron mode) or the program file (work mode) is there.
    entry: bool
    # Since when (its file's change time): how long the scheduler has had to run.
    entry_since: float | None
    # cron mode: the cron daemon runs; work mode: the schedule:work program is RUNNING.
    running: bool
    # When the scheduler last ran (its output's last change), and the host's clock now.
    last_run: float | None
    now: float
    # deep: the commands the app schedules and whether the app has Horizon (None: not asked,
    # or the app did not answer: see `error`).
    scheduled: list[str] | None
    horizon_installed: bool | None
    error: str | None
