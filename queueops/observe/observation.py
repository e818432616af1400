"""What verify, status and metrics ask a host (one agent request), and the health class.

Thresholds (docs/status-and-metrics.md): a host is yellow at or above the first figure,
red at or above the second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.plan import horizon_paths
from queueops.kinds.horizon.settings import configured_horizon
from queueops.kinds.redis.plan import connection_fields
from queueops.kinds.redis.settings import RedisSettings, redis_of
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import worker_of
from queueops.observe.protocol import MODULE, ObserveRequest
from queueops.runbooks.protocol import FALLBACK_STATE
from queueops.transport.session import HostSession

Health = Literal["green", "yellow", "red"]
RANK: dict[Health, int] = {"green": 0, "yellow": 1, "red": 2}

# (yellow from, red from)
FAILED_JOBS = (10, 50)
QUEUE_SIZE = (1_000, 5_000)
OLDEST_JOB_SECONDS = (2 * 3600, 6 * 3600)
MEMORY_PERCENT = (80, 90)
# Used memory against maxmemory on a Redis server: with noeviction a full Redis refuses
# new jobs, so the headroom is what is watched.
REDIS_MEMORY_PERCENT = (80, 90)


def queues_of(settings: HostSettings) -> list[str]:
    horizon = configured_horizon(settings)
    names: list[str] = []
    for program in worker_of(settings).programs:
        names += [q for q in program.queues if q not in names]
    if horizon is not None:
        for _, sups in horizon.environments:
            for sup in sups:
                names += [q for q in sup.queue if q not in names]
    return names or ["default"]


def observe_request(settings: HostSettings, sample: float = 0) -> ObserveRequest:
    worker = worker_of(settings)
    horizon = configured_horizon(settings)
    facts = facts_request(worker, tuple(horizon_paths(horizon)) if horizon else ())
    request: ObserveRequest = {
        "op": "observe",
        "program_dirs": facts["program_dirs"],
        "supervisor_configs": facts["supervisor_configs"],
        "app_path": facts["app_path"],
        "php": worker.php,
        "paths": facts["paths"],
        "queues": queues_of(settings),
        "fallback_path": FALLBACK_STATE,
        "sample": sample,
    }
    if horizon is not None:
        request["horizon"] = {"php": horizon.php, "program": horizon.program_name}
    redis = redis_of(settings)
    if redis.in_group:
        request["redis_server"] = connection_fields(redis)
    return request


def observe(session: HostSession, settings: HostSettings, sample: float = 0) -> dict[str, Any]:
    return session.agent(MODULE, observe_request(settings, sample))


@dataclass
class HostHealth:
    health: Health = "green"
    reasons: list[str] = field(default_factory=list)

    def worse(self, level: Health, reason: str) -> None:
        if RANK[level] > RANK[self.health]:
            self.health = level
        self.reasons.append(f"{level}: {reason}")


def _grade(value: float, limits: tuple[float, float]) -> Health:
    if value >= limits[1]:
        return "red"
    if value >= limits[0]:
        return "yellow"
    return "green"


def memory_limits(settings: HostSettings) -> dict[str, int]:
    """Program name → its worker's --memory limit in bytes (programs without one: none)."""
    return {p.name: p.memory * 1024 * 1024 for p in worker_of(settings).programs if p.memory}


def health(obs: Mapping[str, Any], settings: HostSettings) -> HostHealth:
    out = HostHealth()
    failed = obs.get("failed")
    if failed is not None and (level := _grade(failed, FAILED_JOBS)) != "green":
        out.worse(level, f"{failed} failed jobs")
    for queue, figures in sorted((obs.get("queues") or {}).items()):
        size = figures["ready"] + figures["delayed"] + figures["reserved"]
        if (level := _grade(size, QUEUE_SIZE)) != "green":
            out.worse(level, f"queue {queue} holds {size} jobs")
        oldest = figures.get("oldest_seconds")
        if oldest is not None and (level := _grade(oldest, OLDEST_JOB_SECONDS)) != "green":
            out.worse(level, f"oldest job in {queue} waits {oldest / 3600:.1f} h")
    limits = memory_limits(settings)
    for proc in (obs.get("supervisor") or {}).get("processes", []):
        limit, rss = limits.get(proc["group"]), proc.get("rss")
        if limit and rss is not None:
            percent = 100 * rss / limit
            if (level := _grade(percent, MEMORY_PERCENT)) != "green":
                out.worse(level, f"{proc['name']} uses {percent:.0f} % of its --memory limit")
    # Beyond the thresholds: what stops jobs from being processed at all.
    programs = worker_of(settings).programs
    if not obs["facts"]["supervisor"]["running"] and programs:
        out.worse("red", "supervisord is not running")
    expected = {p.name: p.processes for p in programs}
    running: dict[str, int] = {}
    for proc in (obs.get("supervisor") or {}).get("processes", []):
        running[proc["group"]] = running.get(proc["group"], 0) + (proc["state"] == "RUNNING")
    for name, count in sorted(expected.items()):
        if obs["facts"]["supervisor"]["running"] and running.get(name, 0) < count:
            out.worse("red", f"program {name}: {running.get(name, 0)}/{count} RUNNING")
    if obs.get("stale"):
        out.worse("yellow", f"{len(obs['stale'])} worker(s) running outside supervisor")
    if obs.get("redis") and obs["redis"].get("error") and obs.get("connection") == "redis":
        out.worse("red", obs["redis"]["error"])
    if "horizon" in obs and not obs["horizon"]["running"]:
        out.worse("red", "Horizon is not running")
    if obs.get("fallback") and obs["fallback"].get("active"):
        out.worse("yellow", "fallback active")
    if "redis_server" in obs:
        redis_health(out, obs["redis_server"], redis_of(settings))
    return out


def redis_health(out: HostHealth, server: Mapping[str, Any], wanted: RedisSettings) -> None:
    """A Redis server's grade: red when down or its memory nearly full, or when it evicts
    against the inventory; yellow on the memory threshold's first figure or drift."""
    if not server["up"]:
        out.worse("red", f"Redis server down: {server['error']}")
        return
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
        if (level := _grade(percent, REDIS_MEMORY_PERCENT)) != "green":
            out.worse(level, f"Redis uses {percent:.0f} % of maxmemory; new jobs are refused "
                             "when it is full")  # fmt: skip
