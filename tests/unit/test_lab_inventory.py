"""The committed lab inventory validates for every task, without a running lab."""

from __future__ import annotations

from queueops.inventory.loader import load_inventory
from queueops.kinds import host_settings
from queueops.kinds.horizon.settings import horizon_settings
from queueops.kinds.redis.settings import redis_settings

from .trees import REPO, ROLES_DIR


def test_lab_inventory_runs_horizon_on_app1_and_tunes_redis1() -> None:
    inventory = load_inventory(REPO / "inventories" / "lab", ROLES_DIR)
    assert inventory.groups["horizon"] == ("app1",)
    for host in inventory.select(None, None, True):
        host_settings(host, inventory.role_keys)
    horizon = horizon_settings(inventory.hosts["app1"])
    ((env, (supervisor,)),) = horizon.environments
    # The demo app's .env: APP_ENV=production, QUEUE_CONNECTION=redis.
    assert (env, supervisor.name, supervisor.connection) == ("production", "supervisor-1", "redis")
    assert supervisor.queue == ("default",)
    assert not horizon_settings(inventory.hosts["app2"]).configured
    redis = redis_settings(inventory.hosts["redis1"])
    assert redis.configured
    assert dict(redis.values)["maxmemory-policy"] == "noeviction"
    assert not redis_settings(inventory.hosts["app1"]).configured
