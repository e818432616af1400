"""verify's checks of a queue Redis server (collected by observe/verify/runner.py)."""

from __future__ import annotations

import pytest

from queueops.kinds.base import CheckTarget, observed
from queueops.kinds.redis import KIND


def test_redis_server_healthy(target: CheckTarget) -> None:
    """A host of the redis group must run a redis-server that answers with its password, with
    maxmemory-policy noeviction (an evicting policy drops queued jobs when memory is full)
    and the maxmemory and policy the inventory sets."""
    server = observed(target.obs, KIND.observation)
    if server is None:
        pytest.skip("not a host of the redis group")
    if not server["up"]:
        pytest.fail(f"Redis server down: {server['error']}", pytrace=False)
    redis = KIND.of(target.settings)
    values = dict(redis.values)
    problems = []
    if server["policy"] != "noeviction" and not redis.eviction_reason:
        problems.append(
            f"maxmemory-policy {server['policy']} evicts keys, and queued jobs have no TTL"
        )
    for parameter, live in (("maxmemory-policy", server["policy"]),
                            ("maxmemory", str(server["maxmemory"]))):  # fmt: skip
        if parameter in values and live != values[parameter]:
            problems.append(f"{parameter} is {live}, the inventory says {values[parameter]}")
    if problems:
        pytest.fail(
            f"Redis at {server['address']}: " + "; ".join(problems) + " (invoke tune-redis)",
            pytrace=False,
        )
