"""The demo Laravel app on the lab hosts: shared Redis queue, database queue, Horizon stand-in.

Every artisan command runs as the host flavour's web user (www-data on app1, apache on app2),
the way the workers run in production. Each test uses its own queue names where the app lets
it, and stops every process it started.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from queueops.shell import cmd, quote
from tests.conftest import HorizonContract, Lab, on_each_database

APP = "/var/www/app"
PROCESSED = f"{APP}/storage/app/processed.jsonl"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The shipped config/horizon.php: production, supervisor-1 on redis queue "default".
HORIZON_QUEUE = "default"
HORIZON_EXIT = "horizon exited with status"
# A queue:work worker sleeps 3 s when its queues are empty: allow a few cycles.
WORKER_LATENCY = 3.0


def artisan(
    lab: Lab, host: str, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`php artisan ARGS` in the app directory, as the host's web user."""
    command = (
        cmd("cd", APP)
        + " && "
        + cmd("runuser", "-u", lab.web_user(host), "--", "php", "artisan", *args)
    )
    return lab.ssh(host, command, check=check, timeout=timeout)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def dispatch(lab: Lab, host: str, *args: str) -> list[str]:
    ids = artisan(lab, host, "demo:dispatch", *args).stdout.splitlines()
    assert ids, "demo:dispatch printed no ids"
    assert all(UUID.match(i) for i in ids), f"demo:dispatch printed more than ids: {ids[:5]}"
    return ids


def processed(lab: Lab, host: str, *args: str) -> list[str]:
    return artisan(lab, host, "demo:processed", *args).stdout.split()


def records(lab: Lab, host: str) -> dict[str, dict[str, Any]]:
    """The lines of processed.jsonl on a host, by job id (the last one wins)."""
    text = lab.ssh(host, cmd("cat", PROCESSED), check=False).stdout
    result: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        record = json.loads(line)
        result[str(record["id"])] = record
    return result


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def clear_queue(lab: Lab, host: str, connection: str, queue: str) -> None:
    artisan(lab, host, "queue:clear", connection, f"--queue={queue}", "--force", check=False)


def processes(lab: Lab, host: str) -> list[tuple[int, str, str]]:
    """(process group, user, command line) of every process on a host."""
    lines = lab.ssh(host, cmd("ps", "-eo", "pgid=,user:32=,args=")).stdout.splitlines()
    result = []
    for line in lines:
        group, user, args = line.split(None, 2)
        result.append((int(group), user, args))
    return result


def workers(
    lab: Lab, host: str, group: int | None = None, command: str = "queue:work"
) -> list[tuple[str, str]]:
    """(user, command line) of the queue:work processes (Horizon's: horizon:work) on a host,
    or of one process group."""
    return [
        (user, args)
        for pgid, user, args in processes(lab, host)
        if f"artisan {command}" in args and group in (None, pgid)
    ]


def horizon_workers(lab: Lab, host: str, group: int | None = None) -> list[tuple[str, str]]:
    return workers(lab, host, group, command="horizon:work")


def timestamp(value: Any) -> float:
    """An ISO 8601 time from processed.jsonl as a Unix timestamp."""
    return datetime.fromisoformat(str(value)).timestamp()


@pytest.mark.lab
def test_job_dispatched_on_app1_is_processed_on_app2(lab: Lab) -> None:
    queue = unique("cross")
    try:
        [job_id] = dispatch(lab, "app1", "--count=1", "--connection=redis", f"--queue={queue}")

        artisan(lab, "app2", "queue:work", "redis", f"--queue={queue}", "--once", "--sleep=0")

        assert job_id in processed(lab, "app2", "--connection=redis")
        assert job_id not in processed(lab, "app1")
        record = records(lab, "app2")[job_id]
        assert record["host"] == "app2"
        assert record["connection"] == "redis"
        assert record["queue"] == queue
        assert record["attempt"] == 1
    finally:
        clear_queue(lab, "app1", "redis", queue)


