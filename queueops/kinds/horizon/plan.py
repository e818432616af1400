"""setup-horizon's pure half: render the Horizon program and config/horizon.php, plan changes.

PHP is written from validated values only, and every literal still goes through
php_literal(), which escapes what a PHP single-quoted string could misread.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queueops.agent.supervisor_state import STOPPED_STATES
from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.settings import HorizonSettings, HorizonSupervisor, horizon_of
from queueops.kinds.workers.render import PROGRAM_HEADER
from queueops.plan.changes import (
    FileChange,
    change_items,
    file_changes,
    host_platform,
    refuse_if_locked,
    supervisor_notes,
)
from queueops.plan.templates import managed_header, render
from queueops.platforms import Platform, app_users
from queueops.protocol import FactsRequest, ReportItem
from queueops.shell import cmd
from queueops.supervisor.programs import SUPERVISOR_CONFIGS, program_paths

HORIZON_PROGRAM_TEMPLATE = "supervisor/horizon.conf.j2"
HORIZON_CONFIG_TEMPLATE = "horizon/horizon.php.j2"
HORIZON_PROGRAM_HEADER = managed_header(HORIZON_PROGRAM_TEMPLATE)
# `<?php` must open the file; a comment may follow it on the same line.
HORIZON_CONFIG_HEADER = managed_header(HORIZON_CONFIG_TEMPLATE, "<?php //")
# Laravel's own default, kept when the inventory sets no prefix.
DEFAULT_PREFIX = "env('HORIZON_PREFIX', Str::slug(env('APP_NAME', 'laravel'), '_').'_horizon:')"
INDENT = "    "


def php_literal(value: Any, depth: int = 0) -> str:
    """A PHP literal for a str, int, bool, list/tuple or mapping (keys: str)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a NUL byte cannot be written to a PHP file")
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(php_literal(v, depth) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "[]"
        inner = INDENT * (depth + 1)
        lines = [
            f"{inner}{php_literal(str(k))} => {php_literal(v, depth + 1)},"
            for k, v in value.items()
        ]
        return "[\n" + "\n".join(lines) + "\n" + INDENT * depth + "]"
    raise TypeError(f"no PHP literal for {type(value).__name__}")


def supervisor_config(sup: HorizonSupervisor) -> dict[str, Any]:
    """One supervisor's block of horizon.php, with Horizon's key names."""
    return {
        "connection": sup.connection,
        "queue": list(sup.queue),
        "balance": sup.balance,
        "autoScalingStrategy": sup.auto_scaling_strategy,
        "minProcesses": sup.min_processes,
        "maxProcesses": sup.max_processes,
        "balanceMaxShift": sup.balance_max_shift,
        "balanceCooldown": sup.balance_cooldown,
        "tries": sup.tries,
        "timeout": sup.timeout,
        "memory": sup.memory,
        "nice": sup.nice,
    }


def render_config(settings: HorizonSettings) -> str:
    environments = {
        env: {sup.name: supervisor_config(sup) for sup in sups}
        for env, sups in settings.environments
    }
    return render(
        HORIZON_CONFIG_TEMPLATE,
        header=HORIZON_CONFIG_HEADER,
        prefix=DEFAULT_PREFIX if settings.prefix is None else php_literal(settings.prefix),
        waits=php_literal(dict(settings.waits), 1),
        trim=php_literal(dict(settings.trim), 1),
        memory_limit=php_literal(settings.memory_limit),
        environments=php_literal(environments, 1),
    )


def render_program(settings: HorizonSettings, platform: Platform) -> str:
    return render(
        HORIZON_PROGRAM_TEMPLATE,
        header=HORIZON_PROGRAM_HEADER,
        name=settings.program_name,
        command=cmd(settings.php, f"{settings.app_path}/artisan", "horizon"),
        directory=settings.app_path,
        user=settings.user_on(platform),
        stdout_logfile=settings.log_file,
        stopwaitsecs=settings.stopwaitsecs,
    )


def render_horizon(settings: HorizonSettings, platform: Platform) -> dict[str, str]:
    """{remote path: content} of the Horizon program and config/horizon.php."""
    return {
        platform.program_path(settings.program_name): render_program(settings, platform),
        settings.config_path: render_config(settings),
    }


@dataclass(frozen=True)
class HorizonPlan:
    host: str
    platform: Platform
    program: str
    program_path: str
    changes: tuple[FileChange, ...]
    # supervisord has the right file but never loaded it, or holds it stopped.
    load: bool
    start: bool
    notes: tuple[str, ...]
    config_cached: bool

    @property
    def program_changed(self) -> bool:
        return any(c.path == self.program_path for c in self.changes)

    @property
    def config_changed(self) -> bool:
        return any(c.path != self.program_path for c in self.changes)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.load or self.start or self.notes)

    @property
    def restart(self) -> str | None:
        """How Horizon picks up this plan: update (program), terminate (config), start."""
        if self.program_changed or self.load:
            return "update"
        if self.config_changed:
            return "terminate"
        if self.start:
            return "start"
        return None

    def diffs(self) -> list[str]:
        return [c.diff for c in self.changes]

    def items(self) -> list[ReportItem]:
        out = change_items(self.notes, self.changes)
        if self.config_changed and self.config_cached:
            out.append({"item": "config:cache", "action": "run", "status": "changed"})
        actions = {"update": "load", "terminate": "restart", "start": "start"}
        if self.restart is not None:
            action = actions[self.restart]
            out.append({"item": f"program {self.program}", "action": action, "status": "changed"})
        return out


