"""Facts: what a plan needs to know about a host, read in one round trip, changing nothing."""

from __future__ import annotations

import os
import sys

from queueops.agent.common import MANAGED_MARKER, file_info, read_text
from queueops.agent.hostlock import lock_holder
from queueops.agent.laravel import app_user, config_cache_path, laravel_facts
from queueops.agent.procs import worker_processes
from queueops.agent.supervisor_state import supervisor_facts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.agent.common import Operation
    from queueops.protocol import AppFacts, Facts, FactsRequest, FileInfo


def app_facts(app_path: str | None, php: str, user: str | None) -> AppFacts:
    """The app's queue connection as the app itself resolves it (its .env with Laravel's
    syntax, real environment variables, whatever config/queue.php reads), asked as `user`."""
    env_exists = bool(app_path) and os.path.exists(os.path.join(str(app_path), ".env"))
    laravel = laravel_facts(app_path, php, user) if app_path and env_exists else {}
    cached = laravel.get("config_cached", False) if "error" not in laravel else False
    if app_path and "error" in laravel:
        cached = os.path.exists(config_cache_path(app_path))
    return {
        "path": app_path,
        "env_exists": env_exists,
        "queue_connection": laravel.get("configured_queue_connection"),
        # What the app really dispatches to while its configuration is cached.
        "cached_queue_connection": laravel.get("queue_connection") if cached else None,
        "app_env": laravel.get("env"),
        "config_cached": bool(cached),
        "laravel": laravel,
    }


def gather_facts(request: FactsRequest) -> Facts:
    files: dict[str, FileInfo | None] = {}
    for directory, suffix in request["program_dirs"]:
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if name.endswith(suffix):
                    info = file_info(path)
                    if info is not None and MANAGED_MARKER in info["header"]:
                        files[path] = info
    for path in request.get("paths", []):
        files[path] = file_info(path)
    return {
        "hostname": os.uname().nodename,  # gethostname(), without importing socket
        "os_release": read_text("/etc/os-release") or read_text("/usr/lib/os-release") or "",
        "systemd": os.path.isdir("/run/systemd/system"),
        "python": sys.version.split()[0],
        "app": app_facts(
            request.get("app_path"), request.get("php", "php"), app_user(request["app_users"])
        ),
        "files": files,
        "supervisor": supervisor_facts(request["supervisor_configs"]),
        "workers": worker_processes(),
        "lock": lock_holder(),
    }


def facts(request: FactsRequest) -> Facts:
    return gather_facts(request)


OPERATIONS: dict[str, Operation] = {"facts": facts}
