"""setup-scheduler's pure half: the cron entry or the schedule:work program, rendered from
templates/, against the host's facts; and what must be refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.scheduler.protocol import CronSpec, SchedulerFacts, SchedulerFactsRequest
from queueops.kinds.scheduler.settings import SCHEDULER_GROUP, SchedulerSettings, scheduler_of
from queueops.plan.changes import (
    FileChange,
    change_items,
    file_changes,
    host_platform,
    refuse_if_locked,
)
from queueops.plan.templates import managed_header, render
from queueops.platforms import Platform, app_users
from queueops.protocol import ReportItem
from queueops.shell import cmd, quote
from queueops.supervisor.programs import (
    FAMILIES,
    PROGRAM_DIRS,
    SUPERVISOR_CONFIGS,
    ProgramsPlan,
    plan_programs,
    program_paths,
)

CRON_TEMPLATE = "scheduler/cron.j2"
CRON_HEADER = managed_header(CRON_TEMPLATE, "#")
PROGRAM_TEMPLATE = "supervisor/scheduler.conf.j2"
PROGRAM_HEADER = managed_header(PROGRAM_TEMPLATE)
CRON_DIR = "/etc/cron.d"
# Cache drivers whose store lives on each host: locks taken there (onOneServer,
# withoutOverlapping) are not seen by the other hosts.
LOCAL_CACHE_DRIVERS = ("file", "array", "apc", "null")


@dataclass(frozen=True)
class Cron:
    """cron on one OS family: Debian's is `cron`, the RHEL family's `cronie` with `crond`."""

    package: str
    binary: str
    # The daemon's process name (/proc/PID/comm).
    process: str
    service: str


CRON = {
    "debian": Cron("cron", "/usr/sbin/cron", "cron", "cron"),
    "redhat": Cron("cronie", "/usr/sbin/crond", "crond", "crond"),
}


def cron_spec(platform: Platform) -> CronSpec:
    """How the host side finds, installs and starts cron on this platform."""
    cron = CRON[platform.family]
    return {
        "package": cron.package,
        "binary": cron.binary,
        "process": cron.process,
        "service": cron.service,
        "install": [
            {"binary": i.binary, "argv": [*i.argv, cron.package], "refresh": list(i.refresh)}
            for i in platform.installers
        ],
    }


def cron_path(settings: SchedulerSettings) -> str:
    return f"{CRON_DIR}/{settings.name}"


def render_cron(settings: SchedulerSettings, platform: Platform) -> str:
    user = settings.user_on(platform)
    command = (
        f"cd {quote(settings.app_path)} && {cmd(settings.php, 'artisan', 'schedule:run')}"
        f" >> {quote(settings.log_file)} 2>&1"
    )
    return render(
        CRON_TEMPLATE,
        header=CRON_HEADER,
        app_path=settings.app_path,
        user=user,
        log_file=settings.log_file,
        command=command,
    )


def render_program(settings: SchedulerSettings, platform: Platform) -> str:
    return render(
        PROGRAM_TEMPLATE,
        header=PROGRAM_HEADER,
        name=settings.name,
        command=cmd(settings.php, f"{settings.app_path}/artisan", "schedule:work"),
        directory=settings.app_path,
        user=settings.user_on(platform),
        stdout_logfile=settings.log_file,
        stopwaitsecs=settings.stopwaitsecs,
    )


def render_scheduler(settings: SchedulerSettings, platform: Platform) -> dict[str, str]:
    """{path on the host: text}: the cron entry, or the schedule:work program."""
    if settings.mode == "cron":
        return {cron_path(settings): render_cron(settings, platform)}
    return {platform.program_path(settings.name): render_program(settings, platform)}


def scheduler_facts_request(settings: SchedulerSettings) -> SchedulerFactsRequest:
    return {
        "op": "scheduler_facts",
        # Every cron entry of its header: one left under another name would run it twice.
        "program_dirs": [*PROGRAM_DIRS, [CRON_DIR, ""]],
        "supervisor_configs": SUPERVISOR_CONFIGS,
        "app_path": settings.app_path,
        "php": settings.php,
        "app_users": app_users(settings.user_on),
        # Its own files whoever wrote them: a hand-made file at its path is replaced (with a
        # backup); one of its header at the other mode's path is removed.
        "paths": [cron_path(settings), *program_paths(settings.name)],
        "cron": [cron_spec(platform) for platform in FAMILIES],
        "log_file": settings.log_file,
    }


def check_app(host: str, settings: SchedulerSettings, facts: Mapping[str, Any]) -> None:
    """The app must be there, and when several hosts run its schedule, its cache store must be
    one they share: Laravel's onOneServer and withoutOverlapping take their locks in it."""
    app = facts["app"]
    if not app["env_exists"]:
        raise QueueopsError(
            f"{host}: no app at {settings.app_path} ({settings.app_path}/.env does not exist): "
            "is scheduler_app_path the app's directory? A scheduler without its app runs nothing"
        )
    laravel = app["laravel"]
    if "error" in laravel:
        raise QueueopsError(f"{host}: cannot ask the app for its cache store: {laravel['error']}")
    if len(settings.peers) < 2:
        return
    driver = laravel.get("cache_driver")
    if driver is None or driver in LOCAL_CACHE_DRIVERS:
        store = laravel.get("cache_store")
        raise QueueopsError(
            f"{host}: refused: the scheduler would run on {', '.join(settings.peers)} "
            f"(inventory group {SCHEDULER_GROUP}) but the app's cache store {store!r} "
            f"({driver or 'unknown'} driver) is not shared between hosts: onOneServer and "
            "withoutOverlapping take their locks in it, so every host would run each task; "
            "use a shared cache store (redis, memcached, database) or keep one host in the "
            f"{SCHEDULER_GROUP} group. Nothing was written"
        )