def horizon_paths(horizon: HorizonSettings) -> list[str]:
    """Horizon's program file on either family, and config/horizon.php."""
    return [*program_paths(horizon.program_name), horizon.config_path]


def horizon_facts_request(horizon: HorizonSettings) -> FactsRequest:
    return {
        "op": "facts",
        "program_dirs": [],
        "paths": horizon_paths(horizon),
        "supervisor_configs": SUPERVISOR_CONFIGS,
        "app_path": horizon.app_path,
        "php": horizon.php,
        "app_users": app_users(horizon.user_on),
    }


def matching_environment(horizon: HorizonSettings, app_env: str) -> str | None:
    """The first environment whose name matches APP_ENV (`*` wildcards, as Str::is)."""
    for env, _ in horizon.environments:
        if fnmatch.fnmatchcase(app_env, env):
            return env
    return None


def check_environment(
    host: str, horizon: HorizonSettings, env_exists: bool, app_env: str | None
) -> None:
    """The app's .env must exist and its APP_ENV match one of horizon_environments, or
    Horizon would start no supervisor."""
    if not env_exists:
        raise QueueopsError(
            f"{host}: {horizon.app_path}/.env does not exist: is horizon_app_path "
            f"({horizon.app_path}) the app's directory?"
        )
    app_env = app_env or "production"
    if matching_environment(horizon, app_env) is None:
        configured = ", ".join(env for env, _ in horizon.environments)
        raise QueueopsError(
            f"{host}: APP_ENV={app_env} in {horizon.app_path}/.env matches none of "
            f"horizon_environments ({configured}): Horizon would start no supervisor"
        )


def plan_horizon(settings: HostSettings, facts: Mapping[str, Any]) -> HorizonPlan:
    horizon = horizon_of(settings)
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    app = facts["app"]
    check_environment(settings.name, horizon, app["env_exists"], app.get("app_env"))
    desired = render_horizon(horizon, platform)
    program_path = platform.program_path(horizon.program_name)
    current = facts["files"]
    program_info = current.get(program_path)
    if program_info is not None and program_info["header"] == PROGRAM_HEADER:
        raise QueueopsError(
            f"{settings.name}: {program_path} is a setup-worker program: choose another "
            "horizon_program_name or rename that worker program"
        )
    changes = file_changes(desired, current)
    supervisor = facts["supervisor"]
    states = [p["state"] for p in supervisor["processes"] if p["group"] == horizon.program_name]
    program_changes = any(c.path == program_path for c in changes)
    load = bool(supervisor["running"] and not states and not program_changes)
    start = bool(states) and all(s in STOPPED_STATES for s in states)
    notes = supervisor_notes(platform, supervisor)
    return HorizonPlan(
        host=settings.name,
        platform=platform,
        program=horizon.program_name,
        program_path=program_path,
        changes=tuple(changes),
        load=load,
        start=start,
        notes=tuple(notes),
        config_cached=bool(app.get("config_cached")),
    )
