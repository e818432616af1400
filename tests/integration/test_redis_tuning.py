"""tune-redis on the lab's redis1, through the real CLI: live, no restart, no lost job."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.shell import cmd
from tests.conftest import Lab
from tests.integration.test_setup_worker import artisan, queueops, run_json

pytestmark = pytest.mark.lab

DROPIN = "/etc/redis/queueops.conf"
MAIN = "/etc/redis/redis.conf"
QUEUE_KEY = "queueops_demo_database_queues:{queue}"


def inventory(tmp: Path, lab: Lab, **redis_vars: Any) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    hosts = {
        "redis": {"hosts": {"redis1": {"ansible_host": lab.address("redis1")}}},
        "app": {"hosts": {"app1": {"ansible_host": lab.address("app1")}}},
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": hosts}}))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(lab.paths.connection_vars()))
    (inv / "group_vars" / "redis.yml").write_text(yaml.safe_dump(redis_vars))
    return inv


def redis_cli(lab: Lab, *args: str) -> str:
    """redis-cli on redis1; the password goes through the environment, as operators should."""
    auth = "REDISCLI_AUTH=$(awk '/^requirepass/ {print $2}' /etc/redis/redis.conf)"
    command = f"{auth} " + cmd("redis-cli", "--no-auth-warning", "-h", lab.address("redis1"), *args)
    return lab.ssh("redis1", command).stdout.strip()


def config_get(lab: Lab, parameter: str) -> str:
    return redis_cli(lab, "config", "get", parameter).splitlines()[-1]


def redis_pid(lab: Lab) -> int:
    return int(lab.ssh("redis1", "pgrep -x redis-server").stdout.split()[0])


def restarted_value(lab: Lab, parameter: str) -> str:
    """`parameter` of a scratch redis-server started from the main config on a unix socket
    (no TCP or TLS port: the running server holds the lab's)."""
    auth = "REDISCLI_AUTH=$(awk '/^requirepass/ {print $2}' /etc/redis/redis.conf)"
    script = (
        "mkdir -p /tmp/restart-check && cd /tmp/restart-check && "
        "(redis-server /etc/redis/redis.conf --port 0 --tls-port 0 "
        "--unixsocket /tmp/restart-check/s.sock --daemonize no "
        "--pidfile /tmp/restart-check/pid --dir /tmp/restart-check --logfile '' "
        "> log 2>&1 &) && for i in $(seq 50); do test -S s.sock && break; sleep 0.1; done; "
        f"{auth} redis-cli --no-auth-warning -s s.sock config get {parameter} | tail -1; "
        f"{auth} redis-cli --no-auth-warning -s s.sock shutdown nosave >/dev/null 2>&1; true"
    )
    return lab.ssh("redis1", script).stdout.strip()


def sha(lab: Lab, path: str) -> str:
    return lab.ssh("redis1", f"sha256sum {path} 2>/dev/null || echo absent", check=False).stdout


def test_maxmemory_changes_live_while_1000_jobs_wait(fresh_lab: Lab, tmp_path: Path) -> None:
    queue = "tune"
    ids = artisan(fresh_lab, "app1", "demo:dispatch", "--count=1000", f"--queue={queue}").split()
    assert len(ids) == 1000
    key = QUEUE_KEY.format(queue=queue)
    assert redis_cli(fresh_lab, "llen", key) == "1000"
    pid = redis_pid(fresh_lab)
    assert config_get(fresh_lab, "maxmemory") == "0"

    inv = inventory(tmp_path, fresh_lab, redis_queue_maxmemory="256mb")
    start = time.monotonic()
    result = queueops("tune-redis", "-i", str(inv), "--all", "--json", "--diff")
    took = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"] == {"ok": 1, "changed": 1, "failed": 0}
    assert doc["hosts"]["app1"]["items"][0]["action"] == "skip"
    items = [(i["action"], i["item"]) for i in doc["hosts"]["redis1"]["items"]]
    assert items == [
        ("create", DROPIN),
        ("add", f"{MAIN}: include {DROPIN}"),
        ("set", "maxmemory '0' -> '268435456'"),
        ("set", "appendonly 'no' -> 'yes'"),
    ]
    password = fresh_lab.paths.redis_password.read_text().strip()
    assert password not in result.stdout + result.stderr

    assert config_get(fresh_lab, "maxmemory") == "268435456"
    assert config_get(fresh_lab, "maxmemory-policy") == "noeviction"
    assert redis_pid(fresh_lab) == pid, "redis-server was restarted"
    assert redis_cli(fresh_lab, "llen", key) == "1000"
    dropin = fresh_lab.ssh("redis1", f"cat {DROPIN}").stdout
    assert "maxmemory 268435456\n" in dropin and "maxmemory-policy noeviction\n" in dropin
    assert fresh_lab.ssh("redis1", f"grep -c '^include {DROPIN}$' {MAIN}").stdout.strip() == "1"
    assert fresh_lab.ssh("redis1", f"ls /var/backups/queueops/*-tune-redis{MAIN}").stdout.strip()
    # The next restart keeps the values: a second redis-server reads the same files.
    assert restarted_value(fresh_lab, "maxmemory") == "268435456"

    # Every queued job is still there and is processed.
    worker = "cd /var/www/app && " + cmd(
        "runuser", "-u", "www-data", "--", "php", "artisan", "queue:work", "redis",
        f"--queue={queue}", "--stop-when-empty", "--sleep=0",
    )  # fmt: skip
    fresh_lab.ssh("app1", worker, timeout=300)
    out = fresh_lab.ssh("app1", "cat /var/www/app/storage/app/processed.jsonl").stdout
    done = {json.loads(line)["id"] for line in out.splitlines() if line.strip()}
    assert done >= set(ids)
    assert len(set(ids)) == 1000

    # Idempotent: nothing changes, nothing is set again.
    doc = run_json("tune-redis", "-i", str(inv), "--host", "redis1")
    assert doc["summary"] == {"ok": 1, "changed": 0, "failed": 0}
    assert doc["hosts"]["redis1"]["items"] == []
    assert redis_pid(fresh_lab) == pid
    print(f"tune-redis: maxmemory applied live in {took:.2f} s with 1000 jobs queued")

    # A new value is one more set; the include line is not added twice.
    inv = inventory(tmp_path, fresh_lab, redis_queue_maxmemory="512mb")
    doc = run_json("tune-redis", "-i", str(inv), "--host", "redis1")
    items = [(i["action"], i["item"]) for i in doc["hosts"]["redis1"]["items"]]
    assert items == [("update", DROPIN), ("set", "maxmemory '268435456' -> '536870912'")]
    assert fresh_lab.ssh("redis1", f"grep -c '^include {DROPIN}$' {MAIN}").stdout.strip() == "1"
    assert redis_pid(fresh_lab) == pid


def test_a_value_redis_rejects_rolls_everything_back(fresh_lab: Lab, tmp_path: Path) -> None:
    before = {p: sha(fresh_lab, p) for p in (MAIN, DROPIN)}
    # Validation accepts any non-negative integer; Redis refuses one above INT_MAX.
    inv = inventory(
        tmp_path, fresh_lab, redis_queue_maxmemory="128mb", redis_queue_tcp_keepalive=10**11
    )
    doc = run_json("tune-redis", "-i", str(inv), "--host", "redis1", expect=1)
    error = doc["hosts"]["redis1"]["error"]
    assert "Redis refused tcp-keepalive" in error and "rolled back" in error, error
    assert "maxmemory set back" in error
    assert config_get(fresh_lab, "maxmemory") == "0"
    assert config_get(fresh_lab, "tcp-keepalive") == "300"
    assert {p: sha(fresh_lab, p) for p in before} == before


@pytest.mark.parametrize(
    ("redis_vars", "message"),
    [
        ({"redis_queue_port": 6390}, "cannot reach Redis at {address}:6390"),
        ({"redis_queue_password": "not-the-password"}, "Redis at {address}:6379 refused"),
    ],
)
def test_unreachable_redis_or_a_wrong_password_changes_nothing(
    lab: Lab, tmp_path: Path, redis_vars: dict[str, Any], message: str
) -> None:
    before = {p: sha(lab, p) for p in (MAIN, DROPIN)}
    maxmemory = config_get(lab, "maxmemory")
    inv = inventory(tmp_path, lab, redis_queue_maxmemory="64mb", **redis_vars)
    result = queueops("tune-redis", "-i", str(inv), "--host", "redis1")
    assert result.returncode == 1, result.stdout + result.stderr
    row = result.stdout.splitlines()[2]
    assert row.split()[:2] == ["redis1", "failed"]
    assert message.format(address=lab.address("redis1")) in row
    assert "not-the-password" not in result.stdout + result.stderr
    assert {p: sha(lab, p) for p in before} == before
    assert config_get(lab, "maxmemory") == maxmemory


def test_an_evicting_policy_is_refused_unless_a_reason_is_given(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, redis_queue_maxmemory_policy="allkeys-lru")
    result = queueops("tune-redis", "-i", str(inv), "--host", "redis1")
    assert result.returncode == 2
    assert "redis.yml: host redis1: redis_queue_maxmemory_policy: allkeys-lru is refused" in (
        result.stderr
    )
    assert "queue lists have no TTL" in result.stderr

    reason = "this lab Redis holds no jobs worth keeping"
    inv = inventory(
        tmp_path,
        lab,
        redis_queue_maxmemory_policy="allkeys-lru",
        redis_queue_allow_eviction_reason=reason,
    )
    result = queueops("tune-redis", "-i", str(inv), "--host", "redis1", "--check")
    assert result.returncode == 0, result.stderr
    assert f"allow eviction maxmemory-policy allkeys-lru (reason: {reason})" in result.stdout
    assert "set maxmemory-policy 'noeviction' -> 'allkeys-lru'" in result.stdout
    assert config_get(lab, "maxmemory-policy") == "noeviction"
