"""Settings + facts → what must change on one host (pure: no host is touched here)."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from queueops.errors import QueueopsError
from queueops.platforms import Platform, detect_family, platform_for
from queueops.render import PROGRAM_TEMPLATE, managed_header, render_programs, resolve_connections
from queueops.settings import HostSettings

Action = Literal["create", "update", "delete"]
PROGRAM_HEADER = managed_header(PROGRAM_TEMPLATE)
# Facts probe every family's paths, so one round trip works before the host's OS is known.
PLATFORMS = [platform_for(family) for family in ("debian", "redhat")]
SUPERVISOR_CONFIGS = [p.supervisor_config for p in PLATFORMS]
PROGRAM_DIRS = [[p.program_dir, p.program_ext] for p in PLATFORMS]


class HostLockedError(QueueopsError):
    """Another queueops run holds the host's lock."""


@dataclass(frozen=True)
class FileChange:
    path: str
    action: Action
    before_sha: str | None
    before: str | None
    after: str | None

    @property
    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            fromfile=f"{self.path} (on host)" if self.before is not None else "/dev/null",
            tofile=f"{self.path} (queueops)" if self.after is not None else "/dev/null",
        )
        return "".join(lines)


@dataclass(frozen=True)
class HostPlan:
    host: str
    platform: Platform
    changes: tuple[FileChange, ...]
    # Supervisor groups whose configuration changed, appeared or went away.
    groups: tuple[str, ...]
    # Programs queueops manages here, with their process counts, after / before this run.
    expected: Mapping[str, int]
    previous: Mapping[str, int]
    # Programs whose files are right but which supervisord never loaded, or does not run.
    load: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.load or self.start or self.notes)

    def items(self) -> list[dict[str, str]]:
        out = [
            {"item": n.split(" ", 1)[1], "action": n.split(" ", 1)[0], "status": "changed"}
            for n in self.notes
        ]
        out += [{"item": c.path, "action": c.action, "status": "changed"} for c in self.changes]
        for action, names in (("load", self.load), ("start", self.start)):
            out += [{"item": f"program {n}", "action": action, "status": "changed"} for n in names]
        return out


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def facts_request(settings: HostSettings) -> dict[str, Any]:
    return {
        "op": "facts",
        "program_dirs": PROGRAM_DIRS,
        "supervisor_configs": SUPERVISOR_CONFIGS,
        "app_path": settings.worker.app_path,
        # A file at a program's own path that queueops did not write is still replaced (with
        # a backup), so its hash and text are needed too.
        "paths": [
            p.program_path(prog.name) for p in PLATFORMS for prog in settings.worker.programs
        ],
    }


def refuse_if_locked(host: str, facts: Mapping[str, Any]) -> None:
    """Facts saw another run's lock: say whose, before planning anything."""
    holder = facts.get("lock")
    if holder:
        raise HostLockedError(
            f"{host}: locked by another queueops run: {holder.get('task', '?')} by "
            f"{holder.get('operator', '?')} since {holder.get('since', '?')}"
        )


def host_platform(settings: HostSettings, facts: Mapping[str, Any]) -> Platform:
    """The host's own os-release decides; an inventory `os_family` that disagrees is an error."""
    family = detect_family(facts["os_release"])
    if settings.os_family is not None and settings.os_family != family:
        raise QueueopsError(
            f"{settings.name}: inventory says os_family={settings.os_family} but the host's "
            f"/etc/os-release is {family}; fix os_family in the inventory"
        )
    return platform_for(family)


def plan_workers(settings: HostSettings, facts: Mapping[str, Any]) -> HostPlan:
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    app = facts["app"]
    if settings.worker.programs and not app["env_exists"]:
        raise QueueopsError(
            f"{settings.name}: {settings.worker.env_file} does not exist: is "
            f"queue_worker_app_path ({settings.worker.app_path}) the app's directory?"
        )
    cached = app.get("cached_queue_connection")
    if settings.worker.programs and cached and cached != app["queue_connection"]:
        raise QueueopsError(
            f"{settings.name}: the app's cached config (bootstrap/cache/config.php) dispatches to "
            f"{cached!r} but {settings.worker.env_file} says QUEUE_CONNECTION="
            f"{app['queue_connection']!r}; run `php artisan config:cache` (or config:clear) first"
        )
    connections = resolve_connections(settings.worker, app["queue_connection"])
    desired = render_programs(settings.worker, platform, connections)
    current: dict[str, dict[str, Any]] = {
        path: info
        for path, info in facts["files"].items()
        if info is not None and info["header"] == PROGRAM_HEADER
    }
    changes: list[FileChange] = []
    for path, content in sorted(desired.items()):
        info = current.get(path) or facts["files"].get(path)
        if info is None:
            changes.append(FileChange(path, "create", None, None, content))
        elif info["sha256"] != sha256(content):
            changes.append(FileChange(path, "update", info["sha256"], info["content"], content))
    for path, info in sorted(current.items()):
        if path not in desired:
            changes.append(FileChange(path, "delete", info["sha256"], info["content"], None))

    expected = {p.name: p.processes for p in settings.worker.programs}
    supervisor = facts["supervisor"]
    running: dict[str, list[str]] = {}
    for proc in supervisor["processes"]:
        running.setdefault(proc["group"], []).append(proc["state"])
    previous = {
        name: len(states)
        for name, states in running.items()
        if platform.program_path(name) in current
    }
    file_groups = {program_name(platform, c.path) for c in changes}
    # A file already right that supervisord never loaded (hand-copied, no update) still needs one.
    # With supervisord stopped, starting it loads every file: nothing is "unloaded" then.
    load = set()
    if supervisor["running"]:
        load = {name for name in expected if name not in running} - file_groups
    groups = tuple(sorted(file_groups | load))
    start = tuple(
        sorted(
            name
            for name, states in running.items()
            if name in expected
            and name not in groups
            and (len(states) != expected[name] or any(s != "RUNNING" for s in states))
        )
    )
    notes: list[str] = []
    # A host with no programs, now or before, needs no supervisor at all.
    if expected or changes:
        if not supervisor["installed"]:
            notes.append("install supervisor")
        if not supervisor["running"]:
            notes.append(f"start {platform.service}")
    return HostPlan(
        settings.name,
        platform,
        tuple(changes),
        groups,
        expected,
        previous,
        tuple(sorted(load)),
        start,
        tuple(notes),
    )


def program_name(platform: Platform, path: str) -> str:
    return path[len(platform.program_dir) + 1 : -len(platform.program_ext)]
