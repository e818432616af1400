"""The queue Redis server (role redis_queue): tuned for queues, applied live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.health import HostHealth, grade, mib
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.kinds.base import Kind, observed
from queueops.kinds.redis import host, lint
from queueops.kinds.redis.plan import (
    RedisPlan,
    connection_fields,
    plan_redis,
    redis_apply_request,
    redis_facts_request,
    render_dropin,
)
from queueops.kinds.redis.protocol import RedisFacts
from queueops.kinds.redis.settings import KIND as NAME
from queueops.kinds.redis.settings import RedisSettings, redis_of, redis_settings
from queueops.lint.findings import Collector
from queueops.plan.changes import FileChange
from queueops.plan.report import HostResult
from queueops.protocol import Facts, RestartStep
from queueops.transport.agent import AgentSession, backup_dir, holder

TASK = "tune-redis"
# Used memory against maxmemory: with noeviction a full Redis refuses new jobs, so the
# headroom is what is watched (yellow, red from).
REDIS_MEMORY_PERCENT = (80, 90)


class Redis(Kind[RedisSettings, RedisFacts, RedisPlan]):
    name = NAME
    role = "redis_queue"
    task = TASK
    help = (
        "Redis settings for queue use: a drop-in file, applied live with CONFIG SET (no restart)."
    )
    rules = lint.REDIS_RULES
    host_module = host.__name__
    checks = f"{__name__}.checks"
    observation = "redis_server"
    status_column = "redis server"

    def settings(self, host: Host) -> RedisSettings:
        return redis_settings(host)

    def of(self, settings: HostSettings) -> RedisSettings:
        return redis_of(settings)

    def skip(self, settings: HostSettings) -> str | None:
        tuning = redis_of(settings)
        if not tuning.in_group:
            return "not in the redis group"
        return None if tuning.configured else "no setting is managed"

    def facts(self, session: AgentSession, settings: HostSettings) -> RedisFacts:
        return session.call(host.redis_facts, redis_facts_request(redis_of(settings)))

    def plan(self, settings: HostSettings, facts: RedisFacts) -> RedisPlan:
        return plan_redis(settings.name, redis_of(settings), facts)

    def apply(
        self, session: AgentSession, settings: HostSettings, plan: RedisPlan, result: HostResult
    ) -> None:
        request = redis_apply_request(
            plan, redis_of(settings), holder(TASK), backup_dir(TASK), settings.backups_keep
        )
        session.call(host.redis_apply, request)

    def lint(self, out: Collector) -> None:
        lint.lint(out)

    def render(self, host: Host, settings: HostSettings) -> dict[str, str]:
        tuning = redis_of(settings)
        if not tuning.configured:
            return {}
        if not tuning.config:
            raise host.error(
                "redis_queue_config",
                "is empty: rendering without contacting the host cannot know which main "
                "configuration the drop-in is included from (tune-redis finds it on the host); "
                "set it, e.g. /etc/redis/redis.conf",
            )
        return {tuning.dropin: render_dropin(tuning, tuning.config)}

    def programs(self, settings: HostSettings) -> dict[str, int]:
        return {}

    def restart_steps(self, settings: HostSettings) -> list[RestartStep]:
        return []

    def observed_paths(self, settings: HostSettings) -> list[str]:
        # Its drop-in is checked live (redis_server_healthy), where Redis reads it.
        return []

    def drift(self, settings: HostSettings, facts: Facts) -> list[FileChange]:
        return []

    def observe_request(self, settings: HostSettings, deep: bool) -> dict[str, Any] | None:
        redis = redis_of(settings)
        return dict(connection_fields(redis)) if redis.in_group else None

    def health(self, obs: Mapping[str, Any], settings: HostSettings, out: HostHealth) -> None:
        """A Redis server's grade: red when down or its memory nearly full, or when it evicts
        against the inventory; yellow on the memory threshold's first figure or drift."""
        server = observed(obs, self.observation)
        if server is None:
            return
        if not server["up"]:
            out.worse("red", f"Redis server down: {server['error']}")
            return
        wanted = redis_of(settings)
        values = dict(wanted.values)
        policy = server["policy"]
        if policy != "noeviction" and not wanted.eviction_reason:
            out.worse("red", f"maxmemory-policy {policy} evicts queued jobs")
        elif "maxmemory-policy" in values and policy != values["maxmemory-policy"]:
            out.worse("yellow", f"maxmemory-policy is {policy}, the inventory says "
                                f"{values['maxmemory-policy']} (tune-redis)")  # fmt: skip
        if "maxmemory" in values and str(server["maxmemory"]) != values["maxmemory"]:
            out.worse("yellow", f"maxmemory is {server['maxmemory']}, the inventory says "
                                f"{values['maxmemory']} (tune-redis)")  # fmt: skip
        if server["maxmemory"]:
            percent = 100 * server["used_memory"] / server["maxmemory"]
            if (level := grade(percent, REDIS_MEMORY_PERCENT)) != "green":
                out.worse(level, f"Redis uses {percent:.0f} % of maxmemory; new jobs are "
                                 "refused when it is full")  # fmt: skip

    def status_cell(self, obs: Mapping[str, Any]) -> str:
        server = observed(obs, self.observation)
        if server is None:
            return "-"
        if not server["up"]:
            return "DOWN"
        used = mib(server["used_memory"])
        if not server["maxmemory"]:
            return f"up {used} (no maxmemory) {server['policy']}"
        percent = 100 * server["used_memory"] / server["maxmemory"]
        return f"up {used}/{mib(server['maxmemory'])} ({percent:.0f}%) {server['policy']}"


KIND = Redis()
