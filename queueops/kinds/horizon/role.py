"""The horizon role's filter: Horizon's program and config/horizon.php, rendered by queueops
itself from the role's variables, with the same checks and templates as setup-horizon."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.agent.laravel import env_value
from queueops.errors import RoleError
from queueops.inventory.ansible_vars import platform_of, role_host
from queueops.kinds.horizon.plan import check_environment, render_horizon
from queueops.kinds.horizon.settings import horizon_settings
from queueops.kinds.workers.render import PROGRAM_HEADER


def horizon_files(
    variables: Mapping[str, Any], host: str, os_family: str, env_text: str | None, source: str
) -> dict[str, Any]:
    """Horizon's program and config/horizon.php, and what the role needs to restart it."""
    settings = horizon_settings(role_host(variables, host, source))
    if not settings.configured:
        raise RoleError(f"{host}: horizon_environments is empty: nothing to run")
    app_env = env_value(env_text, "APP_ENV") if env_text is not None else None
    check_environment(host, settings, env_text is not None, app_env)
    platform = platform_of(host, os_family)
    files = render_horizon(settings, platform)
    program_path = platform.program_path(settings.program_name)
    return {
        "program": settings.program_name,
        "program_path": program_path,
        "program_file": files[program_path],
        "config_path": settings.config_path,
        "config_file": files[settings.config_path],
        "user": settings.user_on(platform),
        "worker_header": PROGRAM_HEADER,
        "wait": settings.stopwaitsecs + 10 + settings.status_timeout,
    }
