"""Incident runbooks on the lab, through the real CLI, counted by job id."""

from __future__ import annotations

import collections
import getpass
import json
import os
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.lab.fleet import repo_root
from queueops.shell import cmd
from tests.conftest import HorizonContract, Lab, on_each_database
from tests.integration.test_horizon import wait_workers
from tests.integration.test_setup_worker import (
    INVOKE,
    another_runs_lock,
    artisan,
    processed_records,
    queueops,
    run_json,
    states,
)

pytestmark = pytest.mark.lab

HOSTS = ("app1", "app2")
# rb-sig: a program without --max-time (paused by SIGUSR2); rb-stop: with --max-time
# (stopped gracefully); rb-hz: Horizon on app1.
PROGRAMS = [
    {"name": "rb-sig", "queues": ["rb-sig"], "processes": 2, "sleep": 1, "timeout": 30,
     "max_time": 0},
    {"name": "rb-stop", "queues": ["rb-stop"], "processes": 1, "sleep": 1, "timeout": 30,
     "max_time": 3600},
]  # fmt: skip
HORIZON = {
    "production": {
        "supervisor-1": {"connection": "redis", "queue": ["rb-hz"], "maxProcesses": 2,
                         "timeout": 30},
    }
}  # fmt: skip


@pytest.fixture(autouse=True)
def _local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runbooks' local audit log and export files go to the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def inventory(tmp: Path, lab: Lab) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    hosts = {h: {"ansible_host": lab.address(h)} for h in HOSTS}
    groups = {"workers": {"hosts": hosts}, "horizon": {"hosts": {"app1": None}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(lab.paths.connection_vars()))
    (inv / "group_vars" / "workers.yml").write_text(
        yaml.safe_dump({"queue_worker_app_path": "/var/www/app", "queue_worker_programs": PROGRAMS})
    )
    (inv / "group_vars" / "horizon.yml").write_text(
        yaml.safe_dump({"horizon_app_path": "/var/www/app", "horizon_environments": HORIZON})
    )
    return inv


def ready(lab: Lab, tmp: Path) -> Path:
    """Workers and Horizon converged and taking jobs (a previous test may have paused them)."""
    inv = inventory(tmp, lab)
    run_json("setup-worker", "-i", str(inv), "--group", "workers")
    run_json("setup-horizon", "-i", str(inv), "--group", "horizon")
    run_json("continue", "-i", str(inv), "--all")
    return inv


def dispatch(lab: Lab, queue: str, count: int, *extra: str, host: str = "app1") -> list[str]:
    return artisan(
        lab, host, "demo:dispatch", f"--count={count}", f"--queue={queue}", *extra
    ).split()


def processed(lab: Lab) -> collections.Counter[str]:
    """How many times each job id ran, on any app host."""
    return collections.Counter(r["id"] for r in processed_records(lab))


def wait_all(lab: Lab, ids: list[str], timeout: float = 60) -> collections.Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        runs = processed(lab)
        if all(runs[i] for i in ids) or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def exactly_once(runs: collections.Counter[str], ids: list[str]) -> None:
    missing = [i for i in ids if runs[i] == 0]
    twice = [i for i in ids if runs[i] > 1]
    assert not missing and not twice, f"{len(missing)} never ran, {len(twice)} ran twice"


def horizon_status(lab: Lab) -> str:
    """horizon:status exits 1 while paused: read its output, whatever the exit code."""
    command = "cd /var/www/app && runuser -u www-data -- php artisan horizon:status"
    return lab.ssh("app1", command, check=False).stdout


def redis_cli(lab: Lab, *args: str) -> str:
    password = lab.paths.redis_password.read_text().strip()
    command = cmd("redis-cli", "-h", lab.address("redis1"), *args)
    return lab.ssh("redis1", f"REDISCLI_AUTH={password} {command}").stdout.strip()


def queue_length(lab: Lab, key: str) -> int:
    return int(redis_cli(lab, "LLEN", key))


def wait_reserved(lab: Lab, *queues: str, timeout: float = 15) -> None:
    """Until a worker has taken a job of each queue (it waits up to its `sleep` for one)."""
    deadline = time.monotonic() + timeout
    for queue in queues:
        key = f"queueops_demo_database_queues:{queue}:reserved"
        while redis_cli(lab, "ZCARD", key) == "0":
            assert time.monotonic() < deadline, f"no worker took the job of {queue}"
            time.sleep(0.1)


def status_of(inv: Path) -> dict[str, Any]:
    result = queueops("status", "-i", str(inv), "--all", "--json")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    hosts: dict[str, Any] = json.loads(result.stdout)["hosts"]
    return hosts


def test_pause_takes_no_job_until_continue_and_a_running_job_finishes_once(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = ready(lab, tmp_path)
    slow = dispatch(lab, "rb-sig", 1, "--seconds=4") + dispatch(lab, "rb-hz", 1, "--seconds=4")
    wait_reserved(lab, "rb-sig", "rb-hz")  # both slow jobs are running now
    pids = {h: states(lab, h) for h in HOSTS}

    plan = run_json("pause", "-i", str(inv), "--all", "--check")
    assert plan["check"] and plan["summary"]["changed"] == 2
    doc = run_json("pause", "-i", str(inv), "--all")
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
    actions = {(i["action"], i["item"]) for i in doc["hosts"]["app1"]["items"]}
    assert actions == {
        ("SIGUSR2", "program rb-sig"),
        ("stop", "program rb-stop"),
        ("horizon:pause", "horizon"),
    }
    for host in HOSTS:
        now = states(lab, host)
        # Paused by signal: the same processes, alive; stopped: every process STOPPED.
        for name in ("rb-sig:rb-sig_00", "rb-sig:rb-sig_01"):
            assert now[name] == pids[host][name], (host, name)
        assert now["rb-stop:rb-stop_00"][0] == "STOPPED"
    assert "Horizon is paused." in horizon_status(lab)
    # Proven by its effect, whatever horizon:pause printed: the master says it is paused.
    horizon = next(i for i in doc["hosts"]["app1"]["items"] if i["item"] == "horizon")
    assert horizon["detail"] == f"master {pids['app1']['horizon'][1]} paused"

    # queueops recorded its pause: status says paused (yellow) and who paused when, not red.
    operator = getpass.getuser()
    for host, seen in status_of(inv).items():
        pause = seen["pause"]
        assert pause["operator"] == operator and pause["task"] == "pause", pause
        paused_by = f"paused by {operator} at {pause['since']}"
        assert f"yellow: program rb-stop {paused_by} (1/1 stopped)" in seen["reasons"]
        assert f"yellow: program rb-sig {paused_by} (SIGUSR2)" in seen["reasons"]
        assert not [r for r in seen["reasons"] if r.startswith("red: program")], seen
        expected = {"rb-sig": "signal", "rb-stop": "stop"}
        if host == "app1":
            expected["horizon"] = "horizon"
            assert seen["horizon"]["state"] == "paused"
            assert f"yellow: Horizon {paused_by} (invoke continue)" in seen["reasons"]
        assert pause["programs"] == expected

    ids = dispatch(lab, "rb-sig", 100) + dispatch(lab, "rb-stop", 100, host="app2")
    ids += dispatch(lab, "rb-hz", 100)
    time.sleep(4)
    runs = processed(lab)
    assert [i for i in ids if runs[i]] == [], "jobs ran while paused"
    exactly_once(runs, slow)

    doc = run_json("continue", "-i", str(inv), "--all")
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
    exactly_once(wait_all(lab, ids + slow), ids + slow)
    assert "Horizon is running." in horizon_status(lab)
    horizon = next(i for i in doc["hosts"]["app1"]["items"] if i["item"] == "horizon")
    assert horizon["detail"] == f"master {pids['app1']['horizon'][1]} running"
    for host, seen in status_of(inv).items():
        assert seen["pause"] is None and not [r for r in seen["reasons"] if "paused" in r]
        assert lab.ssh(host, "test -e /var/lib/queueops/pause.json", check=False).returncode

    for host in HOSTS:
        lines = lab.ssh(host, "cat /var/log/queueops/audit.log").stdout.splitlines()
        tasks = [json.loads(line)["task"] for line in lines]
        assert tasks[-2:] == ["pause", "continue"]
        last = json.loads(lines[-1])
        assert last["result"] == "ok" and last["operator"] and last["time"]


def test_clear_exports_then_deletes_exactly_that_and_restore_brings_it_back(
    lab: Lab, tmp_path: Path
) -> None:
    """2,000 jobs across queues; jobs dispatched while clear runs survive it."""
    inv = ready(lab, tmp_path)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    run_json("pause", "-i", str(inv), "--all")
    queued = dispatch(lab, "rb-sig", 1500)
    others = dispatch(lab, "rb-stop", 200) + dispatch(lab, "rb-hz", 300, host="app2")

    # 10 of them delayed (due in 20 s) and 5 reserved by a worker that is gone.
    move = (
        "for i = 1, ARGV[1] do "
        "redis.call('zadd', KEYS[2], ARGV[2], redis.call('rpop', KEYS[1])) end"
    )
    key = "queueops_demo_database_queues:rb-sig"
    due = int(time.time())
    redis_cli(lab, "EVAL", move, "2", key, f"{key}:delayed", "10", str(due + 20))
    redis_cli(lab, "EVAL", move, "2", key, f"{key}:reserved", "5", str(due + 90))

    plan = run_json("clear", "-i", str(inv), "--all", "--queue", "rb-sig", "--check")
    detail = plan["hosts"]["app1"]["items"][0]["action"]
    assert "1485 ready, 10 delayed, 5 reserved" in detail
    assert queue_length(lab, "queueops_demo_database_queues:rb-sig") == 1485

    # Without a terminal and without --yes: refused, nothing touched.
    refused = queueops("clear", "-i", str(inv), "--all", "--queue", "rb-sig")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert queue_length(lab, "queueops_demo_database_queues:rb-sig") == 1485

    during: list[str] = []
    done = threading.Event()

    def keep_dispatching() -> None:
        while not done.is_set() and len(during) < 500:
            during.extend(dispatch(lab, "rb-sig", 50, host="app2"))

    thread = threading.Thread(target=keep_dispatching)
    thread.start()
    start = time.monotonic()
    # Both hosts share redis1: each job must still be deleted, and exported as deleted, once.
    result = subprocess.run(
        [INVOKE, "clear", "-i", str(inv), "--all", "--queue", "rb-sig", "--yes", "--json"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env={**os.environ, **env},
    )
    took = time.monotonic() - start
    done.set()
    thread.join()
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"clear: {len(queued)} queued + {len(during)} dispatched meanwhile, {took:.2f} s")
    exports = list((tmp_path / "state" / "queueops" / "exports").glob("clear-rb-sig-*.jsonl"))
    assert len(exports) == 1 and str(exports[0]) in result.stderr
    records = [json.loads(line) for line in exports[0].read_text().splitlines()]
    removed = [r for r in records if r["removed"]]
    assert all(r["queue"] == "rb-sig" for r in removed)
    states_of = collections.Counter(r["state"] for r in removed)
    assert states_of["delayed"] == 10 and states_of["reserved"] == 5, states_of
    assert redis_cli(lab, "ZCARD", f"{key}:delayed") == "0"
    assert redis_cli(lab, "ZCARD", f"{key}:reserved") == "0"
    exported_ids = [next(i for i in queued + during if i in r["payload"]) for r in removed]
    assert len(exported_ids) == len(set(exported_ids))
    assert set(queued) <= set(exported_ids)
    survivors = [i for i in during if i not in exported_ids]
    left = queue_length(lab, "queueops_demo_database_queues:rb-sig")
    assert left == len(survivors), (left, len(survivors))
    print(f"clear: {len(removed)} exported and deleted, {len(survivors)} dispatched later kept")

    password = lab.paths.redis_password.read_text().strip()
    local_audit = (tmp_path / "state" / "queueops" / "audit.log").read_text()
    assert '"task": "clear"' in local_audit
    for text in (result.stdout, result.stderr, exports[0].read_text(), local_audit):
        assert password not in text
    for host in HOSTS:
        assert password not in lab.ssh(host, "cat /var/log/queueops/audit.log").stdout

    run_json("continue", "-i", str(inv), "--all")
    all_ids = queued + others + during
    # Cleared jobs do not run until restored.
    runs = wait_all(lab, survivors + others + [i for i in all_ids if i not in exported_ids])
    assert [i for i in exported_ids if runs[i]] == []

    restore = subprocess.run(
        [INVOKE, "restore-jobs", str(exports[0]), "-i", str(inv), "--json"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env={**os.environ, **env},
    )
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert len(all_ids) >= 2000
    exactly_once(wait_all(lab, all_ids), all_ids)
    again = queueops("restore-jobs", str(exports[0]), "-i", str(inv))
    assert again.returncode == 2 and "already restored" in again.stderr


SIG_KEY = "queueops_demo_database_queues:rb-sig"
STOP_KEY = "queueops_demo_database_queues:rb-stop"


def cleared(tmp: Path, inv: Path, host: str, queue: str) -> tuple[Path, dict[str, Any]]:
    """clear QUEUE through HOST alone: its export file and the run's report."""
    doc = run_json("clear", "-i", str(inv), "--host", host, "--queue", queue, "--yes")
    exports = sorted((tmp / "state" / "queueops" / "exports").glob(f"clear-{queue}-*.jsonl"))
    return exports[-1], doc


def removed(export: Path) -> int:
    return sum(1 for line in export.read_text().splitlines() if json.loads(line)["removed"])


def warnings(doc: dict[str, Any], host: str) -> list[str]:
    return [i["detail"] for i in doc["hosts"][host]["items"] if i["action"] == "warning:"]


def test_clear_and_restore_are_done_when_the_hosts_audit_log_cannot_be_written(
    lab: Lab, tmp_path: Path
) -> None:
    inv = ready(lab, tmp_path)
    run_json("pause", "-i", str(inv), "--all")
    ids = dispatch(lab, "rb-sig", 50)
    log = "/var/log/queueops/audit.log"
    # The log cannot be written (as on a full /var/log): a directory where the file goes.
    lab.ssh("app1", f"mv {log} {log}.away && mkdir {log}")
    try:
        export, doc = cleared(tmp_path, inv, "app1", "rb-sig")
        assert doc["hosts"]["app1"]["status"] == "changed", doc
        assert ["audit line was not written" in w for w in warnings(doc, "app1")] == [True], doc
        assert removed(export) == len(ids) and queue_length(lab, SIG_KEY) == 0
        doc = run_json("restore-jobs", str(export), "-i", str(inv))
        assert doc["hosts"]["app1"]["status"] == "changed", doc
        assert ["audit line was not written" in w for w in warnings(doc, "app1")] == [True], doc
        assert queue_length(lab, SIG_KEY) == len(ids)
    finally:
        lab.ssh("app1", f"rmdir {log} && mv {log}.away {log}")
    run_json("continue", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, ids), ids)


def test_a_restore_a_host_failed_is_finished_by_the_rerun_on_that_host_alone(
    lab: Lab, tmp_path: Path
) -> None:
    inv = ready(lab, tmp_path)
    run_json("pause", "-i", str(inv), "--all")
    sig = dispatch(lab, "rb-sig", 40)
    stop = dispatch(lab, "rb-stop", 30, host="app2")
    # One export naming both hosts (each clear's jobs were deleted by the host it ran on).
    one, _ = cleared(tmp_path, inv, "app1", "rb-sig")
    two, _ = cleared(tmp_path, inv, "app2", "rb-stop")
    both = tmp_path / "both.jsonl"
    both.write_text(one.read_text() + two.read_text())
    assert (removed(both), queue_length(lab, SIG_KEY), queue_length(lab, STOP_KEY)) == (70, 0, 0)

    with another_runs_lock(lab, "app2"):
        doc = run_json("restore-jobs", str(both), "-i", str(inv), expect=1)
    assert doc["hosts"]["app1"]["status"] == "changed", doc
    assert "locked by another queueops run" in doc["hosts"]["app2"]["error"], doc
    assert (queue_length(lab, SIG_KEY), queue_length(lab, STOP_KEY)) == (40, 0)

    doc = run_json("restore-jobs", str(both), "-i", str(inv))
    assert list(doc["hosts"]) == ["app2"], doc  # app1's queue is not pushed again
    assert (queue_length(lab, SIG_KEY), queue_length(lab, STOP_KEY)) == (40, 30)
    run_json("continue", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, sig + stop), sig + stop)


def test_restoring_the_same_export_twice_pushes_each_job_once(lab: Lab, tmp_path: Path) -> None:
    inv = ready(lab, tmp_path)
    run_json("pause", "-i", str(inv), "--all")
    ids = dispatch(lab, "rb-sig", 30)
    export, _ = cleared(tmp_path, inv, "app1", "rb-sig")
    run_json("restore-jobs", str(export), "-i", str(inv))
    assert queue_length(lab, SIG_KEY) == 30

    again = queueops("restore-jobs", str(export), "-i", str(inv))
    assert again.returncode == 2 and "already restored" in again.stderr, again.stderr
    # FILE.restored lost (a crash before it was written, or another operator's copy of the
    # export): Redis still knows these jobs were pushed back.
    record = export.with_name(export.name + ".restored")
    mode = oct(record.stat().st_mode & 0o777)
    record.unlink()
    doc = run_json("restore-jobs", str(export), "-i", str(inv))
    assert queue_length(lab, SIG_KEY) == 30
    actions = [i["action"] for i in doc["hosts"]["app1"]["items"]]
    assert actions == ["already pushed back to"], doc
    private = [export, tmp_path / "state" / "queueops" / "audit.log"]
    assert [mode, *(oct(p.stat().st_mode & 0o777) for p in private)] == ["0o600"] * 3
    run_json("continue", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, ids), ids)


