"""Lint rules of the Redis kind: an accepted evicting policy is still reported."""

from __future__ import annotations

from queueops.kinds.redis.settings import REDIS_GROUP, redis_of
from queueops.lint.findings import Collector

# The rules this kind reports.
REDIS_RULES: dict[str, str] = {"QO104": "no evicting maxmemory-policy on a queue Redis"}


def lint(out: Collector) -> None:
    host, redis = out.host, redis_of(out.settings)
    # QO104: validation refuses an evicting policy without a reason; only the accepted
    # reason is left to report. Hosts outside the redis group are never tuned.
    if REDIS_GROUP in host.groups and redis.eviction_reason:
        policy = dict(redis.values)["maxmemory-policy"]
        out.add(
            "QO104",
            "warning",
            "redis_queue_maxmemory_policy",
            f"maxmemory-policy {policy} evicts keys, and queue lists have no TTL: when memory "
            "is full Redis drops queued jobs silently. Accepted because "
            f"redis_queue_allow_eviction_reason says: {redis.eviction_reason!r}",
            "use noeviction on the queue Redis and keep cache data on another instance; "
            "keep the reason only if this Redis holds no job that matters",
        )
