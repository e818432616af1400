"""The scheduler role's filters: its cron entry or schedule:work program, rendered by queueops
itself from the role's variables, and the refusal of a cache store that several scheduler
hosts would not share, read from the app's own configuration."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from queueops.agent.laravel import CONFIG_PHP, MARKER, laravel_facts_of
from queueops.errors import RoleError
from queueops.inventory.ansible_vars import platform_of, role_host
from queueops.kinds.scheduler.plan import (
    CRON,
    CRON_HEADER,
    PROGRAM_HEADER,
    check_app,
    cron_path,
    render_scheduler,
)
from queueops.kinds.scheduler.settings import SCHEDULER_GROUP, SchedulerSettings, scheduler_settings


def _settings(
    variables: Mapping[str, Any], host: str, source: str, peers: Sequence[str]
) -> SchedulerSettings:
    groups = (SCHEDULER_GROUP,) if host in peers else ()
    members = {SCHEDULER_GROUP: tuple(str(p) for p in peers)}
    return scheduler_settings(role_host(variables, host, source, groups, members))


def scheduler_files(
    variables: Mapping[str, Any], host: str, os_family: str, source: str, peers: Sequence[str]
) -> dict[str, Any]:
    """The files the role writes (cron mode: the cron entry; work mode: the program), those
    it removes when they are queueops' (the other mode's), and what it needs to do it."""
    settings = _settings(variables, host, source, peers)
    platform = platform_of(host, os_family)
    cron = CRON[platform.family]
    program_path = platform.program_path(settings.name)
    return {
        "mode": settings.mode,
        "name": settings.name,
        "user": settings.user_on(platform),
        "files": render_scheduler(settings, platform),
        "cron_path": cron_path(settings),
        "cron_header": CRON_HEADER,
        "program_path": program_path,
        "program_header": PROGRAM_HEADER,
        "supervisor_config": platform.supervisor_config,
        "package": cron.package,
        "service": cron.service,
        # Several scheduler hosts: the app is asked for its cache store before anything is
        # written (queueops_scheduler_cache).
        "ask_cache": len(settings.peers) > 1,
        "config_php": CONFIG_PHP,
        "marker": MARKER,
        "wait": settings.stopwaitsecs + 30,
    }


def scheduler_cache(
    variables: Mapping[str, Any], host: str, source: str, peers: Sequence[str], output: str
) -> dict[str, Any]:
    """The app's answer (its configuration, printed by config_php; it holds credentials, so the
    role never logs it) checked as setup-scheduler checks it: refused when several hosts would
    run the schedule on a cache store they do not share."""
    settings = _settings(variables, host, source, peers)
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RoleError(f"{host}: the app at {settings.app_path} did not print its configuration")
    laravel = laravel_facts_of(json.loads(lines[-1][len(MARKER) :]), "php")
    check_app(host, settings, {"app": {"env_exists": True, "laravel": laravel}})
    return {"cache_store": laravel.get("cache_store"), "cache_driver": laravel.get("cache_driver")}