def test_ctrl_c_during_clear_still_records_what_was_deleted(lab: Lab, tmp_path: Path) -> None:
    """Ctrl-C while app2 is still reading (its php takes 15 s to start) after app1 deleted
    the queue's jobs: the export says which jobs app1 removed, and restore-jobs takes it."""
    inv = ready(lab, tmp_path)
    run_json("pause", "-i", str(inv), "--all")
    ids = dispatch(lab, "rb-sig", 40)
    slow = "/usr/local/bin/queueops-test-slowphp"
    script = '#!/bin/sh\nsleep 15\nexec php "$@"\n'
    lab.ssh("app2", f"printf %s {cmd(script)} > {slow} && chmod 755 {slow}")
    (inv / "host_vars").mkdir(exist_ok=True)
    (inv / "host_vars" / "app2.yml").write_text(yaml.safe_dump({"queue_worker_php": slow}))
    try:
        clear = subprocess.Popen(
            [INVOKE, "clear", "-i", str(inv), "--all", "--queue", "rb-sig", "--yes", "--json"],
            cwd=repo_root(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while queue_length(lab, SIG_KEY):  # app1's delete answered
            assert time.monotonic() < deadline, "app1 did not delete the jobs"
            time.sleep(0.2)
        time.sleep(1)
        clear.send_signal(signal.SIGINT)
        out, err = clear.communicate(timeout=60)
    finally:
        (inv / "host_vars" / "app2.yml").unlink()
        lab.ssh("app2", f"rm -f {slow}")
    assert clear.returncode != 0, out + err
    [export] = (tmp_path / "state" / "queueops" / "exports").glob("clear-rb-sig-*.jsonl")
    assert removed(export) == len(ids)
    assert "interrupted: what was deleted is recorded in" in err, err
    run_json("restore-jobs", str(export), "-i", str(inv))
    assert queue_length(lab, SIG_KEY) == len(ids)
    run_json("continue", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, ids), ids)


def test_terminate_waits_for_a_running_job_and_a_second_runbook_is_refused(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = ready(lab, tmp_path)
    master = states(lab, "app1")["horizon"][1]
    slow = dispatch(lab, "rb-hz", 1, "--seconds=5")
    wait_reserved(lab, "rb-hz")
    terminate = subprocess.Popen(
        [INVOKE, "terminate", "-i", str(inv), "--host", "app1", "--yes", "--json"],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    time.sleep(2)
    second = queueops("pause", "-i", str(inv), "--host", "app1", "--json")
    out, err = terminate.communicate(timeout=120)
    assert terminate.returncode == 0, out + err
    assert second.returncode == 1, second.stdout + second.stderr
    error = json.loads(second.stdout)["hosts"]["app1"]["error"]
    assert "locked by another queueops run: terminate by" in error, error
    detail = json.loads(out)["hosts"]["app1"]["items"][0]["detail"]
    new = states(lab, "app1")["horizon"]
    assert new[0] == "RUNNING" and new[1] != master and detail == f"master pid {master} -> {new[1]}"
    exactly_once(wait_all(lab, slow), slow)
    assert "Horizon is running." in horizon_status(lab)


def test_pause_supervisor_acts_on_one_horizon_supervisor(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = ready(lab, tmp_path)
    doc = run_json("pause-supervisor", "supervisor-1", "-i", str(inv), "--all")
    assert doc["hosts"]["app2"]["status"] == "ok"  # no Horizon there: skipped
    items = doc["hosts"]["app1"]["items"]
    assert [i["action"] for i in items] == ["horizon:pause-supervisor supervisor-1"]
    assert items[0]["detail"] == "supervisor supervisor-1 paused"
    ids = dispatch(lab, "rb-hz", 20)
    time.sleep(4)
    assert not any(processed(lab)[i] for i in ids)
    # The master still runs (horizon:status says running); its supervisor is paused, and
    # queueops recorded by whom.
    seen = status_of(inv)["app1"]
    assert seen["horizon"]["state"] == "running"
    assert seen["pause"]["supervisors"] == ["supervisor-1"]
    paused_by = f"paused by {getpass.getuser()} at {seen['pause']['since']}"
    assert f"yellow: Horizon supervisor supervisor-1 is {paused_by}" in seen["reasons"]
    run_json("continue-supervisor", "supervisor-1", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, ids), ids)
    assert status_of(inv)["app1"]["pause"] is None


def test_pause_with_horizon_down_still_pauses_the_workers_and_says_so(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = ready(lab, tmp_path)
    lab.ssh("app1", "supervisorctl stop horizon")
    try:
        # Every host: app2 runs the same workers on the same Redis.
        doc = run_json("pause", "-i", str(inv), "--all")
        app1 = doc["hosts"]["app1"]
        assert app1["status"] == "changed" and app1["changed"] == 2
        actions = {i["item"]: (i["action"], i["status"]) for i in app1["items"]}
        assert actions["program rb-sig"] == ("SIGUSR2", "changed")
        assert actions["program rb-stop"] == ("stop", "changed")
        assert actions["horizon"] == ("skipped:", "ok")
        assert (
            "is not running" in next(i for i in app1["items"] if i["item"] == "horizon")["detail"]
        )
        ids = dispatch(lab, "rb-sig", 10)
        time.sleep(3)
        assert not any(processed(lab)[i] for i in ids)
    finally:
        lab.ssh("app1", "supervisorctl start horizon")
        run_json("continue", "-i", str(inv), "--all")
    exactly_once(wait_all(lab, ids), ids)


def test_restart_queue_proves_horizon_came_back_beside_the_workers(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = ready(lab, tmp_path)
    before = {h: states(lab, h) for h in HOSTS}
    slow = dispatch(lab, "rb-hz", 1, "--seconds=4")
    wait_reserved(lab, "rb-hz")  # the slow job runs on the master's worker now
    doc = run_json("restart-queue", "-i", str(inv), "--all")
    ended = time.time()
    after = states(lab, "app1")["horizon"]
    items = {i["item"]: i for i in doc["hosts"]["app1"]["items"]}
    assert set(items) == {"program rb-sig", "program rb-stop", "program horizon"}, items
    old = before["app1"]["horizon"][1]
    assert after[0] == "RUNNING" and after[1] != old
    assert (items["program horizon"]["action"], items["program horizon"]["detail"]) == (
        "restarted",
        f"master pid {old} -> {after[1]}, Horizon running",
    )
    assert {i["item"] for i in doc["hosts"]["app2"]["items"]} == {"program rb-sig",
                                                                  "program rb-stop"}  # fmt: skip
    # The old master let its job finish before it went: once, and before restart-queue ended.
    exactly_once(wait_all(lab, slow), slow)
    [record] = [r for r in processed_records(lab) if r["id"] == slow[0]]
    assert datetime.fromisoformat(str(record["finished_at"])).timestamp() <= ended
    assert status_of(inv)["app1"]["horizon"]["state"] == "running"

    # While queueops holds a pause, a restart would resume it: refused, nothing restarted.
    run_json("pause", "-i", str(inv), "--host", "app1")
    held = states(lab, "app1")
    refused = run_json("restart-queue", "-i", str(inv), "--host", "app1", expect=1)
    error = refused["hosts"]["app1"]["error"]
    assert f"paused by {getpass.getuser()} at " in error and "run invoke continue first" in error
    assert states(lab, "app1") == held
    run_json("continue", "-i", str(inv), "--host", "app1")


def test_a_host_without_horizon_pauses_in_one_round_trip_that_refuses_what_facts_did(
    lab: Lab, tmp_path: Path
) -> None:
    inv = ready(lab, tmp_path)
    try:
        doc = run_json("pause", "-i", str(inv), "--host", "app2")
        assert doc["hosts"]["app2"]["status"] == "changed", doc
        # No facts first: the agent found supervisord and took the lock in the same program.
        assert doc["hosts"]["app2"]["commands"] == 1, doc
        assert states(lab, "app2")["rb-stop:rb-stop_00"][0] == "STOPPED"

        with another_runs_lock(lab, "app2"):
            for extra in ((), ("--check",)):
                refused = run_json("continue", "-i", str(inv), "--host", "app2", *extra, expect=1)
                error = refused["hosts"]["app2"]["error"]
                assert "locked by another queueops run: clear by alice" in error, (extra, error)

        lab.ssh("app2", "supervisorctl shutdown")
        down = run_json("continue", "-i", str(inv), "--host", "app2", expect=1)
        assert down["hosts"]["app2"]["error"] == "supervisord is not running: run setup-worker"
    finally:
        run_json("setup-worker", "-i", str(inv), "--host", "app2")
        run_json("continue", "-i", str(inv), "--host", "app2")
    assert states(lab, "app2")["rb-stop:rb-stop_00"][0] == "RUNNING"


def env_connection(lab: Lab, host: str) -> str:
    return lab.ssh(host, "grep ^QUEUE_CONNECTION= /var/www/app/.env").stdout.strip()


@on_each_database
def test_fallback_to_database_while_redis_is_down_and_back(lab: Lab, tmp_path: Path) -> None:
    inv = ready(lab, tmp_path)
    # Preflight: without a jobs table the fallback is refused and nothing changes.
    lab.sql("ALTER TABLE jobs RENAME TO jobs_away")
    try:
        refused = queueops("fallback-to-database", "-i", str(inv), "--host", "app2", "--yes")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "the jobs table is missing" in refused.stdout
        assert "queue:table" in refused.stdout
        assert env_connection(lab, "app2") == "QUEUE_CONNECTION=redis"
    finally:
        lab.sql("ALTER TABLE jobs_away RENAME TO jobs")

    # Jobs left in Redis when it goes down must not be stranded.
    run_json("pause", "-i", str(inv), "--all")
    stranded = dispatch(lab, "rb-sig", 200) + dispatch(lab, "rb-hz", 100)
    lab.ssh("redis1", "service redis-server stop")
    try:
        plan = run_json("fallback-to-database", "-i", str(inv), "--all", "--check")
        planned = [(i["action"], i["item"]) for i in plan["hosts"]["app1"]["items"]]
        assert ("stop", "program horizon") in planned, planned
        assert ("create", "/etc/supervisor/conf.d/horizon-fallback.conf") in planned, planned
        assert env_connection(lab, "app1") == "QUEUE_CONNECTION=redis"
        start = time.monotonic()
        doc = run_json("fallback-to-database", "-i", str(inv), "--all", "--yes")
        print(f"fallback-to-database on 2 hosts: {time.monotonic() - start:.1f} s")
        assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
        actions = [i["action"] for i in doc["hosts"]["app1"]["items"]]
        assert "stopped Horizon" in actions and "not drained:" in actions, actions
        for host in HOSTS:
            assert env_connection(lab, host) == "QUEUE_CONNECTION=database"
            state = json.loads(lab.ssh(host, "cat /var/lib/queueops/fallback.json").stdout)
            assert state["active"] and state["from"] == "redis"
        now = states(lab, "app1")
        assert now["horizon"][0] == "STOPPED"
        assert now["horizon-fallback:horizon-fallback_00"][0] == "RUNNING"

        # New dispatches go to the database and are processed, Horizon's queue too.
        on_db = dispatch(lab, "rb-sig", 150) + dispatch(lab, "rb-stop", 50, host="app2")
        on_db += dispatch(lab, "rb-hz", 100)
        exactly_once(wait_all(lab, on_db), on_db)

        # Redis still down: restore-redis refuses and changes nothing.
        refused = queueops("restore-redis", "-i", str(inv), "--all", "--yes")
        assert refused.returncode == 1 and "cannot reach Redis" in refused.stdout
        assert env_connection(lab, "app1") == "QUEUE_CONNECTION=database"
    finally:
        lab.ssh("redis1", "service redis-server start")

    late = dispatch(lab, "rb-sig", 100)  # on the database while restore-redis runs
    start = time.monotonic()
    doc = run_json("restore-redis", "-i", str(inv), "--all", "--yes")
    print(f"restore-redis on 2 hosts: {time.monotonic() - start:.1f} s")
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
    actions = [i["action"] for i in doc["hosts"]["app1"]["items"]]
    assert "started Horizon" in actions and "drained" in actions, actions
    all_ids = stranded + on_db + late
    exactly_once(wait_all(lab, all_ids, timeout=90), all_ids)
    assert lab.sql("SELECT count(*) FROM jobs") == "0"
    for host in HOSTS:
        assert env_connection(lab, host) == "QUEUE_CONNECTION=redis"
        assert not [i for i in doc["hosts"][host]["items"] if i["action"] == "left:"], doc
        assert lab.ssh(host, "ls /var/lib/queueops/fallback.json", check=False).returncode != 0
    assert "horizon-fallback:horizon-fallback_00" not in states(lab, "app1")
    assert "Horizon is running." in horizon_status(lab)
    assert queue_length(lab, "queueops_demo_database_queues:rb-sig") == 0


BROKEN_CONFIG = "/var/www/app/config/zz_broken.php"
CONFIG_CACHE = "/var/www/app/bootstrap/cache/config.php"


def app_php(lab: Lab, code: str) -> str:
    """PHP as the app's user in the app's directory (the test's own look, not queueops')."""
    command = f"cd /var/www/app && runuser -u www-data -- php -r {cmd(code)}"
    return lab.ssh("app1", command).stdout.strip()


def cached_queue_default(lab: Lab) -> str:
    code = "echo (require 'bootstrap/cache/config.php')['queue']['default'];"
    return app_php(lab, code)


def interrupted_fallback(lab: Lab, inv: Path) -> None:
    """fallback-to-database cut off half-way: the app's user planted a config file that
    throws, so config:cache fails after .env was switched; the file is gone afterwards."""
    plant = "<?php throw new RuntimeException('planted by the app user');\n"
    lab.ssh("app1", f"printf %s {cmd(plant)} | runuser -u www-data -- tee {BROKEN_CONFIG}")
    try:
        doc = run_json("fallback-to-database", "-i", str(inv), "--host", "app1", "--yes", expect=1)
        assert "config:cache exited" in doc["hosts"]["app1"]["error"], doc
    finally:
        lab.ssh("app1", f"rm -f {BROKEN_CONFIG}")
    assert env_connection(lab, "app1") == "QUEUE_CONNECTION=database"  # half-switched
    assert lab.ssh("app1", f"test -e {CONFIG_CACHE}", check=False).returncode  # config:clear ran


def back_on_redis(lab: Lab) -> None:
    """What the app had before the first try: .env, its cached config, Horizon."""
    assert env_connection(lab, "app1") == "QUEUE_CONNECTION=redis"
    assert cached_queue_default(lab) == "redis"
    assert lab.ssh("app1", "ls /var/lib/queueops/fallback.json", check=False).returncode != 0
    assert states(lab, "app1")["horizon"][0] == "RUNNING"
    assert "horizon-fallback:horizon-fallback_00" not in states(lab, "app1")


def test_an_interrupted_fallback_resumes_and_restore_redis_returns_to_before_it(
    lab: Lab, tmp_path: Path
) -> None:
    inv = ready(lab, tmp_path)
    had_cache = lab.ssh("app1", f"test -e {CONFIG_CACHE}", check=False).returncode == 0
    lab.ssh("app1", "cd /var/www/app && runuser -u www-data -- php artisan config:cache")
    try:
        # Interrupted, then run again: it resumes from what the first try recorded.
        interrupted_fallback(lab, inv)
        doc = run_json("fallback-to-database", "-i", str(inv), "--host", "app1", "--yes")
        assert doc["summary"]["failed"] == 0, doc
        assert env_connection(lab, "app1") == "QUEUE_CONNECTION=database"
        state = json.loads(lab.ssh("app1", "cat /var/lib/queueops/fallback.json").stdout)
        assert state["from"] == "redis", state  # not the half-switched .env's database
        assert state["config_cached"] and state["horizon_stopped"], state
        marker = lab.ssh("app1", "stat -c %a /var/lib/queueops/fallback.json").stdout.strip()
        assert marker == "600"
        assert cached_queue_default(lab) == "database"
        assert states(lab, "app1")["horizon"][0] == "STOPPED"
        ids = dispatch(lab, "rb-hz", 20)
        exactly_once(wait_all(lab, ids), ids)
        doc = run_json("restore-redis", "-i", str(inv), "--host", "app1", "--yes")
        assert doc["summary"]["failed"] == 0, doc
        back_on_redis(lab)

        # Interrupted, then undone at once: back to what was there before.
        interrupted_fallback(lab, inv)
        doc = run_json("restore-redis", "-i", str(inv), "--host", "app1", "--yes")
        assert doc["summary"]["failed"] == 0, doc
        back_on_redis(lab)
        ids = dispatch(lab, "rb-hz", 20)
        exactly_once(wait_all(lab, ids), ids)
    finally:
        lab.ssh("app1", f"rm -f {BROKEN_CONFIG}")
        if not had_cache:
            lab.ssh("app1", "cd /var/www/app && runuser -u www-data -- php artisan config:clear")


class Dispatching:
    """demo:dispatch from both app hosts, batch after batch, until stopped: jobs keep arriving
    (on whatever connection each host's .env names at that moment) while a runbook runs.

    Each host waits `pause` between batches, so jobs arrive at a rate the busy workers keep up
    with, as on a fleet in normal service. Back to back, the dispatches outran the lab's
    workers on 2 shared cores: 60,000-110,000 jobs piled up during the runbooks' drains,
    and whether the last of them ran in time measured the machine's load, not the runbooks."""

    def __init__(self, lab: Lab, queues: list[str], batch: int = 50, pause: float = 0.5) -> None:
        self.lab, self.queues, self.batch, self.pause = lab, queues, batch, pause
        self.ids: list[str] = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(h,)) for h in HOSTS]

    def run(self, host: str) -> None:
        turn = 0
        while not self.done.is_set():
            queue = self.queues[turn % len(self.queues)]
            self.ids.extend(dispatch(self.lab, queue, self.batch, "--seconds=0.02", host=host))
            turn += 1
            self.done.wait(self.pause)

    def __enter__(self) -> Dispatching:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join()


@on_each_database
def test_2000_jobs_in_flight_through_fallback_and_restore_each_run_once(
    lab: Lab, tmp_path: Path
) -> None:
    """Workers busy and dispatches arriving on both hosts through fallback-to-database and
    restore-redis, on db1's PostgreSQL and on its MariaDB: every job id runs exactly once,
    counted from the jobs' own records (processed.jsonl on each host); nothing is left in the
    jobs table."""
    inv = ready(lab, tmp_path)
    queues = ["rb-sig", "rb-stop", "rb-hz"]
    backlog = [i for q in queues for i in dispatch(lab, q, 200, "--seconds=0.02")]
    with Dispatching(lab, queues) as flow:
        time.sleep(2)
        doc = run_json("fallback-to-database", "-i", str(inv), "--all", "--yes")
        assert doc["summary"]["failed"] == 0, doc
        for host in HOSTS:
            assert env_connection(lab, host) == "QUEUE_CONNECTION=database"
        while len(flow.ids) < 700:
            time.sleep(0.5)
        doc = run_json("restore-redis", "-i", str(inv), "--all", "--yes")
        assert doc["summary"]["failed"] == 0, doc
        while len(flow.ids) < 1400:
            time.sleep(0.5)
    ids = backlog + flow.ids
    assert len(ids) >= 2000 and len(set(ids)) == len(ids)
    start = time.monotonic()
    runs = wait_all(lab, ids, timeout=180)
    print(f"{len(ids)} jobs through fallback and restore; the last ran "
          f"{time.monotonic() - start:.1f} s after the dispatches stopped")  # fmt: skip
    wanted = set(ids)
    by_connection = collections.Counter(
        r["connection"] for r in processed_records(lab) if r["id"] in wanted
    )
    left = lab.sql("SELECT count(*) FROM jobs")
    print(f"{lab.database}: {len(ids)} jobs, ran on {dict(by_connection)}, "
          f"{sum(1 for i in ids if runs[i] > 1)} ran twice, {sum(1 for i in ids if not runs[i])} "
          f"never ran, {left} rows left in the jobs table")  # fmt: skip
    exactly_once(runs, ids)
    assert by_connection["database"] > 0 and by_connection["redis"] > 0, by_connection
    assert left == "0"
    for host in HOSTS:
        assert env_connection(lab, host) == "QUEUE_CONNECTION=redis"


def failed_total(inv: Path) -> int:
    """Failed jobs of the fleet: hosts sharing db1 report its store once, the others say so."""
    doc = run_json("failed", "-i", str(inv), "--group", "workers")
    items = [h["items"][0] for h in doc["hosts"].values()]
    assert sum(1 for i in items if i["action"].startswith("shared with")) == 1, items
    return sum(int(i["action"].split()[0]) for i in items if i["action"].endswith("failed jobs:"))


def wait_failed(inv: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while failed_total(inv) != count:
        assert time.monotonic() < deadline, f"expected {count} failed jobs"
        time.sleep(1)


@on_each_database
def test_failed_jobs_export_retry_and_flush_which_exports_first(lab: Lab, tmp_path: Path) -> None:
    inv = ready(lab, tmp_path)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    run_json("flush-failed", "-i", str(inv), "--group", "workers", "--yes")
    ids = dispatch(lab, "rb-sig", 20, "--fail")
    wait_failed(inv, 20)

    export = tmp_path / "failed.jsonl"
    result = queueops("failed", "-i", str(inv), "--group", "workers", "--export", str(export))
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line) for line in export.read_text().splitlines()]
    assert sorted(next(i for i in ids if i in r["payload"]) for r in records) == sorted(ids)
    assert all(r["class"] == "App\\Jobs\\DemoJob" and r["exception"] for r in records)

    # retry-failed pushes them back: they run (and fail) again, then are failed jobs again.
    doc = run_json("retry-failed", "-i", str(inv), "--group", "workers")
    pushed = [h["items"][0]["action"] for h in doc["hosts"].values()]
    assert sorted(pushed)[0] == "pushed 20 failed jobs" and sorted(pushed)[1].startswith(
        "shared with"
    ), pushed
    wait_failed(inv, 20)

    refused = queueops("flush-failed", "-i", str(inv), "--group", "workers")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    flush = subprocess.run(
        [INVOKE, "flush-failed", "-i", str(inv), "--group", "workers", "--yes", "--json"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=env,
    )
    assert flush.returncode == 0, flush.stdout + flush.stderr
    # The files this flush wrote (the first one, above, emptied the store of earlier tests).
    files = [Path(line.split(" exported to ")[1]) for line in flush.stderr.splitlines()
             if " exported to " in line]  # fmt: skip
    assert len(files) == 1, flush.stderr  # one store (db1), exported once
    flushed = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(next(i for i in ids if i in r["payload"]) for r in flushed) == sorted(ids)
    assert failed_total(inv) == 0
    # The host that acted for db1's store (either) wrote the audit lines.
    logs = [lab.ssh(h, "cat /var/log/queueops/audit.log").stdout for h in HOSTS]
    lines = [line for log in logs for line in log.splitlines()]
    assert {json.loads(line)["task"] for line in lines} >= {"retry-failed", "flush-failed"}


def test_scale_writes_the_inventory_then_applies_it(lab: Lab, tmp_path: Path) -> None:
    inv = ready(lab, tmp_path)
    workers = inv / "group_vars" / "workers.yml"
    before = workers.read_text()
    check = queueops("scale", "-i", str(inv), "--group", "workers", "--program", "rb-sig",
                     "--processes", "3", "--check")  # fmt: skip
    assert check.returncode == 0 and "+  processes: 3" in check.stdout, check.stdout
    assert workers.read_text() == before

    doc = run_json("scale", "-i", str(inv), "--group", "workers", "--program", "rb-sig",
                   "--processes", "3")  # fmt: skip
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
    assert yaml.safe_load(workers.read_text())["queue_worker_programs"][0]["processes"] == 3
    for host in HOSTS:
        running = [n for n, (s, _) in states(lab, host).items() if n.startswith("rb-sig:")]
        assert len(running) == 3
    ids = dispatch(lab, "rb-sig", 30)
    exactly_once(wait_all(lab, ids), ids)

    doc = run_json("scale", "-i", str(inv), "--group", "horizon", "--supervisor",
                   "--program", "supervisor-1", "--processes", "3")  # fmt: skip
    assert doc["summary"]["failed"] == 0, doc
    horizon = yaml.safe_load((inv / "group_vars" / "horizon.yml").read_text())
    assert horizon["horizon_environments"]["production"]["supervisor-1"]["maxProcesses"] == 3
    wait_workers(lab, "app1", {"rb-hz": 3})
