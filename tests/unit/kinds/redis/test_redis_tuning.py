"""tune-redis without hosts: redis_queue_* validation, the drop-in file and the live plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.agent.redis_client import RedisClient
from queueops.errors import InventoryError, QueueopsError
from queueops.kinds import host_settings
from queueops.kinds.redis.host import has_include, redis_directives, redis_endpoint
from queueops.kinds.redis.plan import DROPIN_HEADER, RedisPlan, plan_redis, render_dropin
from queueops.kinds.redis.settings import RedisSettings, redis_settings
from queueops.plan.changes import sha256

from ...trees import load_web1

DROPIN = "/etc/redis/queueops.conf"
LIVE = {
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "timeout": "0",
    "tcp-keepalive": "300",
    "appendonly": "no",
    "appendfsync": "everysec",
    "save": "3600 1 300 100 60 10000",
}


def load(tmp_path: Path, **host_vars: Any) -> RedisSettings:
    host, _ = load_web1(tmp_path, host_vars=host_vars)
    return redis_settings(host)


def refusal(tmp_path: Path, **host_vars: Any) -> str:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, **host_vars)
    return str(caught.value)


def test_defaults_manage_the_queue_settings_and_leave_the_rest(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert dict(settings.values) == {
        "maxmemory-policy": "noeviction",
        "timeout": "0",
        "tcp-keepalive": "300",
        "appendonly": "yes",
        "appendfsync": "everysec",
    }
    assert (settings.config, settings.dropin, settings.password) == ("", DROPIN, None)


@pytest.mark.parametrize(
    ("value", "bytes_"),
    [(0, "0"), (1048576, "1048576"), ("256mb", "268435456"), ("2gb", "2147483648"), ("1k", "1000")],
)
def test_maxmemory_in_redis_units(tmp_path: Path, value: Any, bytes_: str) -> None:
    assert dict(load(tmp_path, redis_queue_maxmemory=value).values)["maxmemory"] == bytes_


def test_save_pairs_and_yaml_no(tmp_path: Path) -> None:
    settings = load(
        tmp_path, redis_queue_save=[[3600, 1], [300, 100]], redis_queue_appendfsync=False
    )
    values = dict(settings.values)
    assert values["save"] == "3600 1 300 100"
    assert values["appendfsync"] == "no"
    dropin = render_dropin(settings, "/etc/redis/redis.conf")
    # save lines add up across an include: the drop-in resets them first.
    assert 'save ""\nsave 3600 1\nsave 300 100\n' in dropin


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random"])
def test_an_evicting_policy_is_refused_naming_the_rule(tmp_path: Path, policy: str) -> None:
    message = refusal(tmp_path, redis_queue_maxmemory_policy=policy)
    assert "web1.yml: host web1: redis_queue_maxmemory_policy" in message
    assert f"{policy} is refused" in message
    assert "queue lists have no TTL" in message and "redis_queue_allow_eviction_reason" in message


def test_an_evicting_policy_with_a_reason_is_accepted_and_shown(tmp_path: Path) -> None:
    reason = "cache-only instance; queues live on redis-queue1"
    settings = load(
        tmp_path,
        redis_queue_maxmemory_policy="allkeys-lru",
        redis_queue_allow_eviction_reason=reason,
    )
    plan = plan_redis("web1", settings, facts(live={**LIVE, "maxmemory-policy": "allkeys-lru"}))
    assert plan.items()[0] == {
        "item": f"maxmemory-policy allkeys-lru (reason: {reason})",
        "action": "allow eviction",
        "status": "ok",
    }


@pytest.mark.parametrize(
    ("host_vars", "reason"),
    [
        ({"redis_queue_maxmemory": "lots"}, "redis_queue_maxmemory: must be bytes"),
        ({"redis_queue_maxmemory": -1}, "redis_queue_maxmemory: must be bytes"),
        ({"redis_queue_maxmemory": "1tb"}, "redis_queue_maxmemory"),
        ({"redis_queue_maxmemory_policy": "lru"}, "must be one of noeviction"),
        ({"redis_queue_appendonly": "yes"}, "must be true or false"),
        ({"redis_queue_appendfsync": "sometimes"}, "always, everysec, no"),
        ({"redis_queue_timeout": -5}, "redis_queue_timeout: must be >= 0"),
        ({"redis_queue_save": [[3600]]}, "redis_queue_save[0]"),
        ({"redis_queue_save": [[0, 1]]}, "seconds must be an integer >= 1"),
        ({"redis_queue_port": 70000}, "redis_queue_port"),
        ({"redis_queue_address": "127.0.0.1; reboot"}, "redis_queue_address"),
        ({"redis_queue_dropin": "etc/queueops.conf"}, "absolute path"),
        ({"redis_queue_user": "ops user"}, "redis_queue_user"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, host_vars: dict[str, Any], reason: str) -> None:
    assert reason in refusal(tmp_path, **host_vars)


def test_a_misspelt_variable_is_refused_as_a_typo(tmp_path: Path) -> None:
    host, keys = load_web1(tmp_path, host_vars={"redis_queue_maxmemry": 1})
    with pytest.raises(InventoryError, match="did you mean 'redis_queue_maxmemory'"):
        host_settings(host, keys)


def test_a_password_with_a_newline_is_refused_without_repeating_it(tmp_path: Path) -> None:
    message = refusal(tmp_path, redis_queue_password="s3cret\nx")
    assert "redis_queue_password" in message and "s3cret" not in message


def facts(
    live: dict[str, str] | None = None,
    dropin: str | None = None,
    include: bool = False,
    used: int = 1_000_000,
) -> dict[str, Any]:
    return {
        "config": "/etc/redis/redis.conf",
        "config_sha256": "abc",
        "include": include,
        "dropin": None
        if dropin is None
        else {"sha256": sha256(dropin), "header": dropin.split("\n")[0], "content": dropin},
        "address": "127.0.0.1:6379",
        "live": live or LIVE,
        "used_memory": used,
        "lock": None,
    }


def actions(plan: RedisPlan) -> list[tuple[str, str]]:
    return [(i["action"], i["item"]) for i in plan.items()]


def test_from_nothing_writes_the_dropin_includes_it_and_sets_what_differs(tmp_path: Path) -> None:
    settings = load(tmp_path, redis_queue_maxmemory="256mb")
    plan = plan_redis("redis1", settings, facts())
    assert actions(plan) == [
        ("create", DROPIN),
        ("add", f"/etc/redis/redis.conf: include {DROPIN}"),
        ("set", "maxmemory '0' -> '268435456'"),
        ("set", "appendonly 'no' -> 'yes'"),
    ]
    assert plan.dropin is not None and plan.dropin.after is not None
    assert plan.dropin.after.startswith(DROPIN_HEADER + "\n")
    assert "maxmemory 268435456\nmaxmemory-policy noeviction\n" in plan.dropin.after
    assert f"+include {DROPIN}" in "".join(plan.diffs())


def test_converged_redis_plans_nothing(tmp_path: Path) -> None:
    settings = load(tmp_path, redis_queue_maxmemory="256mb")
    live = {**LIVE, "maxmemory": "268435456", "appendonly": "yes"}
    content = render_dropin(settings, "/etc/redis/redis.conf")
    plan = plan_redis("redis1", settings, facts(live, content, include=True))
    assert not plan.changed and plan.items() == []


def test_maxmemory_below_what_redis_uses_is_refused(tmp_path: Path) -> None:
    settings = load(tmp_path, redis_queue_maxmemory="1mb")
    with pytest.raises(QueueopsError, match=r"already uses .*every new job"):
        plan_redis("redis1", settings, facts(used=5_000_000))


def test_redis_conf_reading() -> None:
    text = (
        "# bind 0.0.0.0\nbind 127.0.0.1 -::1\nport 6379\n"
        'bind 10.0.0.5\nrequirepass "p w"\ninclude /etc/redis/queueops.conf\nport 6380\n'
    )
    directives = redis_directives(text)
    assert redis_endpoint("", None, directives) == ("10.0.0.5", 6380)
    assert redis_endpoint("192.0.2.1", 7000, directives) == (
        "192.0.2.1",
        7000,
    )
    assert has_include(text, DROPIN)
    assert not has_include("# include /etc/redis/queueops.conf\n", DROPIN)
    assert redis_endpoint("", None, redis_directives("bind * -::*\n")) == ("127.0.0.1", 6379)


def test_resp_encoding_of_commands() -> None:
    sent: list[bytes] = []

    class Socket:
        def sendall(self, data: bytes) -> None:
            sent.append(data)

    client = RedisClient.__new__(RedisClient)
    client.sock = Socket()  # type: ignore[assignment]
    client._reply = lambda: "OK"  # type: ignore[method-assign]
    assert client.call("CONFIG", "SET", "save", "") == "OK"
    assert sent == [b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$4\r\nsave\r\n$0\r\n\r\n"]


def test_only_hosts_of_the_redis_group_are_tuned(tmp_path: Path) -> None:
    assert not load(tmp_path / "a").configured
    hosts = {"all": {"children": {"redis": {"hosts": {"web1": None}}}}}
    host, _ = load_web1(tmp_path / "b", hosts=hosts)
    assert redis_settings(host).configured
