"""setup-scheduler on both lab flavours through the real CLI: the demo app's heartbeat task,
scheduled every minute, proves the schedule runs; status, metrics, verify and restart-queue
see it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Lab
from tests.integration.test_setup_worker import queueops, run_json, states

pytestmark = pytest.mark.lab

CRON = "/etc/cron.d/laravel-scheduler"
PROGRAM = {
    "app1": "/etc/supervisor/conf.d/laravel-scheduler.conf",
    "app2": "/etc/supervisord.d/laravel-scheduler.ini",
}
HEARTBEAT = "/var/www/app/storage/logs/heartbeat.log"
CRON_PROCESS = {"app1": "cron", "app2": "crond"}
# cron runs the schedule at the start of each minute; the app then boots and writes.
MINUTE = 90


def inventory(tmp: Path, lab: Lab, hosts: tuple[str, ...], **variables: Any) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    members = {h: {"ansible_host": lab.address(h)} for h in hosts}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"scheduler": {"hosts": members}}}})
    )
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(lab.paths.connection_vars()))
    if variables:
        (inv / "group_vars" / "scheduler.yml").write_text(yaml.safe_dump(variables))
    return inv


def heartbeats(lab: Lab, host: str) -> list[str]:
    return lab.ssh(host, f"cat {HEARTBEAT} 2>/dev/null", check=False).stdout.splitlines()


def wait_heartbeat(lab: Lab, host: str, after: int, timeout: float = MINUTE) -> list[str]:
    """The heartbeat lines once one more than `after` was written by the scheduler."""
    deadline = time.monotonic() + timeout
    while True:
        lines = heartbeats(lab, host)
        if len(lines) > after or time.monotonic() > deadline:
            assert len(lines) > after, f"{host}: no heartbeat within {timeout} s: {lines}"
            return lines
        time.sleep(1)


def cron_pids(lab: Lab, host: str) -> str:
    return lab.ssh(host, f"pgrep -x {CRON_PROCESS[host]}", check=False).stdout.strip()


def test_cron_mode_runs_the_schedule_every_minute_on_both_flavours(
    fresh_lab: Lab, tmp_path: Path
) -> None:
    invs = {h: inventory(tmp_path / h, fresh_lab, (h,)) for h in ("app1", "app2")}
    for host, inv in invs.items():
        assert not cron_pids(fresh_lab, host), "the lab starts without cron"
        check = queueops("setup-scheduler", "-i", str(inv), "--all", "--check", "--diff")
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"+++ {CRON} (queueops)" in check.stdout
        assert f"start {CRON_PROCESS[host]}" in check.stdout
        assert fresh_lab.ssh(host, f"test -e {CRON}", check=False).returncode != 0
        doc = run_json("setup-scheduler", "-i", str(inv), "--all")
        items = [(i["action"], i["item"]) for i in doc["hosts"][host]["items"]]
        assert items == [("start", CRON_PROCESS[host]), ("create", CRON)], items
        assert cron_pids(fresh_lab, host)
        entry = fresh_lab.ssh(host, f"stat -c '%U %a' {CRON} && cat {CRON}").stdout
        assert entry.startswith("root 644\n# Managed by queueops")
        assert f"* * * * * {fresh_lab.web_user(host)} cd /var/www/app && php artisan" in entry
    for host, inv in invs.items():
        lines = wait_heartbeat(fresh_lab, host, 0)
        assert f"heartbeat from {host}" in lines[-1]
        owner = fresh_lab.ssh(host, f"stat -c %U {HEARTBEAT}").stdout.strip()
        assert owner == fresh_lab.web_user(host), "the schedule runs as the app's user"
        again = run_json("setup-scheduler", "-i", str(inv), "--all")
        assert again["summary"] == {"ok": 1, "changed": 0, "failed": 0}, again

    status = run_json("status", "-i", str(invs["app1"]), "--all")
    seen = status["hosts"]["app1"]["scheduler"]
    assert seen["mode"] == "cron" and seen["entry"] and seen["running"]
    assert seen["now"] - seen["last_run"] < 90
    text = queueops("status", "-i", str(invs["app1"]), "--all").stdout
    assert "scheduler" in text.splitlines()[0] and "cron, last run" in text
    metrics = queueops("metrics", "-i", str(invs["app1"]), "--all").stdout
    assert 'queueops_scheduler_up{host="app1"} 1' in metrics
    assert 'queueops_scheduler_last_run_timestamp_seconds{host="app1"}' in metrics
    verified = run_json("verify", "-i", str(invs["app1"]), "--all")
    checks = {c["name"]: c for c in verified["hosts"]["app1"]["checks"]}
    assert checks["scheduler_running"]["outcome"] == "passed", checks
    tidy = checks["schedule_keeps_the_queue_tidy"]
    assert tidy["outcome"] == "passed" and tidy["warning"] == "", tidy

    # An app that stops pruning failed jobs is told so, without failing the host.
    kernel = "/var/www/app/app/Console/Kernel.php"
    fresh_lab.ssh("app1", f"sed -i /queue:prune-failed/d {kernel}")
    warned = run_json("verify", "-i", str(invs["app1"]), "--all")
    tidy = {c["name"]: c for c in warned["hosts"]["app1"]["checks"]}[
        "schedule_keeps_the_queue_tidy"
    ]
    assert tidy["outcome"] == "passed" and "queue:prune-failed" in tidy["warning"], tidy
    assert warned["hosts"]["app1"]["status"] == "passed"

    # cron stopped: status is red, verify fails, setup-scheduler starts it again.
    fresh_lab.ssh("app1", "service cron stop")
    red = run_json("status", "-i", str(invs["app1"]), "--all", expect=1)
    assert any("cron is not running" in r for r in red["hosts"]["app1"]["reasons"]), red
    failed = run_json("verify", "-i", str(invs["app1"]), "--all", expect=1)
    check = {c["name"]: c for c in failed["hosts"]["app1"]["checks"]}["scheduler_running"]
    assert check["outcome"] == "failed" and "cron is not running" in check["detail"]
    fixed = run_json("setup-scheduler", "-i", str(invs["app1"]), "--all")
    assert [(i["action"], i["item"]) for i in fixed["hosts"]["app1"]["items"]] == [
        ("start", "cron")
    ]


def test_work_mode_replaces_the_cron_entry_and_back(lab: Lab, tmp_path: Path) -> None:
    host = "app2"
    cron = inventory(tmp_path / "cron", lab, (host,))
    work = inventory(tmp_path / "work", lab, (host,), scheduler_mode="work")
    run_json("setup-scheduler", "-i", str(cron), "--all")
    doc = run_json("setup-scheduler", "-i", str(work), "--all")
    items = [(i["action"], i["item"]) for i in doc["hosts"][host]["items"]]
    assert ("create", PROGRAM[host]) in items and ("delete", CRON) in items, items
    assert lab.ssh(host, f"test -e {CRON}", check=False).returncode != 0
    state, pid = states(lab, host)["laravel-scheduler"]
    assert state == "RUNNING", state
    before = len(heartbeats(lab, host))
    wait_heartbeat(lab, host, before)
    again = run_json("setup-scheduler", "-i", str(work), "--all")
    assert again["summary"]["changed"] == 0
    assert states(lab, host)["laravel-scheduler"] == ("RUNNING", pid)
    back = run_json("setup-scheduler", "-i", str(cron), "--all")
    items = [(i["action"], i["item"]) for i in back["hosts"][host]["items"]]
    assert ("create", CRON) in items and ("delete", PROGRAM[host]) in items, items
    assert "laravel-scheduler" not in states(lab, host)


def test_two_scheduler_hosts_on_a_file_cache_are_refused_before_anything_is_written(
    lab: Lab, tmp_path: Path
) -> None:
    inv = inventory(tmp_path, lab, ("app1", "app2"), scheduler_name="twice")
    result = queueops("setup-scheduler", "-i", str(inv), "--group", "scheduler", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    import json

    doc = json.loads(result.stdout)
    for host in ("app1", "app2"):
        error = doc["hosts"][host]["error"]
        assert "app1, app2" in error and "'file'" in error and "not shared" in error, error
        assert lab.ssh(host, "test -e /etc/cron.d/twice", check=False).returncode != 0


def test_a_scheduler_host_without_the_app_is_refused(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, ("redis1",))
    doc = run_json("setup-scheduler", "-i", str(inv), "--all", expect=1)
    assert "no app at /var/www/app" in doc["hosts"]["redis1"]["error"]
    assert lab.ssh("redis1", f"test -e {CRON}", check=False).returncode != 0


def test_restart_queue_interrupts_the_schedule_where_laravel_has_it(
    lab: Lab, tmp_path: Path
) -> None:
    """Laravel 8 (the lab's) has no schedule:interrupt: restart-queue says so and succeeds."""
    inv = inventory(tmp_path, lab, ("app1",))
    doc = run_json("restart-queue", "-i", str(inv), "--all")
    (item,) = doc["hosts"]["app1"]["items"]
    assert item["item"] == "scheduler" and item["status"] == "ok", item
    assert item["action"] == "skipped schedule:interrupt:"
    assert "has no schedule:interrupt" in item["detail"]
