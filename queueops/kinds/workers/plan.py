"""setup-worker's pure half: settings + facts → what must change on one host."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.workers.render import (
    PROGRAM_HEADER,
    render_programs,
    resolve_connections,
)
from queueops.kinds.workers.settings import WorkerSettings, app_users_of, worker_of
from queueops.plan.changes import host_platform, refuse_if_locked
from queueops.protocol import FactsRequest
from queueops.supervisor.programs import (
    PROGRAM_DIRS,
    SUPERVISOR_CONFIGS,
    ProgramsPlan,
    plan_programs,
    program_paths,
)

# setup-worker's plan is the supervisor programs' plan of its programs.
HostPlan = ProgramsPlan


def facts_request(worker: WorkerSettings, extra_paths: tuple[str, ...] = ()) -> FactsRequest:
    return {
        "op": "facts",
        "program_dirs": PROGRAM_DIRS,
        "supervisor_configs": SUPERVISOR_CONFIGS,
        "app_path": worker.app_path,
        "php": worker.php,
        "app_users": app_users_of(worker),
        # A file at a program's own path that queueops did not write is still replaced (with
        # a backup), so its hash and text are needed too.
        "paths": [path for prog in worker.programs for path in program_paths(prog.name)]
        + list(extra_paths),
    }


def check_app(settings: HostSettings, worker: WorkerSettings, app: Mapping[str, Any]) -> None:
    """The app the workers run must exist, and its cached config must not contradict what its
    .env, the environment and config/queue.php give now."""
    if worker.programs and not app["env_exists"]:
        raise QueueopsError(
            f"{settings.name}: {worker.env_file} does not exist: is "
            f"queue_worker_app_path ({worker.app_path}) the app's directory?"
        )
    cached = app.get("cached_queue_connection")
    if worker.programs and cached and app["queue_connection"] and cached != app["queue_connection"]:
        raise QueueopsError(
            f"{settings.name}: the app's cached config (bootstrap/cache/config.php) dispatches to "
            f"{cached!r} but {worker.env_file} (as the app resolves it) gives QUEUE_CONNECTION="
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
    expected = {p.name: p.processes for p in worker.programs}
    return plan_programs(settings.name, platform, desired, PROGRAM_HEADER, facts, expected)
