"""The shipped example inventory validates and renders without contacting any host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queueops.inventory.loader import Inventory, load_inventory
from queueops.kinds import host_settings
from queueops.kinds.horizon.plan import render_horizon
from queueops.kinds.horizon.settings import horizon_settings
from queueops.kinds.redis.settings import redis_settings
from queueops.kinds.workers.render import render_offline
from queueops.kinds.workers.settings import worker_of
from queueops.plan.templates import write_tree
from queueops.platforms import platform_for

from .trees import EXAMPLE_INVENTORY, REPO, ROLES_DIR


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(EXAMPLE_INVENTORY, ROLES_DIR)


def test_groups_of_the_seed_fleet(example: Inventory) -> None:
    assert example.groups["workers"] == ("api1", "sync1")
    assert example.groups["horizon"] == ("horizon1",)
    assert example.groups["redis"] == ("redis1",)
    assert example.groups["scheduler"] == ("horizon1",)


def test_render_writes_every_kinds_files_of_every_host(tmp_path: Path) -> None:
    """`invoke render --all` through the real CLI: each host's files of every kind."""
    out = tmp_path / "out"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("invoke")), "render", "-i", str(EXAMPLE_INVENTORY),
         "--all", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written == {
        "api1/etc/supervisor/conf.d/calcom-sync-queue.conf",
        "sync1/etc/supervisord.d/laravel-worker-high.ini",
        "sync1/etc/supervisord.d/laravel-worker-low.ini",
        "horizon1/etc/supervisor/conf.d/horizon.conf",
        "horizon1/var/www/app/config/horizon.php",
        "horizon1/etc/cron.d/laravel-scheduler",
        "redis1/etc/redis/queueops.conf",
    }
    assert sorted(result.stdout.split()) == sorted(str(out / p) for p in written)
    cron = (out / "horizon1/etc/cron.d/laravel-scheduler").read_text()
    assert "* * * * * www-data cd /var/www/app && php artisan schedule:run" in cron


def test_every_host_validates(example: Inventory) -> None:
    for host in example.select(None, None, True):
        assert host_settings(host, example.role_keys).os_family in ("debian", "redhat")


def test_api1_renders_its_calcom_worker_for_debian(example: Inventory, tmp_path: Path) -> None:
    host = example.hosts["api1"]
    files = render_offline(host, host_settings(host, example.role_keys))
    written = write_tree(files, tmp_path)
    assert written == [tmp_path / "etc/supervisor/conf.d/calcom-sync-queue.conf"]
    assert (
        "command=php /var/www/api-gateway/artisan queue:work redis "
        "--queue=calcom-sync,default --sleep=3 --tries=3 --max-time=3600 --timeout=60\n"
    ) in written[0].read_text()


def test_sync1_jobs_fit_inside_retry_after_and_stopwaitsecs(example: Inventory) -> None:
    host = example.hosts["sync1"]
    settings = host_settings(host, example.role_keys)
    files = render_offline(host, settings)
    assert sorted(files) == [
        "/etc/supervisord.d/laravel-worker-high.ini",
        "/etc/supervisord.d/laravel-worker-low.ini",
    ]
    assert "numprocs=2\n" in files["/etc/supervisord.d/laravel-worker-high.ini"]
    for program in worker_of(settings).programs:
        assert program.timeout == 300
        assert worker_of(settings).retry_after > program.timeout
        assert program.stopwaitsecs > program.timeout


def test_hosts_without_programs_render_nothing(example: Inventory) -> None:
    for name in ("horizon1", "redis1"):
        host = example.hosts[name]
        assert render_offline(host, host_settings(host, example.role_keys)) == {}


def test_horizon1_runs_three_supervisors_inside_retry_after(example: Inventory) -> None:
    host = example.hosts["horizon1"]
    settings = host_settings(host, example.role_keys)
    horizon = horizon_settings(host)
    ((env, supervisors),) = horizon.environments
    assert env == "production"
    by_name = {s.name: s for s in supervisors}
    assert list(by_name) == ["supervisor-1", "webhooks", "emails"]
    assert (by_name["supervisor-1"].queue, by_name["supervisor-1"].balance) == (
        ("default",),
        "auto",
    )
    assert [s.max_processes for s in supervisors] == [10, 5, 3]
    assert [s.timeout for s in supervisors] == [60, 30, 120]
    for sup in supervisors:
        assert sup.timeout < worker_of(settings).retry_after
        assert sup.timeout < horizon.stopwaitsecs
    files = render_horizon(horizon, platform_for("debian"))
    assert sorted(files) == [
        "/etc/supervisor/conf.d/horizon.conf",
        "/var/www/app/config/horizon.php",
    ]
    assert "stopwaitsecs=135\n" in files["/etc/supervisor/conf.d/horizon.conf"]


def test_redis1_is_a_queue_redis_that_never_evicts(example: Inventory) -> None:
    values = dict(redis_settings(example.hosts["redis1"]).values)
    assert values["maxmemory-policy"] == "noeviction"
    assert values["maxmemory"] == str(2 * 1024**3)
    assert values["appendonly"] == "yes"


def test_hosts_without_horizon_or_redis_settings_configure_neither(example: Inventory) -> None:
    for name in ("api1", "sync1", "redis1"):
        assert not horizon_settings(example.hosts[name]).configured
