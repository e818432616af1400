"""The queue's Redis host watched like the app hosts: status, verify and metrics of the server
itself, through an outage and back."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.shell import cmd
from tests.conftest import Lab
from tests.integration.test_setup_worker import (
    artisan,
    inventory,
    program,
    queueops,
    states,
    wait_processed,
)

pytestmark = pytest.mark.lab

QUEUE = "health-q"


def with_redis_host(tmp_path: Path, lab: Lab) -> Path:
    """The workers inventory, plus redis1 in the redis group with the inventory's maxmemory."""
    inv = inventory(tmp_path, lab, [program("healthy", [QUEUE], processes=2)])
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["redis"] = {
        "hosts": {"redis1": {"ansible_host": lab.address("redis1")}}
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inv / "group_vars" / "redis.yml").write_text(
        yaml.safe_dump({"redis_queue_maxmemory": "256mb"})
    )
    return inv


def redis_cli(lab: Lab, *args: str) -> str:
    # The password stays on the host: redis-cli reads it from the environment there.
    auth = "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/redis.conf)"
    return lab.ssh(
        "redis1", f"{auth} {cmd('redis-cli', '-h', lab.address('redis1'), *args)}"
    ).stdout


def status_of(inv: Path, host: str) -> dict[str, Any]:
    result = queueops("status", "-i", str(inv), "--all", "--json")
    doc: dict[str, Any] = json.loads(result.stdout)
    return dict(doc["hosts"][host])


def test_redis_host_health_through_an_outage(lab: Lab, tmp_path: Path) -> None:
    inv = with_redis_host(tmp_path, lab)
    applied = queueops("tune-redis", "-i", str(inv), "--host", "redis1")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    converged = queueops("setup-worker", "-i", str(inv), "--group", "workers")
    assert converged.returncode == 0, converged.stdout + converged.stderr

    healthy = status_of(inv, "redis1")
    assert healthy["health"] == "green", healthy["reasons"]
    server = healthy["redis_server"]
    assert server["up"] and server["policy"] == "noeviction"
    assert server["maxmemory"] == 256 * 1024 * 1024 and server["used_memory"] > 0
    assert "password" not in json.dumps(server).lower()

    before = artisan(lab, "app1", "demo:dispatch", "--count=50", f"--queue={QUEUE}").split()
    lab.ssh("redis1", "service redis-server stop")
    try:
        down = status_of(inv, "redis1")
        assert down["health"] == "red"
        assert any("Redis server down" in r for r in down["reasons"]), down["reasons"]
        assert "cannot reach Redis" in down["redis_server"]["error"]
        checked = queueops("verify", "-i", str(inv), "--host", "redis1", "--json")
        assert checked.returncode == 1
        failed = {
            c["name"]: c["detail"]
            for c in json.loads(checked.stdout)["hosts"]["redis1"]["checks"]
            if c["outcome"] == "failed"
        }
        assert "Redis server down" in failed["redis_server_healthy"]
        exposed = queueops("metrics", "-i", str(inv), "--host", "redis1").stdout
        assert 'queueops_redis_up{host="redis1"} 0' in exposed
        time.sleep(5)
    finally:
        lab.ssh("redis1", "service redis-server start")
    deadline = time.monotonic() + 20
    while status_of(inv, "redis1")["health"] != "green" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status_of(inv, "redis1")["health"] == "green"
    after = artisan(lab, "app1", "demo:dispatch", "--count=50", f"--queue={QUEUE}").split()
    ids = before + after
    done = wait_processed(lab, ids, timeout=60)
    counts = collections.Counter(r["id"] for r in done)
    assert set(counts) == set(ids) and max(counts.values()) == 1
    for host in ("app1", "app2"):
        procs = {k: v for k, v in states(lab, host).items() if k.startswith("healthy:")}
        assert procs and all(state == "RUNNING" for state, _ in procs.values()), procs
    exposed = queueops("metrics", "-i", str(inv), "--host", "redis1").stdout
    assert 'queueops_redis_up{host="redis1"} 1' in exposed
    assert 'queueops_redis_memory_max_bytes{host="redis1"} 268435456' in exposed
    assert 'queueops_redis_connected_clients{host="redis1"}' in exposed
    assert checked_ok(inv)


def checked_ok(inv: Path) -> bool:
    result = queueops("verify", "-i", str(inv), "--host", "redis1", "--json")
    checks = json.loads(result.stdout)["hosts"]["redis1"]["checks"]
    return result.returncode == 0 and any(
        c["name"] == "redis_server_healthy" and c["outcome"] == "passed" for c in checks
    )


def test_memory_near_maxmemory_and_an_evicting_policy_turn_the_host_red(
    lab: Lab, tmp_path: Path
) -> None:
    inv = with_redis_host(tmp_path, lab)
    assert queueops("tune-redis", "-i", str(inv), "--host", "redis1").returncode == 0
    used = int(next(line.split(":")[1] for line in redis_cli(lab, "INFO", "memory").splitlines()
                    if line.startswith("used_memory:")))  # fmt: skip
    try:
        redis_cli(lab, "CONFIG", "SET", "maxmemory", str(int(used * 1.05)))
        full = status_of(inv, "redis1")
        assert full["health"] == "red"
        assert any("% of maxmemory" in r for r in full["reasons"]), full["reasons"]
        redis_cli(lab, "CONFIG", "SET", "maxmemory", str(256 * 1024 * 1024))
        redis_cli(lab, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        evicting = status_of(inv, "redis1")
        assert evicting["health"] == "red"
        assert any("allkeys-lru evicts" in r for r in evicting["reasons"]), evicting["reasons"]
        result = queueops("verify", "-i", str(inv), "--host", "redis1", "--json")
        checks = {c["name"]: c for c in json.loads(result.stdout)["hosts"]["redis1"]["checks"]}
        assert checks["redis_server_healthy"]["outcome"] == "failed"
        assert "allkeys-lru" in checks["redis_server_healthy"]["detail"]
    finally:
        redis_cli(lab, "CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_cli(lab, "CONFIG", "SET", "maxmemory", str(256 * 1024 * 1024))
