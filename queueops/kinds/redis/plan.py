"""tune-redis's pure half: the drop-in file, the include line and the live values to set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queueops.errors import QueueopsError
from queueops.kinds.redis.protocol import (
    INCLUDE_COMMENT,
    RedisApplyRequest,
    RedisFactsRequest,
    RedisTarget,
)
from queueops.kinds.redis.settings import RedisSettings
from queueops.plan.changes import FileChange, file_changes, refuse_if_locked
from queueops.plan.templates import managed_header, render
from queueops.protocol import Holder, ReportItem

DROPIN_TEMPLATE = "redis/queueops.conf.j2"
DROPIN_HEADER = managed_header(DROPIN_TEMPLATE, "#")


def directive(parameter: str, value: str) -> list[str]:
    """redis.conf lines for one parameter as CONFIG GET prints it."""
    if parameter != "save":
        return [f"{parameter} {value}"]
    # save lines add up, also across an include: `save ""` first drops the main file's.
    words = value.split()
    pairs = [f"save {words[i]} {words[i + 1]}" for i in range(0, len(words), 2)]
    return ['save ""', *pairs]


def render_dropin(settings: RedisSettings, main_config: str) -> str:
    lines = [line for parameter, value in settings.values for line in directive(parameter, value)]
    return render(DROPIN_TEMPLATE, header=DROPIN_HEADER, main_config=main_config, lines=lines)


def redis_facts_request(settings: RedisSettings) -> RedisFactsRequest:
    return {
        "op": "redis_facts",
        **connection_fields(settings),
        "dropin": settings.dropin,
        "parameters": [p for p, _ in settings.values],
    }


def connection_fields(settings: RedisSettings) -> RedisTarget:
    """Where and how tune-redis reaches the Redis server (the password only in the request)."""
    return {
        "config": settings.config,
        "address": settings.address,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password,
    }


@dataclass(frozen=True)
class RedisPlan:
    host: str
    config: str
    config_sha256: str
    dropin: FileChange | None
    include: bool
    # (parameter, live value, wanted value) for each value Redis has wrong.
    sets: tuple[tuple[str, str, str], ...]
    eviction_reason: str
    policy: str | None
    dropin_path: str

    @property
    def changed(self) -> bool:
        return bool(self.dropin or self.include or self.sets)

    @property
    def include_diff(self) -> str:
        if not self.include:
            return ""
        return (
            f"--- {self.config} (on host)\n+++ {self.config} (queueops)\n@@ end of file @@\n"
            f"+{INCLUDE_COMMENT}\n+include {self.dropin_path}\n"
        )

    def diffs(self) -> list[str]:
        return [d for d in ((self.dropin.diff if self.dropin else ""), self.include_diff) if d]

    def items(self) -> list[ReportItem]:
        out: list[ReportItem] = []
        if self.eviction_reason:
            out.append(
                {
                    "item": f"maxmemory-policy {self.policy} (reason: {self.eviction_reason})",
                    "action": "allow eviction",
                    "status": "ok",
                }
            )
        if self.dropin:
            out.append(
                {"item": self.dropin.path, "action": self.dropin.action, "status": "changed"}
            )
        if self.include:
            out.append(
                {
                    "item": f"{self.config}: include {self.dropin_path}",
                    "action": "add",
                    "status": "changed",
                }
            )
        out += [
            {"item": f"{p} {old!r} -> {new!r}", "action": "set", "status": "changed"}
            for p, old, new in self.sets
        ]
        return out


def plan_redis(name: str, settings: RedisSettings, facts: Mapping[str, Any]) -> RedisPlan:
    refuse_if_locked(name, facts)
    wanted = dict(settings.values)
    maxmemory = int(wanted.get("maxmemory", "0"))
    used = int(facts["used_memory"])
    if 0 < maxmemory <= used:
        raise QueueopsError(
            f"{name}: redis_queue_maxmemory {maxmemory} bytes is not above what Redis at "
            f"{facts['address']} already uses ({used} bytes): with noeviction every new job "
            "would be refused (OOM); raise it"
        )
    content = render_dropin(settings, facts["config"])
    changes = file_changes({settings.dropin: content}, {settings.dropin: facts["dropin"]})
    dropin = changes[0] if changes else None
    live = facts["live"]
    sets = tuple((p, live[p], v) for p, v in settings.values if live.get(p) != v)
    return RedisPlan(
        host=name,
        config=facts["config"],
        config_sha256=facts["config_sha256"],
        dropin=dropin,
        include=not facts["include"],
        sets=sets,
        eviction_reason=settings.eviction_reason,
        policy=wanted.get("maxmemory-policy"),
        dropin_path=settings.dropin,
    )


def redis_apply_request(
    plan: RedisPlan, settings: RedisSettings, holder: Holder, backup_dir: str, keep: int
) -> RedisApplyRequest:
    return {
        "op": "redis_apply",
        "holder": holder,
        "backup_dir": backup_dir,
        "backups_keep": keep,
        **connection_fields(settings),
        "config": plan.config,
        "config_sha256": plan.config_sha256,
        "dropin_path": settings.dropin,
        "dropin": plan.dropin.request() if plan.dropin else None,
        "include": plan.include,
        "set": [[p, v] for p, _, v in plan.sets],
    }
