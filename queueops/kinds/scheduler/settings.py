"""Validate the scheduler role's variables into typed settings before any host is touched.

Every value here reaches a cron.d file (a shell command line) or a supervisor program, so
names and paths are held to the safe-name rule and the user to a non-root POSIX name; a
refusal names the file, the host and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.inventory.validators import (
    POSITIVE,
    absolute_path,
    got,
    optional_path,
    optional_worker_user,
    php,
    required,
)
from queueops.platforms import Platform

KIND = "scheduler"
# The hosts that run the app's scheduler: the members of this inventory group.
SCHEDULER_GROUP = "scheduler"
MODES = ("cron", "work")
# cron(8) skips files in /etc/cron.d whose names hold anything else (a dot, for one).
_CRON_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class SchedulerSettings:
    app_path: str
    php: str
    # cron: an /etc/cron.d entry runs schedule:run every minute; work: a supervisor program
    # runs schedule:work.
    mode: str
    # None: the platform's web user.
    user: str | None
    # The cron.d file's and the supervisor program's name.
    name: str
    # Where the scheduler's output goes ("": a file per mode under storage/logs).
    log_file_setting: str
    stopwaitsecs: int
    in_group: bool
    # Every host of the inventory's scheduler group: they all run the app's schedule.
    peers: tuple[str, ...]

    @property
    def configured(self) -> bool:
        return self.in_group

    @property
    def log_file(self) -> str:
        """Per mode by default: cron appends as the app's user, supervisord writes as root, so
        one file shared by both modes would lock the app's user out after a switch."""
        run = "schedule-run" if self.mode == "cron" else "schedule-work"
        return self.log_file_setting or f"{self.app_path}/storage/logs/{run}.log"

    def user_on(self, platform: Platform) -> str:
        return self.user or platform.web_user


def scheduler_settings(host: Host) -> SchedulerSettings:
    """The scheduler role's settings of one host."""
    app_path = absolute_path(host, "scheduler_app_path", required(host, "scheduler_app_path"))
    mode = required(host, "scheduler_mode")
    if mode not in MODES:
        raise host.error("scheduler_mode", f"must be cron or work, {got(mode)}")
    name = required(host, "scheduler_name")
    if not isinstance(name, str) or not _CRON_NAME.fullmatch(name):
        raise host.error(
            "scheduler_name",
            f"must be letters, digits, - and _ (cron skips /etc/cron.d files with other "
            f"characters, a dot among them), {got(name)}",
        )
    return SchedulerSettings(
        app_path=app_path,
        php=php(host, "scheduler_php", required(host, "scheduler_php")),
        mode=mode,
        user=optional_worker_user(host, "scheduler_user"),
        name=name,
        log_file_setting=optional_path(host, "scheduler_log_file", ""),
        stopwaitsecs=POSITIVE(
            host, "scheduler_stopwaitsecs", required(host, "scheduler_stopwaitsecs")
        ),
        in_group=SCHEDULER_GROUP in host.groups,
        peers=tuple(host.group_members.get(SCHEDULER_GROUP, ())),
    )


def scheduler_of(settings: HostSettings) -> SchedulerSettings:
    """The host's scheduler settings, validated when the host was selected."""
    value = settings.kinds[KIND]
    if not isinstance(value, SchedulerSettings):
        raise TypeError(f"{settings.name}: no scheduler settings were validated")
    return value