@pytest.mark.lab
@on_each_database
@pytest.mark.parametrize("host", ["app1", "app2"])
def test_database_queue_works_on_its_own(lab: Lab, host: str) -> None:
    queue = unique("db")
    try:
        ids = dispatch(lab, host, "--count=25", "--connection=database", f"--queue={queue}")
        assert len(set(ids)) == 25

        # Those jobs are in db1's jobs table, not in the shared Redis.
        artisan(lab, host, "queue:work", "redis", f"--queue={queue}", "--once", "--sleep=0")
        assert processed(lab, host, f"--queue={queue}") == []

        artisan(
            lab, host, "queue:work", "database", f"--queue={queue}",
            "--stop-when-empty", "--sleep=0", timeout=120,
        )  # fmt: skip

        done = processed(lab, host, "--connection=database", f"--queue={queue}")
        assert sorted(done) == sorted(ids)
        assert {r["host"] for r in records(lab, host).values() if r["queue"] == queue} == {host}
    finally:
        clear_queue(lab, host, "database", queue)


class Horizon:
    """One Horizon stand-in master started in the background on a lab host."""

    def __init__(self, lab: Lab, host: str) -> None:
        self.lab = lab
        self.host = host
        self.log = f"/tmp/{unique('horizon')}.log"
        self.group = 0

    def start(self, started: str = "Horizon started successfully.") -> None:
        # setsid: the master, its supervisors and workers form one process group, so the
        # cleanup can reach them by id even if the master misbehaves.
        master = cmd(
            "setsid", "nohup", "runuser", "-u", self.lab.web_user(self.host), "--",
            "sh", "-c", f'php artisan horizon; echo "{HORIZON_EXIT} $?"',
        )  # fmt: skip
        command = (
            cmd("cd", APP) + f" && ( {master} > {quote(self.log)} 2>&1 < /dev/null & echo $! )"
        )
        self.group = int(self.lab.ssh(self.host, command).stdout.strip())
        wait_for("Horizon to start", lambda: started in self.output())

    def output(self) -> str:
        return self.lab.ssh(self.host, cmd("cat", self.log), check=False).stdout

    def processing_lines(self) -> int:
        return self.output().count("Processing: App\\Jobs\\DemoJob")

    def status(self, host: str | None = None) -> subprocess.CompletedProcess[str]:
        return artisan(self.lab, host or self.host, "horizon:status", check=False)

    def master(self) -> int:
        """The master's pid: the php process in the group (runuser and sh start it)."""
        found = self.lab.ssh(
            self.host, cmd("pgrep", "-g", str(self.group), "-x", "-f", "php artisan horizon")
        ).stdout.split()
        assert len(found) == 1, found
        return int(found[0])

    def alive(self) -> bool:
        group = f"-{self.group}"
        return self.lab.ssh(self.host, cmd("kill", "-0", group), check=False).returncode == 0

    def stop(self) -> None:
        """Cleanup: TERM the whole process group by its id (horizon:terminate returns at once
        and would signal other tests' masters too), and wait until it is gone."""
        if not self.group:
            return
        if self.alive():
            self.lab.ssh(self.host, cmd("kill", "-TERM", f"-{self.group}"), check=False)
            wait_for("the master's process group to exit", lambda: not self.alive(), timeout=90)
        self.lab.ssh(self.host, cmd("rm", "-f", self.log), check=False)


