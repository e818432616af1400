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
from tests.conftest import Lab, on_each_database

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


def workers(lab: Lab, host: str, group: int | None = None) -> list[tuple[str, str]]:
    """(user, command line) of the queue:work processes on a host, or of one process group."""
    return [
        (user, args)
        for pgid, user, args in processes(lab, host)
        if "artisan queue:work" in args and group in (None, pgid)
    ]


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

    def start(self) -> None:
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
        wait_for("Horizon to start", lambda: "Horizon started successfully." in self.output())

    def output(self) -> str:
        return self.lab.ssh(self.host, cmd("cat", self.log), check=False).stdout

    def processing_lines(self) -> int:
        return self.output().count("Processing: App\\Jobs\\DemoJob")

    def status(self, host: str | None = None) -> subprocess.CompletedProcess[str]:
        return artisan(self.lab, host or self.host, "horizon:status", check=False)

    def stop(self) -> None:
        """Cleanup: terminate gracefully, then TERM the whole process group by its id."""
        if not self.group:
            return
        artisan(self.lab, self.host, "horizon:terminate", "--wait", check=False, timeout=120)
        group = f"-{self.group}"
        if self.lab.ssh(self.host, cmd("kill", "-0", group), check=False).returncode == 0:
            self.lab.ssh(self.host, cmd("kill", "-TERM", group), check=False)
        self.lab.ssh(self.host, cmd("rm", "-f", self.log), check=False)


@pytest.mark.lab
def test_horizon_standin_pause_continue_terminate(fresh_lab: Lab) -> None:
    lab, host = fresh_lab, "app1"
    # The jobs go to the shipped config's queue, so nothing else may work it meanwhile: fresh
    # hosts, where no earlier test left workers.
    assert workers(lab, host) == [], "queue workers are already running on app1"
    assert workers(lab, "app2") == [], "queue workers are already running on app2"
    assert artisan(lab, host, "horizon:status", check=False).returncode == 2
    horizon = Horizon(lab, host)
    try:
        horizon.start()

        running = horizon.status()
        assert running.returncode == 0, running.stdout
        assert "Horizon is running." in running.stdout
        # The registration lives in the shared Redis: app2 sees it too.
        assert horizon.status("app2").returncode == 0
        listing = artisan(lab, host, "horizon:list").stdout
        assert re.search(r"\|\s*app1-\w{4}\s*\|.*supervisor-1.*\|\s*running\s*\|", listing)
        assert (
            "supervisor-1 is running"
            in artisan(lab, host, "horizon:supervisor-status", "supervisor-1").stdout
        )
        # Workers are real queue:work processes running as the web user.
        wait_for("two workers", lambda: len(workers(lab, host, horizon.group)) == 2)
        assert {user for user, _ in workers(lab, host, horizon.group)} == {lab.web_user(host)}

        # A second master on the same machine is refused (and returns at once).
        second = artisan(lab, host, "horizon", timeout=30)
        assert "A master supervisor is already running on this machine." in second.stdout

        # Pause: new jobs stay queued.
        paused = artisan(lab, host, "horizon:pause").stdout
        assert "Sending USR2 signal to processes." in paused
        wait_for("status paused", lambda: horizon.status().returncode == 1)
        assert "Horizon is paused." in horizon.status().stdout
        # Signals are per machine: app2 has no master to pause.
        assert "No processes to pause." in artisan(lab, "app2", "horizon:pause").stdout

        ids = dispatch(lab, host, "--count=5", f"--queue={HORIZON_QUEUE}")
        time.sleep(2 * WORKER_LATENCY)
        assert set(ids).isdisjoint(processed(lab, host)), "a paused Horizon processed jobs"

        # Continue: they are processed.
        resumed = artisan(lab, host, "horizon:continue").stdout
        assert "Sending CONT signal to processes." in resumed
        wait_for("status running", lambda: horizon.status().returncode == 0)
        wait_for(
            "the queued jobs to be processed",
            lambda: set(ids) <= set(processed(lab, host)),
            timeout=30,
        )

        # Terminate while a 3 s job runs: the job finishes, the master exits 0.
        before = horizon.processing_lines()
        [slow] = dispatch(lab, host, "--seconds=3", f"--queue={HORIZON_QUEUE}")
        wait_for("the slow job to start", lambda: horizon.processing_lines() > before)
        sent_at = time.time()
        terminated = artisan(lab, host, "horizon:terminate").stdout
        assert "Sending TERM signal to processes." in terminated

        wait_for("the master to exit", lambda: HORIZON_EXIT in horizon.output(), timeout=60)
        assert f"{HORIZON_EXIT} 0" in horizon.output()
        record = records(lab, host)[slow]
        assert timestamp(record["started_at"]) < sent_at < timestamp(record["finished_at"])
        assert slow in processed(lab, host)

        inactive = horizon.status()
        assert inactive.returncode == 2, inactive.stdout
        assert "Horizon is inactive." in inactive.stdout
        wait_for(
            "every process of the master's group to exit",
            lambda: all(group != horizon.group for group, _, _ in processes(lab, host)),
            timeout=15,
        )
    finally:
        horizon.stop()