@dataclass(frozen=True)
class SchedulerPlan:
    host: str
    platform: Platform
    mode: str
    # The schedule:work program (work mode), or its removal (cron mode, after work mode).
    programs: ProgramsPlan
    # The cron entry: written (cron mode) or removed (work mode, after cron mode).
    cron_changes: tuple[FileChange, ...]
    # "install cron" / "start cron" (cron mode).
    cron_notes: tuple[str, ...]

    @property
    def changes(self) -> tuple[FileChange, ...]:
        return tuple(sorted((*self.cron_changes, *self.programs.changes), key=order))

    @property
    def changed(self) -> bool:
        return bool(self.cron_changes or self.cron_notes or self.programs.changed)

    def diffs(self) -> list[str]:
        return [c.diff for c in self.changes]

    def items(self) -> list[ReportItem]:
        return change_items(self.cron_notes, self.cron_changes) + self.programs.items()


def order(change: FileChange) -> tuple[bool, str]:
    """Deletions last, as the host's transaction applies them."""
    return change.action == "delete", change.path


def plan_scheduler(settings: HostSettings, facts: SchedulerFacts) -> SchedulerPlan:
    scheduler = scheduler_of(settings)
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    check_app(settings.name, scheduler, facts)
    desired = render_scheduler(scheduler, platform)
    program_path = platform.program_path(scheduler.name)
    files = facts["files"]
    mine = {
        path: info
        for path, info in files.items()
        if info is not None and info["header"] == CRON_HEADER
    }
    cron_desired = {p: t for p, t in desired.items() if p == cron_path(scheduler)}
    cron_changes = file_changes(cron_desired, files, mine)
    program_desired = {p: t for p, t in desired.items() if p == program_path}
    expected = {scheduler.name: 1} if scheduler.mode == "work" else {}
    programs = plan_programs(
        settings.name, platform, program_desired, PROGRAM_HEADER, facts, expected
    )
    cron = CRON[platform.family]
    notes: list[str] = []
    if scheduler.mode == "cron":
        if not facts["cron"]["installed"]:
            notes.append(f"install {cron.package}")
        if not facts["cron"]["running"]:
            notes.append(f"start {cron.service}")
    return SchedulerPlan(
        host=settings.name,
        platform=platform,
        mode=scheduler.mode,
        programs=programs,
        cron_changes=tuple(cron_changes),
        cron_notes=tuple(notes),
    )