@pytest.mark.lab
def test_horizon_standin_pause_continue_terminate(
    fresh_lab: Lab, horizon_contract: HorizonContract
) -> None:
    lab, host, contract = fresh_lab, "app1", horizon_contract
    # The jobs go to the shipped config's queue, so nothing else may work it meanwhile: fresh
    # hosts, where no earlier test left workers.
    assert workers(lab, host) == [], "queue workers are already running on app1"
    assert workers(lab, "app2") == [], "queue workers are already running on app2"
    assert artisan(lab, host, "horizon:status", check=False).returncode == contract.inactive_code
    horizon, second = Horizon(lab, host), Horizon(lab, host)
    try:
        horizon.start()

        running = horizon.status()
        assert running.returncode == 0, running.stdout
        assert "Horizon is running." in running.stdout
        # The registration lives in the shared Redis: app2 sees it too.
        assert horizon.status("app2").returncode == 0
        listing = artisan(lab, host, "horizon:list").stdout
        assert re.search(r"\|\s*app1-\w{4}\s*\|.*supervisor-1.*\|\s*running\s*\|", listing)
        supervisor = artisan(lab, host, "horizon:supervisor-status", "supervisor-1", check=False)
        if contract.supervisor_status:
            assert "supervisor-1 is running" in supervisor.stdout
        else:
            assert supervisor.returncode == 1
            assert 'Command "horizon:supervisor-status" is not defined.' in (
                supervisor.stdout + supervisor.stderr
            )
        # Workers are real horizon:work processes running as the web user, each naming its
        # supervisor.
        wait_for("two workers", lambda: len(horizon_workers(lab, host, horizon.group)) == 2)
        found = horizon_workers(lab, host, horizon.group)
        assert {user for user, _ in found} == {lab.web_user(host)}
        assert all(re.search(r" --supervisor=app1-\w{4}:supervisor-1 ", a) for _, a in found)

        # A second master on the same machine is not refused: it starts beside the first.
        second.start()
        masters = sorted((horizon.master(), second.master()))
        listing = artisan(lab, host, "horizon:list").stdout
        assert len(re.findall(r"\|\s*app1-\w{4}\s*\|", listing)) == 2, listing
        # pause signals every master of this machine; a dead one's registration (it lives
        # 14 s after a SIGKILL) is a "Failed to kill" line, and the exit code is 0 all the same.
        lab.ssh(host, cmd("kill", "-KILL", str(masters[1])))
        wait_for("the killed master to be gone", lambda: HORIZON_EXIT in second.output())
        paused = artisan(lab, host, "horizon:pause")
        assert paused.returncode == 0
        for line in contract.signalled("USR2", [masters[0]]):
            assert line in paused.stdout, paused.stdout
        assert f"Failed to kill process: {masters[1]} (No such process)" in paused.stdout
        wait_for("status paused", lambda: horizon.status().returncode == 1)
        assert "Horizon is paused." in horizon.status().stdout
        # Signals are per machine: app2 has no master, and pause says nothing (5.22) or
        # "No processes to pause." (5.23+), exit 0 either way.
        nothing = artisan(lab, "app2", "horizon:pause")
        expected = "INFO  No processes to pause." if contract.components else ""
        assert nothing.returncode == 0 and nothing.stdout.strip() == expected, nothing.stdout
        second.stop()

        ids = dispatch(lab, host, "--count=5", f"--queue={HORIZON_QUEUE}")
        time.sleep(2 * WORKER_LATENCY)
        assert set(ids).isdisjoint(processed(lab, host)), "a paused Horizon processed jobs"

        # Continue: they are processed.
        resumed = artisan(lab, host, "horizon:continue").stdout
        for line in contract.signalled("CONT", [masters[0]]):
            assert line in resumed, resumed
        wait_for("status running", lambda: horizon.status().returncode == 0)
        wait_for(
            "the queued jobs to be processed",
            lambda: set(ids) <= set(processed(lab, host)),
            timeout=30,
        )

        # Terminate while a 5 s job runs: horizon:terminate returns at once, horizon:status
        # says inactive while the master still waits for the job, which finishes; the master
        # exits 0.
        before = horizon.processing_lines()
        [slow] = dispatch(lab, host, "--seconds=5", f"--queue={HORIZON_QUEUE}")
        wait_for("the slow job to start", lambda: horizon.processing_lines() > before)
        sent_at = time.time()
        terminated = artisan(lab, host, "horizon:terminate").stdout
        for line in contract.signalled("TERM", [masters[0]]):
            assert line in terminated, terminated
        wait_for("status inactive", lambda: horizon.status().returncode == contract.inactive_code)
        assert HORIZON_EXIT not in horizon.output(), "the master left before its job finished"

        wait_for("the master to exit", lambda: HORIZON_EXIT in horizon.output(), timeout=60)
        assert f"{HORIZON_EXIT} 0" in horizon.output()
        record = records(lab, host)[slow]
        assert timestamp(record["started_at"]) < sent_at < timestamp(record["finished_at"])
        assert slow in processed(lab, host)

        inactive = horizon.status()
        assert inactive.returncode == contract.inactive_code, inactive.stdout
        assert "Horizon is inactive." in inactive.stdout
        wait_for(
            "every process of the master's group to exit",
            lambda: all(group != horizon.group for group, _, _ in processes(lab, host)),
            timeout=15,
        )
    finally:
        second.stop()
        horizon.stop()
