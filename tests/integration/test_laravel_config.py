"""The app's own resolved configuration, asked once and used by every task that reads its
queues: the Redis prefix and credentials come from Laravel, not from a copy of its rules."""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from pathlib import Path

import pytest

from queueops.kinds import host_settings
from queueops.kinds.hosts import load
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import worker_of
from queueops.shell import cmd
from queueops.transport.session import HostSession
from tests.conftest import Lab
from tests.integration.test_setup_worker import artisan, inventory, program, queueops, run_json

pytestmark = pytest.mark.lab

QUEUE = "slug-q"
ENV = "/var/www/app/.env"


@pytest.fixture
def odd_env(lab: Lab) -> Generator[None, None, None]:
    """app1's .env with an APP_NAME Str::slug spells out (@ → at) and REDIS_USERNAME=null,
    as many apps ship it; put back afterwards."""
    original = lab.ssh("app1", f"cat {ENV}").stdout
    odd = re.sub(r"^APP_NAME=.*$", 'APP_NAME="a@b"', original, flags=re.M) + "REDIS_USERNAME=null\n"
    lab.ssh("app1", f"cat > {ENV} <<'EOF'\n{odd}EOF")
    try:
        yield
    finally:
        lab.ssh("app1", f"cat > {ENV} <<'EOF'\n{original}EOF")


def test_status_metrics_clear_and_restore_read_the_queue_the_app_writes(
    lab: Lab, tmp_path: Path, odd_env: None
) -> None:
    inv = inventory(tmp_path, lab, [program("slugged", [QUEUE], processes=1)])
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    lab.ssh("app1", "supervisorctl stop slugged:*")
    artisan(lab, "app1", "queue:clear", "redis", f"--queue={QUEUE}", "--force")
    # Laravel itself dispatches: its prefix is Str::slug("a@b") = "a_at_b" + "_database_".
    artisan(lab, "app1", "demo:dispatch", "--count=25", f"--queue={QUEUE}")
    # The password stays on the host: redis-cli reads it from the environment there.
    auth = "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/redis.conf)"
    scan = cmd("redis-cli", "-h", lab.address("redis1"), "--scan", "--pattern", f"*queues:{QUEUE}")
    keys = lab.ssh("redis1", f"{auth} {scan}").stdout.split()
    assert keys == [f"a_at_b_database_queues:{QUEUE}"]

    status = json.loads(queueops("status", "-i", str(inv), "--host", "app1", "--json").stdout)
    app1 = status["hosts"]["app1"]
    assert app1["redis"]["reachable"] is True, app1
    assert app1["queues"][QUEUE]["ready"] == 25
    metrics = queueops("metrics", "-i", str(inv), "--host", "app1").stdout
    assert f'queue="{QUEUE}",state="ready"}} 25' in metrics
    assert 'queueops_redis_up{host="app1"} 1' in metrics

    out = tmp_path / "exports"
    cleared = queueops("clear", "-i", str(inv), "--host", "app1", "--queue", QUEUE, "--yes",
                       "--out", str(out))  # fmt: skip
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    (export,) = out.glob("clear-*.jsonl")
    records = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(records) == 25 and all(r["removed"] for r in records)
    assert {r["key"] for r in records} == {f"a_at_b_database_queues:{QUEUE}"}
    status = json.loads(queueops("status", "-i", str(inv), "--host", "app1", "--json").stdout)
    assert status["hosts"]["app1"]["queues"][QUEUE]["ready"] == 0

    restored = queueops("restore-jobs", "-i", str(inv), str(export))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    status = json.loads(queueops("status", "-i", str(inv), "--host", "app1", "--json").stdout)
    assert status["hosts"]["app1"]["queues"][QUEUE]["ready"] == 25
    artisan(lab, "app1", "queue:clear", "redis", f"--queue={QUEUE}", "--force")


def facts_source(inv: Path) -> str:
    loaded = load(str(inv), None)
    settings = host_settings(loaded.hosts["app1"], loaded.role_keys)
    with HostSession("app1", settings.connection) as session:
        facts = session.facts(facts_request(worker_of(settings)))
    return str(facts["app"]["laravel"]["source"])


def test_a_no_op_run_pays_no_php_start_up_until_what_the_config_depends_on_changes(
    lab: Lab, tmp_path: Path
) -> None:
    inv = inventory(tmp_path, lab, [program("cached", ["cached-q"], processes=1)])
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    assert facts_source(inv) == "cache"
    again = run_json("setup-worker", "-i", str(inv), "--host", "app1")
    assert again["summary"]["changed"] == 0
    assert facts_source(inv) == "cache"
    # A new config file: the app's answer may differ, so it is asked again, once.
    lab.ssh("app1", "echo '<?php return [];' > /var/www/app/config/extra.php")
    try:
        assert facts_source(inv) == "php"
        assert facts_source(inv) == "cache"
    finally:
        lab.ssh("app1", "rm -f /var/www/app/config/extra.php")
