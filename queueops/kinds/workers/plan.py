"""setup-worker's pure half: settings + facts → what must change on one host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.workers.render import (
    PROGRAM_HEADER,
    render_programs,
    resolve_connections,
)
from queueops.kinds.workers.settings import WorkerSettings, worker_of
from queueops.plan.changes import (
    FileChange,
    change_items,
    file_changes,
    host_platform,
    refuse_if_locked,
    supervisor_notes,
)
from queueops.platforms import Platform, platform_for
from queueops.transport.protocol import FactsRequest

# Facts probe every family's paths, so one round trip works before the host's OS is known.
PLATFORMS = [platform_for(family) for family in ("debian", "redhat")]
SUPERVISOR_CONFIGS = [p.supervisor_config for p in PLATFORMS]
PROGRAM_DIRS = [[p.program_dir, p.program_ext] for p in PLATFORMS]


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

    def diffs(self) -> list[str]:
        return [c.diff for c in self.changes]

    def items(self) -> list[dict[str, str]]:
        out = change_items(self.notes, self.changes)
        for action, names in (("load", self.load), ("start", self.start)):
            out += [{"item": f"program {n}", "action": action, "status": "changed"} for n in names]
        return out


def facts_request(worker: WorkerSettings, extra_paths: tuple[str, ...] = ()) -> FactsRequest:
    return {
        "op": "facts",
        "program_dirs": PROGRAM_DIRS,
        "supervisor_configs": SUPERVISOR_CONFIGS,
        "app_path": worker.app_path,
        "php": worker.php,
        # A file at a program's own path that queueops did not write is still replaced (with
        # a backup), so its hash and text are needed too.
        "paths": [p.program_path(prog.name) for p in PLATFORMS for prog in worker.programs]
        + list(extra_paths),
    }


def check_app(settings: HostSettings, worker: WorkerSettings, app: Mapping[str, Any]) -> None:
    """The app the workers run must exist, and its cached config must not contradict .env."""
    if worker.programs and not app["env_exists"]:
        raise QueueopsError(
            f"{settings.name}: {worker.env_file} does not exist: is "
            f"queue_worker_app_path ({worker.app_path}) the app's directory?"
        )
    cached = app.get("cached_queue_connection")
    if worker.programs and cached and cached != app["queue_connection"]:
        raise QueueopsError(
            f"{settings.name}: the app's cached config (bootstrap/cache/config.php) dispatches to "
            f"{cached!r} but {worker.env_file} says QUEUE_CONNECTION="
            f"{app['queue_connection']!r}; run `php artisan config:cache` (or config:clear) first"
        )


def plan_workers(
    settings: HostSettings, facts: Mapping[str, Any], worker: WorkerSettings | None = None
) -> HostPlan:
    """The plan for the host's worker programs (`worker`: other programs than the inventory's,
    as a fallback renders them)."""
    worker = worker or worker_of(settings)
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    app = facts["app"]
    check_app(settings, worker, app)
    connections = resolve_connections(worker, app["queue_connection"])
    desired = render_programs(worker, platform, connections)
    current: dict[str, dict[str, Any]] = {
        path: info
        for path, info in facts["files"].items()
        if info is not None and info["header"] == PROGRAM_HEADER
    }
    changes = file_changes(desired, facts["files"], current)

    expected = {p.name: p.processes for p in worker.programs}
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
    # A host with no programs, now or before, needs no supervisor at all.
    notes = supervisor_notes(platform, supervisor) if expected or changes else []
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
