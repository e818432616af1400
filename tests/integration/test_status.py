"""invoke status and metrics on the lab, checked against queues filled with known jobs."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from queueops.lab.fleet import repo_root
from queueops.shell import cmd
from tests.conftest import HorizonContract, Lab, on_each_database
from tests.integration.test_horizon import environments
from tests.integration.test_horizon import inventory as horizon_inventory
from tests.integration.test_setup_worker import (
    INVOKE,
    artisan,
    inventory,
    program,
    queueops,
    run_json,
    states,
)
from tests.integration.test_verify import verify

pytestmark = pytest.mark.lab

# Nobody works these queues while the test counts them: the program is stopped right away.
QUEUE = "status-q"
FAILQ = "status-fail"
# A failed attempt waits 60 s in the delayed set before its retry.
PROGRAMS = [program("counted", [QUEUE, FAILQ], processes=1, memory=128, tries=3, backoff=[60])]
TEXTFILE = "/var/lib/prometheus/node-exporter/queueops.prom"


def clear(lab: Lab, host: str, queue: str) -> None:
    artisan(lab, host, "queue:clear", "redis", f"--queue={queue}", "--force")


def failed_rows(lab: Lab) -> int:
    """Rows of failed_jobs on db1, which every app host shares."""
    return int(lab.sql("SELECT count(*) FROM failed_jobs"))


@pytest.fixture
def filled(lab: Lab, tmp_path: Path) -> Path:
    """app1 converged, its worker stopped, QUEUE holding exactly 37 ready jobs."""
    inv = inventory(tmp_path, lab, PROGRAMS)
    run_json("setup-worker", "-i", str(inv), "--group", "workers")
    for host in ("app1", "app2"):
        lab.ssh(host, "supervisorctl stop counted:*")
    for queue in (QUEUE, FAILQ):
        clear(lab, "app1", queue)
    artisan(lab, "app1", "demo:dispatch", "--count=37", f"--queue={QUEUE}")
    return inv


def status_doc(inv: Path, *select: str) -> dict[str, Any]:
    result = queueops("status", "-i", str(inv), *(select or ("--host", "app1")), "--json")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@on_each_database
def test_status_counts_a_queue_filled_with_known_jobs(lab: Lab, filled: Path) -> None:
    # Three jobs that fail, processed by one worker run by hand until the queue is empty.
    before = failed_rows(lab)
    artisan(lab, "app1", "demo:dispatch", "--count=3", f"--queue={FAILQ}", "--fail")
    artisan(lab, "app1", "queue:work", "redis", f"--queue={FAILQ}", "--stop-when-empty",
            "--tries=1", "--sleep=0")  # fmt: skip
    doc = status_doc(filled)["hosts"]["app1"]
    assert doc["queues"][QUEUE] == {"ready": 37, "delayed": 0, "reserved": 0,
                                    "oldest_seconds": None}  # fmt: skip
    assert doc["queues"][FAILQ]["ready"] == 0
    assert doc["failed_jobs"] == before + 3
    assert doc["programs"]["counted"]["running"] == 0
    assert doc["health"] == "red"  # its only program is stopped
    assert any("counted: 0/1 RUNNING" in r for r in doc["reasons"])

    lab.ssh("app1", "supervisorctl start counted:*")
    try:
        deadline = time.monotonic() + 30
        while status_doc(filled)["hosts"]["app1"]["queues"][QUEUE]["ready"] and (
            time.monotonic() < deadline
        ):
            time.sleep(0.3)
        doc = status_doc(filled)["hosts"]["app1"]
        assert doc["queues"][QUEUE]["ready"] == 0
        worker = doc["programs"]["counted"]["workers"][0]
        assert worker["state"] == "RUNNING" and worker["memory_bytes"] > 1024 * 1024
        assert worker["memory_limit_bytes"] == 128 * 1024 * 1024
    finally:
        lab.ssh("app1", "supervisorctl start counted:*", check=False)

    text = queueops("status", "-i", str(filled), "--group", "workers")
    assert re.search(r"^app1\s+(green|yellow)\s+counted 1/1 RUNNING", text.stdout, re.M), (
        text.stdout
    )


def test_thresholds_turn_a_host_yellow_then_red(lab: Lab, filled: Path) -> None:
    artisan(lab, "app1", "demo:dispatch", "--count=1000", f"--queue={QUEUE}")
    doc = status_doc(filled)["hosts"]["app1"]
    assert doc["queues"][QUEUE]["ready"] == 1037
    assert any(f"yellow: queue {QUEUE} holds 1037 jobs" == r for r in doc["reasons"]), doc
    artisan(lab, "app1", "demo:dispatch", "--count=4000", f"--queue={QUEUE}")
    doc = status_doc(filled)["hosts"]["app1"]
    assert any(f"red: queue {QUEUE} holds 5037 jobs" == r for r in doc["reasons"]), doc
    clear(lab, "app1", QUEUE)


# How the failed-job store on db1 is named: the app's driver, database, address and table.
STORE_NAMES = {
    "postgresql": r"pgsql app on 127\.0\.1\.8:5432 \(failed_jobs\)",
    "mariadb": r"mysql app on 127\.0\.1\.8:3306 \(failed_jobs\)",
}


@on_each_database
def test_metrics_expose_the_same_figures(lab: Lab, filled: Path) -> None:
    result = queueops("metrics", "-i", str(filled), "--host", "app1")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    labels = f'host="app1",connection="redis",queue="{QUEUE}"'
    assert f'queueops_queue_jobs{{{labels},state="ready"}} 37' in text
    assert f'queueops_queue_jobs{{{labels},state="delayed"}} 0' in text
    assert 'queueops_worker_processes_up{host="app1",program="counted"} 0' in text
    assert 'queueops_worker_processes_expected{host="app1",program="counted"} 1' in text
    store = rf'store="[0-9a-f]{{16}}",store_name="{STORE_NAMES[lab.database]}"'
    failed = rf'^queueops_failed_jobs\{{host="app1",{store}\}} {failed_rows(lab)}$'
    assert re.search(failed, text, re.M), text
    assert 'queueops_redis_up{host="app1"} 1' in text
    lab.ssh("app1", "supervisorctl start counted:*")
    text = queueops("metrics", "-i", str(filled), "--host", "app1").stdout
    limit = 'queueops_worker_memory_limit_bytes{host="app1",program="counted",process="counted_00"}'
    assert f"{limit} {128 * 1024 * 1024}" in text, text
    assert re.search(
        r'^queueops_worker_memory_bytes\{host="app1",program="counted".*\} [1-9]', text, re.M
    )


def node_exporter_scrape(lab: Lab, host: str) -> str:
    """A real prometheus-node-exporter on the host, textfile collector on queueops' directory,
    scraped over HTTP from here as Prometheus would."""
    address = f"{lab.address(host)}:9100"
    exporter = cmd(
        "setsid", "prometheus-node-exporter", f"--web.listen-address={address}",
        "--collector.disable-defaults", "--collector.textfile",
        f"--collector.textfile.directory={os.path.dirname(TEXTFILE)}",
    )  # fmt: skip
    pid = lab.ssh(host, f"{exporter} > /tmp/node-exporter.log 2>&1 < /dev/null & echo $!").stdout
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=2) as answer:
                    return str(answer.read().decode())
            except OSError:
                assert time.monotonic() < deadline, lab.ssh(host, "cat /tmp/node-exporter.log")
                time.sleep(0.2)
    finally:
        lab.ssh(host, f"kill {int(pid)}", check=False)


def test_metrics_install_keeps_a_textfile_fresh_on_the_host(lab: Lab, filled: Path) -> None:
    for host in ("app1", "app2"):
        lab.ssh(host, f"rm -f {TEXTFILE}")
    args = ("metrics", "-i", str(filled), "--group", "workers", "--install", "--interval", "1")
    first = queueops(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    try:
        for host in ("app1", "app2"):
            text = lab.ssh(host, f"cat {TEXTFILE}").stdout
            assert f'queueops_queue_jobs{{host="{host}",connection="redis",queue="{QUEUE}"' in text
        artisan(lab, "app1", "demo:dispatch", "--count=5", f"--queue={QUEUE}")
        deadline = time.monotonic() + 15
        want = f'queue="{QUEUE}",state="ready"}} 42'
        while want not in lab.ssh("app1", f"cat {TEXTFILE}").stdout:
            assert time.monotonic() < deadline, lab.ssh("app1", f"cat {TEXTFILE}").stdout
            time.sleep(0.3)
        again = queueops(*args)
        assert again.returncode == 0 and "changed=0" in again.stderr, again.stderr
        scraped = node_exporter_scrape(lab, "app1")
        # node_exporter re-exposes each series with its labels sorted by name.
        ready = f'connection="redis",host="app1",queue="{QUEUE}",state="ready"'
        assert f"queueops_queue_jobs{{{ready}}} 42" in scraped, scraped
        assert "node_textfile_scrape_error 0" in scraped, scraped
        assert 'queueops_supervisord_up{host="app1"} 1' in scraped
    finally:
        for host in ("app1", "app2"):
            lab.ssh(
                host,
                "supervisorctl stop queueops-metrics; rm -f "
                "/etc/supervisor/conf.d/queueops-metrics.conf "
                "/etc/supervisord.d/queueops-metrics.ini; supervisorctl update",
                check=False,
            )


def test_status_watch_redraws_in_place(lab: Lab, filled: Path) -> None:
    proc = subprocess.Popen(
        [INVOKE, "status", "-i", str(filled), "--host", "app1", "--watch", "--interval", "0.5"],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"},
    )
    time.sleep(4)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert out.count("\x1b[H\x1b[J") >= 2, out
    assert out.count(f"{QUEUE} 37/0/0") >= 2


def test_reserved_and_delayed_jobs_are_counted(lab: Lab, filled: Path) -> None:
    clear(lab, "app1", QUEUE)
    artisan(lab, "app1", "demo:dispatch", "--count=1", f"--queue={QUEUE}", "--seconds=8")
    artisan(lab, "app1", "demo:dispatch", "--count=1", f"--queue={FAILQ}", "--fail")
    lab.ssh("app1", "supervisorctl start counted:*")

    def wait_for(queue: str, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            figures: dict[str, Any] = status_doc(filled)["hosts"]["app1"]["queues"][queue]
            if figures[state] == 1 or time.monotonic() > deadline:
                return figures
            time.sleep(0.3)

    # One worker: the 8 s job is reserved while it runs, then the failing job's first
    # attempt is released into the delayed set for its 60 s backoff.
    assert wait_for(QUEUE, "reserved") == {
        "ready": 0, "delayed": 0, "reserved": 1, "oldest_seconds": None,
    }  # fmt: skip
    assert wait_for(FAILQ, "delayed") == {
        "ready": 0, "delayed": 1, "reserved": 0, "oldest_seconds": None,
    }  # fmt: skip
    text = queueops("metrics", "-i", str(filled), "--host", "app1").stdout
    assert f'queue="{FAILQ}",state="delayed"}} 1' in text
    clear(lab, "app1", FAILQ)


@on_each_database
def test_the_database_queue_on_db1_is_counted_by_state(lab: Lab, filled: Path) -> None:
    """app1 turned to QUEUE_CONNECTION=database: status counts its queue in db1's jobs table,
    through the app, ready, delayed and reserved apart."""
    env = "/var/www/app/.env"
    lab.ssh("app1", f"cp {env} /root/env.before")
    try:
        lab.ssh("app1", f"sed -i 's|^QUEUE_CONNECTION=.*|QUEUE_CONNECTION=database|' {env}")
        artisan(lab, "app1", "demo:dispatch", "--count=6", "--connection=database",
                f"--queue={QUEUE}")  # fmt: skip
        # One row made due in an hour (delayed), one reserved by a worker that is gone.
        ids = lab.sql(f"SELECT id FROM jobs WHERE queue = '{QUEUE}' ORDER BY id").split()
        assert len(ids) == 6, ids
        lab.sql(f"UPDATE jobs SET available_at = available_at + 3600 WHERE id = {ids[0]}")
        lab.sql(f"UPDATE jobs SET reserved_at = available_at, attempts = 1 WHERE id = {ids[1]}")
        doc = status_doc(filled, "--host", "app1")["hosts"]["app1"]
        assert doc["connection"] == "database", doc
        figures = doc["queues"][QUEUE]
        assert (figures["ready"], figures["delayed"], figures["reserved"]) == (4, 1, 1), doc
        assert figures["oldest_seconds"] is not None and figures["oldest_seconds"] >= 0
        text = queueops("metrics", "-i", str(filled), "--host", "app1").stdout
        labels = f'host="app1",connection="database",queue="{QUEUE}"'
        for state, count in (("ready", 4), ("delayed", 1), ("reserved", 1)):
            assert f'queueops_queue_jobs{{{labels},state="{state}"}} {count}' in text, text
    finally:
        lab.ssh("app1", f"cp /root/env.before {env}")
        lab.sql(f"DELETE FROM jobs WHERE queue = '{QUEUE}'")


def test_failed_jobs_and_database_queue_are_counted_on_sqlite_too(lab: Lab, filled: Path) -> None:
    """The app's own connection decides where figures come from: app2 turned to SQLite counts
    its SQLite file; app1 keeps db1. Two stores: `failed` reads each, none shared."""
    env = "/var/www/app/.env"
    lab.ssh("app2", f"cp {env} /root/env.before")
    sqlite = "/var/www/app/database/database.sqlite"
    lab.ssh("app2", f"sed -i 's|^DB_CONNECTION=.*|DB_CONNECTION=sqlite|; "
                    f"s|^DB_DATABASE=.*|DB_DATABASE={sqlite}|' {env}")  # fmt: skip
    count = f"sqlite3 {sqlite} 'SELECT COUNT(*) FROM {{}}'"
    try:
        artisan(lab, "app2", "demo:dispatch", "--count=2", f"--queue={FAILQ}", "--fail")
        artisan(lab, "app2", "queue:work", "redis", f"--queue={FAILQ}", "--stop-when-empty",
                "--tries=1", "--sleep=0")  # fmt: skip
        artisan(lab, "app2", "demo:dispatch", "--count=4", "--connection=database",
                f"--queue={QUEUE}")  # fmt: skip
        on_sqlite = int(lab.ssh("app2", count.format("failed_jobs")).stdout)
        assert on_sqlite >= 2
        doc = status_doc(filled, "--host", "app2")["hosts"]["app2"]
        assert doc["failed_jobs"] == on_sqlite, doc

        lab.ssh("app2", f"sed -i 's|^QUEUE_CONNECTION=.*|QUEUE_CONNECTION=database|' {env}")
        doc = status_doc(filled, "--host", "app2")["hosts"]["app2"]
        figures = doc["queues"][QUEUE]
        assert (figures["ready"], figures["delayed"], figures["reserved"]) == (4, 0, 0), doc
        assert doc["queues"][QUEUE]["oldest_seconds"] is not None

        listed = run_json("failed", "-i", str(filled), "--group", "workers")["hosts"]
        actions = {h: r["items"][0]["action"] for h, r in listed.items()}
        assert actions["app2"] == f"{on_sqlite} failed jobs:", actions
        assert actions["app1"] == f"{failed_rows(lab)} failed jobs:", actions
    finally:
        lab.ssh("app2", f"cp /root/env.before {env}")
        lab.ssh("app2", f"sqlite3 {sqlite} 'DELETE FROM jobs; DELETE FROM failed_jobs'")


# -- Horizon: one reading of its state, whatever Horizon 5.x prints -------------------------


def horizon_look(inv: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """app1 as status --json, verify --json and metrics see it."""
    doc = status_doc(inv)["hosts"]["app1"]
    checked = verify(inv, "--host", "app1")
    text = queueops("metrics", "-i", str(inv), "--host", "app1").stdout
    return doc, checked, text


def horizon_check(checked: dict[str, Any]) -> dict[str, Any]:
    [found] = [c for c in checked["hosts"]["app1"]["checks"] if c["name"] == "horizon_running"]
    return dict(found)


def wait_state(inv: Path, state: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = status_doc(inv)["hosts"]["app1"]
        if doc["horizon"]["state"] == state:
            return doc
        assert time.monotonic() < deadline, doc["horizon"]
        time.sleep(0.5)


def hand_master(lab: Lab) -> int:
    """A second Horizon master started by hand on app1, outside supervisord: its pid."""
    group = int(
        lab.ssh(
            "app1",
            "cd /var/www/app && ( setsid nohup runuser -u www-data -- php artisan horizon "
            "> /dev/null 2>&1 < /dev/null & echo $! )",
        ).stdout
    )
    deadline = time.monotonic() + 15
    while True:
        found = lab.ssh(
            "app1", cmd("pgrep", "-g", str(group), "-x", "-f", "php artisan horizon"), check=False
        ).stdout.split()
        if found:
            return int(found[0])
        assert time.monotonic() < deadline, "the second master did not start"
        time.sleep(0.2)


def reasons_about_horizon(doc: dict[str, Any]) -> list[str]:
    return [r for r in doc["reasons"] if "Horizon" in r]


def test_status_verify_and_metrics_read_horizon_as_it_is(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    """Running, paused by queueops (yellow, who and when), paused by hand (red), inactive, a
    master SIGKILLed a moment ago (Horizon still counts it) and two masters on one host:
    status, verify and metrics agree, under each Horizon release's messages."""
    inv = horizon_inventory(tmp_path, lab, environments(max_processes=1))
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    operator = getpass.getuser()
    second = 0
    try:
        doc, checked, text = horizon_look(inv)
        assert doc["horizon"]["state"] == "running" and doc["horizon"]["running"] is True
        master = states(lab, "app1")["horizon"][1]
        assert [m["pid"] for m in doc["horizon"]["masters"]] == [master]
        assert reasons_about_horizon(doc) == []
        assert horizon_check(checked)["outcome"] == "passed"
        assert 'queueops_horizon_state{host="app1",state="running"} 1' in text
        assert 'queueops_horizon_up{host="app1"} 1' in text

        # Paused by queueops: a state, yellow, with who and when, in status, verify, metrics.
        paused = run_json("pause", "-i", str(inv), "--host", "app1")
        [item] = paused["hosts"]["app1"]["items"]
        assert item["action"] == "horizon:pause" and item["detail"] == f"master {master} paused"
        doc, checked, text = horizon_look(inv)
        assert doc["horizon"]["state"] == "paused"
        assert doc["pause"]["operator"] == operator
        assert doc["pause"]["programs"] == {"horizon": "horizon"}
        since = doc["pause"]["since"]
        assert reasons_about_horizon(doc) == [
            f"yellow: Horizon paused by {operator} at {since} (invoke continue)"
        ]
        check = horizon_check(checked)
        assert check["outcome"] == "passed"
        assert check["warning"] == f"Horizon paused by {operator} at {since}: invoke continue"
        assert 'queueops_horizon_state{host="app1",state="paused"} 1' in text
        assert 'queueops_horizon_up{host="app1"} 1' in text
        assert re.search(
            r'^queueops_paused_since_timestamp_seconds\{host="app1",program="horizon",'
            rf'mode="horizon",operator="{operator}"\}} \d+', text, re.M
        ), text  # fmt: skip
        table = queueops("status", "-i", str(inv), "--host", "app1").stdout
        assert re.search(rf"^app1 .* {operator} at {since}\s+paused\b", table, re.M), table

        run_json("continue", "-i", str(inv), "--host", "app1")
        assert lab.ssh("app1", "test -e /var/lib/queueops/pause.json", check=False).returncode
        doc = status_doc(inv)["hosts"]["app1"]
        assert doc["horizon"]["state"] == "running" and doc["pause"] is None

        # Paused by hand: nobody recorded it, so it is red and verify fails.
        artisan(lab, "app1", "horizon:pause")
        wait_state(inv, "paused")
        doc, checked, text = horizon_look(inv)
        [reason] = reasons_about_horizon(doc)
        assert reason.startswith("red: Horizon is paused, and queueops recorded no pause: ")
        assert horizon_check(checked)["outcome"] == "failed"
        assert "queueops recorded no pause" in horizon_check(checked)["detail"]
        artisan(lab, "app1", "horizon:continue")
        wait_state(inv, "running")

        # Inactive: no master runs.
        lab.ssh("app1", "supervisorctl stop horizon")
        doc, checked, text = horizon_look(inv)
        assert doc["horizon"]["state"] == "inactive"
        assert "red: Horizon is not running (inactive): no master runs (program horizon is " \
               "STOPPED)" in doc["reasons"]  # fmt: skip
        assert "Horizon is not running here (inactive)" in horizon_check(checked)["detail"]
        assert 'queueops_horizon_state{host="app1",state="inactive"} 1' in text
        assert 'queueops_horizon_up{host="app1"} 0' in text
        lab.ssh("app1", "supervisorctl start horizon")
        master = wait_state(inv, "running")["horizon"]["masters"][0]["pid"]

        # Two masters on one host: Horizon does not refuse a second php artisan horizon.
        second = hand_master(lab)
        doc = wait_state(inv, "doubled")
        doc, checked, text = horizon_look(inv)
        assert {m["pid"]: m["supervised"] for m in doc["horizon"]["masters"]} == {
            master: True, second: False
        }  # fmt: skip
        [reason] = reasons_about_horizon(doc)
        assert reason.startswith("red: Horizon doubled: 2 masters on this host: ")
        assert "more than one master" in horizon_check(checked)["detail"]
        assert 'queueops_horizon_masters{host="app1"} 2' in text
        assert 'queueops_horizon_state{host="app1",state="doubled"} 1' in text
        table = queueops("status", "-i", str(inv), "--host", "app1").stdout
        assert re.search(r"^app1\s+red\s.*\s2 MASTERS\s", table, re.M), table

        # SIGKILLed, the second master leaves its registration: horizon:status still counts
        # it, the reading does not.
        lab.ssh("app1", cmd("kill", "-KILL", str(second)))
        doc = wait_state(inv, "running")
        assert [g["pid"] for g in doc["horizon"]["gone"]] == [second]
        assert (
            "is registered but gone here; Horizon counts it for another"
            in (doc["horizon"]["detail"])
        )

        # terminate proves a new master and nothing else: a second master started meanwhile
        # is terminated too.
        second = hand_master(lab)
        wait_state(inv, "doubled")
        done = run_json("terminate", "-i", str(inv), "--host", "app1", "--yes")
        new = states(lab, "app1")["horizon"][1]
        assert done["hosts"]["app1"]["items"][0]["detail"] == f"master pid {master} -> {new}"
        doc = wait_state(inv, "running")
        assert [m["pid"] for m in doc["horizon"]["masters"]] == [new]
    finally:
        if second:
            lab.ssh("app1", cmd("kill", "-TERM", str(second)), check=False)
        lab.ssh(
            "app1",
            "supervisorctl stop horizon; rm -f /etc/supervisor/conf.d/horizon.conf; "
            "supervisorctl update",
        )
