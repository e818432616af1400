"""setup-worker and restart-queue on both lab flavours, through the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.lab import control
from queueops.lab.fleet import repo_root
from queueops.shell import cmd
from tests.conftest import Lab

pytestmark = pytest.mark.lab

INVOKE = str(Path(sys.executable).with_name("invoke"))
PROGRAM_DIR = {"app1": "/etc/supervisor/conf.d", "app2": "/etc/supervisord.d"}
EXT = {"app1": ".conf", "app2": ".ini"}


def program(name: str, queues: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": name, "queues": queues, "sleep": 1, "timeout": 30, **fields}


def inventory(
    tmp: Path,
    lab: Lab,
    programs: list[dict[str, Any]],
    host_vars: dict[str, dict[str, Any]] | None = None,
    user: str = "root",
    become: bool = False,
) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    hosts = {h: {"ansible_host": lab.address(h)} for h in ("app1", "app2")}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"workers": {"hosts": hosts}}}})
    )
    all_vars: dict[str, Any] = dict(lab.paths.connection_vars(user))
    if become:
        all_vars["ansible_become"] = True
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_vars))
    (inv / "group_vars" / "workers.yml").write_text(
        yaml.safe_dump({"queue_worker_app_path": "/var/www/app", "queue_worker_programs": programs})
    )
    if host_vars:
        (inv / "host_vars").mkdir(exist_ok=True)
        for name, values in host_vars.items():
            (inv / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(values))
    return inv


def queueops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, from the repository root, without the caller's QUEUEOPS_INVENTORY."""
    base = {k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"}
    return subprocess.run(
        [INVOKE, *args],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env={**base, **(env or {})},
    )


def run_json(*args: str, expect: int = 0) -> dict[str, Any]:
    result = queueops(*args, "--json")
    assert result.returncode == expect, result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def states(lab: Lab, host: str) -> dict[str, tuple[str, int]]:
    """supervisorctl's view: process name → (state, pid)."""
    out = lab.ssh(host, "supervisorctl status", check=False).stdout
    found = {}
    for line in out.splitlines():
        match = re.match(r"(\S+)\s+(\S+)(?:\s+pid (\d+))?", line)
        if match:
            found[match[1]] = (match[2], int(match[3] or 0))
    return found


def artisan(lab: Lab, host: str, *args: str) -> str:
    command = "cd /var/www/app && " + cmd(
        "runuser", "-u", lab.web_user(host), "--", "php", "artisan", *args
    )
    return lab.ssh(host, command).stdout


def processed_records(lab: Lab) -> list[dict[str, Any]]:
    """Every job record (processed.jsonl) of every app host: they share redis1, so any may
    run a job."""
    records = []
    for host in ("app1", "app2"):
        out = lab.ssh(host, "cat /var/www/app/storage/app/processed.jsonl", check=False)
        records += [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return records


def wait_processed(lab: Lab, ids: list[str], timeout: float = 30) -> list[dict[str, Any]]:
    """Records of these job ids from every app host."""
    deadline = time.monotonic() + timeout
    while True:
        done = [r for r in processed_records(lab) if r["id"] in ids]
        if {r["id"] for r in done} == set(ids) or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


TWO_PROGRAMS = [program("mail", ["mail", "default"], processes=2), program("reports", ["reports"])]


def test_from_nothing_workers_run_and_process_jobs(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    doc = run_json("setup-worker", "-i", str(inv), "--group", "workers")
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}
    for host in ("app1", "app2"):
        assert doc["hosts"][host]["status"] == "changed"
        running = states(fresh_lab, host)
        assert sorted(running) == ["mail:mail_00", "mail:mail_01", "reports:reports_00"]
        assert all(state == "RUNNING" for state, _ in running.values()), running
        conf = fresh_lab.ssh(host, f"cat {PROGRAM_DIR[host]}/mail{EXT[host]}").stdout
        assert conf.startswith("; Managed by queueops")
        assert "queue:work redis --queue=mail,default" in conf
        assert f"user={fresh_lab.web_user(host)}" in conf
        ids = artisan(fresh_lab, host, "demo:dispatch", "--count=5", "--queue=mail").split()
        done = wait_processed(fresh_lab, ids)
        assert sorted(r["id"] for r in done) == sorted(ids)
        for record in done:
            ran_on = states(fresh_lab, record["host"])
            mail_pids = {pid for name, (_, pid) in ran_on.items() if name.startswith("mail:")}
            assert record["pid"] in mail_pids, record


def test_second_run_changes_nothing_and_keeps_pids(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--all")
    before = {h: states(fresh_lab, h) for h in ("app1", "app2")}
    doc = run_json("setup-worker", "-i", str(inv), "--all")
    assert doc["summary"] == {"ok": 2, "changed": 0, "failed": 0}
    assert all(h["changed"] == 0 and h["items"] == [] for h in doc["hosts"].values())
    assert {h: states(fresh_lab, h) for h in ("app1", "app2")} == before


def test_hand_edit_is_reported_by_check_and_repaired(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--all")
    path = f"{PROGRAM_DIR['app2']}/reports{EXT['app2']}"
    fresh_lab.ssh("app2", f"sed -i 's/--sleep=1/--sleep=9/' {path}")
    edited = fresh_lab.ssh("app2", f"sha256sum {path}").stdout

    check = queueops("setup-worker", "-i", str(inv), "--host", "app2", "--check", "--diff")
    assert check.returncode == 0, check.stderr
    assert (
        "-command=php /var/www/app/artisan queue:work redis --queue=reports --sleep=9"
        in check.stdout
    )
    assert (
        "+command=php /var/www/app/artisan queue:work redis --queue=reports --sleep=1"
        in check.stdout
    )
    assert f"update {path}" in check.stdout
    assert fresh_lab.ssh("app2", f"sha256sum {path}").stdout == edited

    doc = run_json("setup-worker", "-i", str(inv), "--host", "app2")
    assert doc["hosts"]["app2"]["items"] == [
        {"item": path, "action": "update", "status": "changed"}
    ]
    assert "--sleep=1" in fresh_lab.ssh("app2", f"cat {path}").stdout
    assert states(fresh_lab, "app2")["reports:reports_00"][0] == "RUNNING"
    backups = fresh_lab.ssh("app2", f"ls /var/backups/queueops/*/{path}").stdout
    assert backups.strip(), "the replaced file was not backed up"


@pytest.mark.parametrize("host", ["app1", "app2"])
def test_unstartable_program_is_rolled_back(fresh_lab: Lab, tmp_path: Path, host: str) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--host", host)
    before = states(fresh_lab, host)

    broken = [*TWO_PROGRAMS, program("ghost", ["ghost"], user="nosuchuser")]
    inv = inventory(tmp_path, fresh_lab, broken)
    doc = run_json("setup-worker", "-i", str(inv), "--host", host, expect=1)
    result = doc["hosts"][host]
    assert result["status"] == "failed"
    assert "nosuchuser" in result["error"]
    assert "rolled back" in result["error"]
    assert (
        fresh_lab.ssh(host, f"test -e {PROGRAM_DIR[host]}/ghost{EXT[host]}", check=False).returncode
        == 1
    )
    assert states(fresh_lab, host) == before


def test_removed_program_is_stopped_and_its_file_removed(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    foreign = f"{PROGRAM_DIR['app1']}/hand-made.conf"
    fresh_lab.ssh("app1", f"printf '[program:hand-made]\\ncommand=sleep 600\\n' > {foreign}")

    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS[:1])
    doc = run_json("setup-worker", "-i", str(inv), "--host", "app1")
    path = f"{PROGRAM_DIR['app1']}/reports.conf"
    assert {"item": path, "action": "delete", "status": "changed"} in doc["hosts"]["app1"]["items"]
    assert fresh_lab.ssh("app1", f"test -e {path}", check=False).returncode == 1
    assert not any(n.startswith("reports:") for n in states(fresh_lab, "app1"))
    assert "queue:work redis --queue=reports" not in fresh_lab.ssh("app1", "ps -eo args").stdout
    # Only what queueops wrote is removed.
    fresh_lab.ssh("app1", f"test -e {foreign}")


def test_restart_queue_runs_the_new_code(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    before = states(fresh_lab, "app1")
    job = "/var/www/app/app/Jobs/DemoJob.php"
    fresh_lab.ssh("app1", f"sed -i 's/const CODE_VERSION = 1;/const CODE_VERSION = 2;/' {job}")

    doc = run_json("restart-queue", "-i", str(inv), "--host", "app1")
    assert doc["hosts"]["app1"]["status"] == "changed"
    after = states(fresh_lab, "app1")
    assert sorted(after) == sorted(before)
    for name, (state, pid) in after.items():
        assert state == "RUNNING"
        assert pid != before[name][1], f"{name} kept its PID {pid}"
    ids = artisan(fresh_lab, "app1", "demo:dispatch", "--count=3", "--queue=reports").split()
    done = wait_processed(fresh_lab, ids)
    assert sorted(r["id"] for r in done) == sorted(ids)
    assert {r["code_version"] for r in done} == {2}


def test_restart_queue_force_restarts_through_supervisor(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, TWO_PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--host", "app2")
    before = states(lab, "app2")
    run_json("restart-queue", "-i", str(inv), "--host", "app2", "--force")
    after = states(lab, "app2")
    assert all(after[n][0] == "RUNNING" and after[n][1] != before[n][1] for n in before)


def test_a_stopped_host_fails_alone(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, TWO_PROGRAMS)
    control.down(lab.paths, only={"app2"})
    try:
        result = queueops("setup-worker", "-i", str(inv), "--group", "workers")
        assert result.returncode == 1
        rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:-1]}
        assert rows["app1"].split()[1] in ("changed", "ok")
        assert rows["app2"].split()[1] == "failed"
        assert "cannot connect" in rows["app2"] and "127.0.1.12:22" in rows["app2"]
        assert (
            result.stdout.splitlines()[-1] == "ok=0 changed=1 failed=1"
            or "failed=1" in result.stdout
        )
        assert states(lab, "app1")["mail:mail_00"][0] == "RUNNING"
    finally:
        control.up(2, lab.paths)


def test_as_deploy_user_with_become(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS, user="deploy", become=True)
    doc = run_json("setup-worker", "-i", str(inv), "--all")
    assert doc["summary"]["changed"] == 2
    for host in ("app1", "app2"):
        owner = fresh_lab.ssh(host, f"stat -c %U {PROGRAM_DIR[host]}/mail{EXT[host]}").stdout
        assert owner.strip() == "root"
        assert all(s == "RUNNING" for s, _ in states(fresh_lab, host).values())


def test_without_become_the_deploy_user_cannot_write(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS, user="deploy")
    doc = run_json("setup-worker", "-i", str(inv), "--host", "app1", expect=1)
    assert doc["hosts"]["app1"]["status"] == "failed"
    assert "Permission denied" in doc["hosts"]["app1"]["error"]


LOCK_DIR = "/run/queueops"
LOCK = f"{LOCK_DIR}/queueops.lock"
# Where the lock was: /run/lock is world-writable (1777), so the app's user reaches it.
OLD_LOCK = "/run/lock/queueops.lock"


@contextlib.contextmanager
def another_runs_lock(lab: Lab, host: str) -> Iterator[None]:
    """Another run's lock on `host` while the block runs, held by flock alone (-o: not by its
    child), so pkill of flock frees it at once."""
    holder = json.dumps({"task": "clear", "operator": "alice", "since": "2026-01-01T00:00:00Z"})
    hold = f"echo {cmd(holder)} > {LOCK}; sleep 30"
    lab.ssh(
        host,
        f"mkdir -p -m 0700 {LOCK_DIR} && ("
        + cmd("setsid", "flock", "-o", LOCK, "sh", "-c", hold)
        + " > /dev/null 2>&1 &) && sleep 0.3",
    )
    try:
        yield
    finally:
        lab.ssh(host, f"pkill -f '^flock -o {LOCK}'", check=False)


def test_a_locked_host_is_refused(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, TWO_PROGRAMS)
    with another_runs_lock(lab, "app1"):
        doc = run_json("setup-worker", "-i", str(inv), "--host", "app1", expect=1)
        error = doc["hosts"]["app1"]["error"]
        assert "locked by another queueops run: clear by alice" in error


@pytest.mark.parametrize("how", ["flock", "symlink"])
def test_the_app_user_can_neither_block_nor_redirect_the_host_lock(
    lab: Lab, tmp_path: Path, how: str
) -> None:
    # www-data holds a lock file in /run/lock, or plants a symlink where root would write.
    web = lab.web_user("app1")
    victim = "/etc/queueops-lock-victim"
    plant = {
        "flock": cmd("setsid", "flock", "-o", OLD_LOCK, "sleep", "60") + " >/dev/null 2>&1 &",
        "symlink": cmd("ln", "-sfn", victim, OLD_LOCK),
    }[how]
    lab.ssh("app1", f"rm -f {OLD_LOCK} {victim}; runuser -u {web} -- sh -c {cmd(plant)}; sleep 0.3")
    inv = inventory(tmp_path, lab, TWO_PROGRAMS)
    try:
        result = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["hosts"]["app1"]["status"] in ("ok", "changed")
        assert lab.ssh("app1", f"test -e {victim}", check=False).returncode == 1
        # The lock itself: root's alone, in a directory only root enters.
        mode = lab.ssh("app1", f"stat -c '%U %a' {LOCK_DIR} {LOCK}").stdout.split("\n")
        assert mode[:2] == ["root 700", "root 600"], mode
        seen = lab.ssh("app1", f"runuser -u {web} -- cat {LOCK}", check=False)
        assert seen.returncode != 0 and "Permission denied" in seen.stderr, seen
    finally:
        lab.ssh("app1", f"pkill -u {web} -f '^flock -o {OLD_LOCK}'; rm -f {OLD_LOCK} {victim}",
                check=False)  # fmt: skip


def test_pinned_connection_disagreeing_with_env_is_refused(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, [program("mail", ["mail"], connection="database")])
    doc = run_json("setup-worker", "-i", str(inv), "--host", "app1", expect=1)
    error = doc["hosts"]["app1"]["error"]
    assert "'database'" in error and "QUEUE_CONNECTION='redis'" in error
    assert "/var/www/app/.env" in error
    assert fresh_lab.ssh("app1", "ls /etc/supervisor/conf.d").stdout.strip() == ""


@pytest.mark.parametrize(
    "hostile", ["default; rm -rf /", "$(reboot)", "a'b", 'a"b', "q\nq", "`id`"]
)
def test_hostile_queue_names_are_refused_before_any_host(
    lab: Lab, tmp_path: Path, hostile: str
) -> None:
    inv = inventory(tmp_path, lab, [program("mail", [hostile])])
    listing = lab.ssh("app1", "ls -l /etc/supervisor/conf.d").stdout
    result = queueops("setup-worker", "-i", str(inv), "--all")
    assert result.returncode == 2
    assert "queue_worker_programs[0].queues[0]" in result.stderr
    assert "workers.yml" in result.stderr
    assert "Traceback" not in result.stderr
    assert lab.ssh("app1", "ls -l /etc/supervisor/conf.d").stdout == listing


def test_missing_supervisor_is_installed_and_started(fresh_lab: Lab, tmp_path: Path) -> None:
    fresh_lab.ssh("app1", "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q supervisor")
    assert fresh_lab.ssh("app1", "command -v supervisord", check=False).returncode == 1
    inv = inventory(tmp_path, fresh_lab, TWO_PROGRAMS)
    doc = run_json("setup-worker", "-i", str(inv), "--host", "app1")
    items = doc["hosts"]["app1"]["items"]
    assert {"item": "supervisor", "action": "install", "status": "changed"} in items
    fresh_lab.ssh("app1", "command -v supervisord")
    assert all(s == "RUNNING" for s, _ in states(fresh_lab, "app1").values())
    assert len(states(fresh_lab, "app1")) == 3


def test_a_host_whose_key_changed_is_refused(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, TWO_PROGRAMS)
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"{lab.address('app1')} {impostor.with_suffix('.pub').read_text()}")
    listing = lab.ssh("app1", "ls -l /etc/supervisor/conf.d").stdout
    result = subprocess.run(
        [INVOKE, "setup-worker", "-i", str(inv), "--host", "app1", "--json"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "QUEUEOPS_KNOWN_HOSTS": str(known)},
    )
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)["hosts"]["app1"]["error"]
    assert "cannot connect" in error and "does not match" in error, error
    assert lab.ssh("app1", "ls -l /etc/supervisor/conf.d").stdout == listing


def test_restart_queue_lets_a_running_job_finish_once(fresh_lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, fresh_lab, [program("slow", ["slow"])])
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    before = states(fresh_lab, "app1")
    [slow] = artisan(fresh_lab, "app1", "demo:dispatch", "--queue=slow", "--seconds=4").split()
    # Wait until a worker has taken the job (it sits in the reserved set), then restart.
    password = fresh_lab.paths.redis_password.read_text().strip()
    reserved = f"REDISCLI_AUTH={password} " + cmd(
        "redis-cli",
        "-h",
        fresh_lab.address("redis1"),
        "--scan",
        "--pattern",
        "*queues:slow:reserved",
    )
    deadline = time.monotonic() + 15
    while not fresh_lab.ssh("app1", reserved).stdout.strip():
        assert time.monotonic() < deadline, "no worker took the slow job"
        time.sleep(0.1)
    doc = run_json("restart-queue", "-i", str(inv), "--host", "app1")
    assert doc["hosts"]["app1"]["status"] == "changed"
    after = states(fresh_lab, "app1")
    assert after["slow:slow_00"][1] != before["slow:slow_00"][1]
    [record] = [r for r in wait_processed(fresh_lab, [slow]) if r["id"] == slow]
    assert record["pid"] == before["slow:slow_00"][1], "the job did not finish on its worker"
    time.sleep(1)
    runs = fresh_lab.ssh("app1", "cat /var/www/app/storage/app/processed.jsonl").stdout
    assert runs.count(slow) == 1
