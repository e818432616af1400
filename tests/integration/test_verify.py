"""invoke verify and stop-stale-workers on the lab: each check passes on a right host and
fails for the reason it exists; the seeds' incident from detection to a processed job."""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
import pty
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.lab.fleet import repo_root
from queueops.shell import cmd
from tests.conftest import HorizonContract, Lab
from tests.integration.test_setup_worker import (
    INVOKE,
    PROGRAM_DIR,
    artisan,
    inventory,
    program,
    queueops,
    run_json,
    wait_processed,
)
from tests.integration.test_vault import command_lines

pytestmark = pytest.mark.lab

PROGRAMS = [program("demo", ["default"], processes=2, memory=128)]
FALLBACK = "/var/lib/queueops/fallback.json"


def verify(inv: Path, *select: str, expect: int | None = None) -> dict[str, Any]:
    result = queueops("verify", "-i", str(inv), *(select or ("--group", "workers")), "--json")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    if expect is not None:
        assert result.returncode == expect, result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def failed(doc: dict[str, Any], host: str) -> dict[str, str]:
    """Failed check name → its detail."""
    return {
        c["name"]: c["detail"] for c in doc["hosts"][host]["checks"] if c["outcome"] == "failed"
    }


def outcome(doc: dict[str, Any], host: str, check: str) -> str:
    found = [c["outcome"] for c in doc["hosts"][host]["checks"] if c["name"] == check]
    assert found, doc["hosts"][host]
    return str(found[0])


def converged(
    tmp: Path, lab: Lab, select: tuple[str, ...] = ("--group", "workers"), **extra: Any
) -> Path:
    inv = inventory(tmp, lab, PROGRAMS, **extra)
    run_json("setup-worker", "-i", str(inv), *select)
    return inv


def start_by_hand(lab: Lab, host: str, name: str) -> int:
    """A worker started by hand in the background, outside supervisor: its php pid."""
    lab.ssh(
        host,
        f"cd /var/www/app && (setsid runuser -u {lab.web_user(host)} -- php artisan queue:work "
        f"redis --sleep=1 --name={name} >/dev/null 2>&1 < /dev/null &)",
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = lab.ssh(host, f"pgrep -u {lab.web_user(host)} -f 'name={name}'", check=False)
        if out.stdout.split():
            return int(out.stdout.split()[0])
        time.sleep(0.1)
    raise AssertionError("the hand-started worker did not start")


def test_seed_incident_detected_repaired_and_proven(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    # The incident: the app dispatches to redis (its .env), but someone hand-edited the
    # program to run `queue:work database`, and started a worker by hand outside supervisor.
    conf = f"{PROGRAM_DIR['app1']}/demo.conf"
    lab.ssh("app1", f"sed -i 's/queue:work redis/queue:work database/' {conf}")
    lab.ssh("app1", "supervisorctl update demo")
    stale_pid = start_by_hand(lab, "app1", "by-hand")

    doc = verify(inv, "--host", "app1", expect=1)
    problems = failed(doc, "app1")
    assert "worker_connection_matches_app" in problems, problems
    assert "queue:work database" in problems["worker_connection_matches_app"]
    assert "'redis'" in problems["worker_connection_matches_app"]
    assert "managed_files_match_inventory" in problems
    assert conf in problems["managed_files_match_inventory"]
    assert f"pid {stale_pid} " in problems["no_stale_workers"], problems["no_stale_workers"]
    assert "name=by-hand" in problems["no_stale_workers"]
    text = queueops("verify", "-i", str(inv), "--host", "app1")
    assert "FAILED no_stale_workers" in text.stdout and str(stale_pid) in text.stdout

    repaired = run_json("setup-worker", "-i", str(inv), "--host", "app1")
    assert repaired["hosts"]["app1"]["changed"] >= 1
    assert set(failed(verify(inv, "--host", "app1"), "app1")) == {"no_stale_workers"}

    # The stop is a separate, confirmed step: without a terminal and without --yes it refuses.
    refused = queueops("stop-stale-workers", "-i", str(inv), "--host", "app1")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--yes" in refused.stdout + refused.stderr
    assert lab.ssh("app1", f"kill -0 {stale_pid}", check=False).returncode == 0
    stopped = queueops("stop-stale-workers", "-i", str(inv), "--host", "app1", "--yes")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert str(stale_pid) in stopped.stdout
    assert lab.ssh("app1", f"kill -0 {stale_pid}", check=False).returncode != 0

    doc = verify(inv, "--host", "app1", expect=0)
    assert doc["hosts"]["app1"]["status"] == "passed"
    ids = artisan(lab, "app1", "demo:dispatch", "--count=1").split()
    done = wait_processed(lab, ids)
    assert [r["id"] for r in done] == ids


def test_every_check_passes_on_converged_hosts_of_both_flavours(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    doc = verify(inv, expect=0)
    for host in ("app1", "app2"):
        outcomes = {c["name"]: c["outcome"] for c in doc["hosts"][host]["checks"]}
        assert outcomes == {
            "supervisord_running": "passed",
            "programs_running": "passed",
            "managed_files_match_inventory": "passed",
            "worker_connection_matches_app": "passed",
            "no_stale_workers": "passed",
            "redis_reachable_noeviction": "passed",
            # Not configured for these hosts here: see the Horizon test.
            "horizon_running": "skipped",
            "fallback_inactive": "passed",
            # App hosts, not Redis hosts: see test_redis_health.
            "redis_server_healthy": "skipped",
            # Not in the scheduler group here: see test_scheduler.
            "scheduler_running": "skipped",
            "schedule_keeps_the_queue_tidy": "skipped",
        }, outcomes


def test_supervisord_down_fails_its_check(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    lab.ssh("app2", "supervisorctl shutdown")
    try:
        problems = failed(verify(inv, "--host", "app2", expect=1), "app2")
        assert "does not answer" in problems["supervisord_running"], problems
    finally:
        run_json("setup-worker", "-i", str(inv), "--host", "app2")
    assert outcome(verify(inv, "--host", "app2"), "app2", "supervisord_running") == "passed"


def test_a_stopped_process_fails_programs_running(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    lab.ssh("app1", "supervisorctl stop demo:demo_01")
    problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
    assert "program demo: 1/2 RUNNING" in problems["programs_running"], problems
    assert "demo_01 STOPPED" in problems["programs_running"]


def test_a_program_pause_stopped_passes_with_a_warning_until_continue(
    lab: Lab, tmp_path: Path
) -> None:
    """A program with --max-time is paused by a graceful stop: paused, not down, while
    queueops' pause marker records it; the same stop by hand is an outage."""
    # Its program has the default --max-time (3600 s).
    inv = converged(tmp_path, lab)
    try:
        run_json("pause", "-i", str(inv), "--host", "app1")
        doc = verify(inv, "--host", "app1", expect=0)
        [check] = [c for c in doc["hosts"]["app1"]["checks"] if c["name"] == "programs_running"]
        assert check["outcome"] == "passed"
        assert re.fullmatch(
            rf"program demo paused by {getpass.getuser()} at \S+Z: invoke continue",
            check["warning"],
        ), check
        run_json("continue", "-i", str(inv), "--host", "app1")
        lab.ssh("app1", "supervisorctl stop demo:*")
        problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
        assert "program demo: 0/2 RUNNING" in problems["programs_running"], problems
    finally:
        run_json("continue", "-i", str(inv), "--host", "app1")


def test_a_flapping_program_fails_programs_running(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    # A worker that dies a moment after it starts: supervisord keeps restarting it.
    conf = f"{PROGRAM_DIR['app1']}/demo.conf"
    lab.ssh(
        "app1",
        f'sed -i \'s|^command=.*|command=/bin/sh -c "sleep 0.3; exit 1"|; '
        f"s|^startsecs=.*|startsecs=0|' {conf} && supervisorctl update demo",
    )
    time.sleep(1)
    problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
    assert "flapping" in problems["programs_running"], problems
    # Each exit is a restart in supervisord's log, which metrics count.
    text = queueops("metrics", "-i", str(inv), "--host", "app1").stdout
    counts = re.findall(
        r'^queueops_worker_restarts_total\{host="app1",program="demo",process="demo_0\d"\} (\d+)',
        text,
        re.M,
    )
    assert len(counts) == 2 and all(int(n) >= 2 for n in counts), text
    run_json("setup-worker", "-i", str(inv), "--host", "app1")


def test_cached_config_that_disagrees_with_env_fails_the_connection_check(
    lab: Lab, tmp_path: Path
) -> None:
    inv = converged(tmp_path, lab)
    env = "/var/www/app/.env"
    lab.ssh(
        "app2",
        f"cp {env} {env}.orig && sed -i 's/^QUEUE_CONNECTION=.*/QUEUE_CONNECTION=database/' {env}",
    )
    try:
        artisan(lab, "app2", "config:cache")
        lab.ssh("app2", f"mv {env}.orig {env}")
        problems = failed(verify(inv, "--host", "app2", expect=1), "app2")
        detail = problems["worker_connection_matches_app"]
        assert "config.php dispatches to 'database'" in detail and "redis" in detail, detail
    finally:
        lab.ssh("app2", f"test ! -f {env}.orig || mv {env}.orig {env}")
        artisan(lab, "app2", "config:clear")
    assert outcome(verify(inv, "--host", "app2"), "app2", "worker_connection_matches_app") == (
        "passed"
    )


def test_evicting_redis_and_wrong_password_fail_the_redis_check(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    # The password stays on the hosts: redis-cli reads it from the environment there.
    auth = "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/redis.conf)"
    lab.ssh(
        "redis1",
        f"{auth} redis-cli -h {lab.address('redis1')} CONFIG SET maxmemory-policy allkeys-lru",
    )
    try:
        problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
        assert "allkeys-lru" in problems["redis_reachable_noeviction"], problems
    finally:
        lab.ssh(
            "redis1",
            f"{auth} redis-cli -h {lab.address('redis1')} CONFIG SET maxmemory-policy noeviction",
        )
    env = "/var/www/app/.env"
    password = lab.ssh("app1", f"sed -n 's/^REDIS_PASSWORD=//p' {env}").stdout.strip()
    lab.ssh(
        "app1", f"cp {env} {env}.orig && sed -i 's/^REDIS_PASSWORD=.*/REDIS_PASSWORD=wrong/' {env}"
    )
    try:
        result = queueops("verify", "-i", str(inv), "--host", "app1", "--json")
        problems = failed(json.loads(result.stdout), "app1")
        assert "refused its .env credentials" in problems["redis_reachable_noeviction"], problems
        assert password not in result.stdout + result.stderr
    finally:
        lab.ssh("app1", f"mv {env}.orig {env}")
    assert outcome(verify(inv, "--host", "app1"), "app1", "redis_reachable_noeviction") == "passed"


def test_horizon_where_configured(
    lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    horizon = {
        "horizon_app_path": "/var/www/app",
        "horizon_environments": {
            "production": {
                "supervisor-1": {
                    "connection": "redis",
                    "queue": ["horizon-q"],
                    "balance": "simple",
                    "minProcesses": 1,
                    "maxProcesses": 1,
                    "tries": 3,
                    "timeout": 60,
                }
            }
        },
    }
    inv = converged(tmp_path, lab, host_vars={"app1": horizon})
    problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
    assert "Horizon is not running here" in problems["horizon_running"], problems
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    try:
        doc = verify(inv, "--host", "app1", expect=0)
        assert outcome(doc, "app1", "horizon_running") == "passed"
        # status and metrics report the same Horizon.
        status = json.loads(queueops("status", "-i", str(inv), "--host", "app1", "--json").stdout)
        assert status["hosts"]["app1"]["horizon"]["running"] is True
        assert "horizon-q" in status["hosts"]["app1"]["queues"]
        text = queueops("metrics", "-i", str(inv), "--host", "app1").stdout
        assert 'queueops_horizon_up{host="app1"} 1' in text
        # A pause queueops recorded passes with a warning; one nobody recorded fails.
        run_json("pause", "-i", str(inv), "--host", "app1")
        doc = verify(inv, "--host", "app1", expect=0)
        [check] = [c for c in doc["hosts"]["app1"]["checks"] if c["name"] == "horizon_running"]
        assert check["outcome"] == "passed" and check["warning"].startswith(
            f"Horizon paused by {getpass.getuser()} at "
        ), check
        run_json("continue", "-i", str(inv), "--host", "app1")
        artisan(lab, "app1", "horizon:pause")
        deadline = time.monotonic() + 20
        while (problems := failed(verify(inv, "--host", "app1"), "app1")).get(
            "horizon_running"
        ) is None:
            assert time.monotonic() < deadline, "horizon:pause by hand did not fail verify"
            time.sleep(0.5)
        assert (
            "Horizon is paused here, and queueops recorded no pause"
            in (problems["horizon_running"])
        )
        artisan(lab, "app1", "horizon:continue")
    finally:
        lab.ssh(
            "app1",
            "supervisorctl stop horizon; rm -f /etc/supervisor/conf.d/horizon.conf; "
            "supervisorctl update",
        )


def test_an_active_fallback_fails_and_is_reported(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    marker = json.dumps({"active": True, "since": "2026-01-01T00:00:00Z", "to": "database"})
    lab.ssh("app2", f"mkdir -p /var/lib/queueops && echo '{marker}' > {FALLBACK}")
    try:
        problems = failed(verify(inv, "--host", "app2", expect=1), "app2")
        assert FALLBACK in problems["fallback_inactive"], problems
        assert "to=database" in problems["fallback_inactive"]
    finally:
        lab.ssh("app2", f"rm -f {FALLBACK}")
    assert outcome(verify(inv, "--host", "app2"), "app2", "fallback_inactive") == "passed"


def test_operator_checks_in_verify_d_run_too(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    (inv / "verify.d").mkdir()
    (inv / "verify.d" / "test_site.py").write_text(
        "def test_release_marker(host):\n"
        '    """The deploy leaves a RELEASE file in the app."""\n'
        '    assert host.file("/var/www/app/RELEASE").exists, "no RELEASE file"\n'
    )
    problems = failed(verify(inv, "--host", "app1", expect=1), "app1")
    assert "no RELEASE file" in problems["verify.d/test_site.py::release_marker"], problems
    lab.ssh("app1", "touch /var/www/app/RELEASE")
    try:
        assert verify(inv, "--host", "app1", expect=0)["hosts"]["app1"]["status"] == "passed"
    finally:
        lab.ssh("app1", "rm -f /var/www/app/RELEASE")


def test_unreachable_host_fails_without_stopping_the_others(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab, ("--host", "app1"), host_vars={"app2": {"ansible_port": 2}})
    result = subprocess.run(
        [INVOKE, "verify", "-i", str(inv), "--group", "workers"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"},
    )
    assert result.returncode == 1
    assert "app1: PASS" in result.stdout, result.stdout
    assert "app2: FAIL (not checked) cannot observe the host" in result.stdout


def test_a_host_without_app_or_programs_passes_with_skips(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["redis"] = {
        "hosts": {"redis1": {"ansible_host": lab.address("redis1")}}
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    doc = verify(inv, "--host", "redis1", expect=0)
    outcomes = {c["name"]: c["outcome"] for c in doc["hosts"]["redis1"]["checks"]}
    assert outcomes["supervisord_running"] == "skipped"
    assert outcomes["programs_running"] == "skipped"
    assert outcomes["no_stale_workers"] == "passed"


def test_stop_stale_workers_asks_on_a_terminal(lab: Lab, tmp_path: Path) -> None:
    inv = converged(tmp_path, lab, ("--host", "app2"))
    pid = start_by_hand(lab, "app2", "asked")

    def answer(reply: str) -> tuple[int, str]:
        main, secondary = pty.openpty()
        proc = subprocess.Popen(
            [INVOKE, "stop-stale-workers", "-i", str(inv), "--host", "app2"],
            cwd=repo_root(),
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"},
        )
        os.write(main, reply.encode())
        out, _ = proc.communicate(timeout=120)
        os.close(main)
        os.close(secondary)
        return proc.returncode, out

    code, out = answer("n\n")
    assert code == 1 and "nothing was stopped" in out, out
    assert f"pid {pid} " in out and "name=asked" in out
    assert lab.ssh("app2", f"kill -0 {pid}", check=False).returncode == 0
    code, out = answer("y\n")
    assert code == 0, out
    assert lab.ssh("app2", f"kill -0 {pid}", check=False).returncode != 0


def revealed(text: str) -> str:
    """`text` with every long base64 run in it decoded beside it: a secret sent base64-encoded
    on a command line is as visible as one in clear."""
    decoded = [text]
    for run in re.findall(r"[A-Za-z0-9+/]{64,}={0,2}", text):
        with contextlib.suppress(ValueError):
            whole = base64.b64decode(run[: len(run) - len(run) % 4])
            decoded.append(whole.decode(errors="replace"))
    return "\n".join(decoded)


def test_verify_sends_the_redis_password_on_stdin_never_on_a_command_line(
    lab: Lab, tmp_path: Path
) -> None:
    # verify as deploy through sudo, which logs every command it runs (sudo's own log file).
    password = lab.paths.redis_password.read_text().strip()
    inv = inventory(tmp_path, lab, PROGRAMS, user="deploy", become=True)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["redis"] = {
        "hosts": {"redis1": {"ansible_host": lab.address("redis1")}}
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inv / "group_vars" / "redis.yml").write_text(
        yaml.safe_dump({"redis_queue_password": password})
    )
    sudo_log = "/var/log/queueops-test-sudo.log"
    log_rule = f"Defaults logfile={sudo_log}, loglinelen=0\n"
    lab.ssh("redis1", f"rm -f {sudo_log}; printf %s {cmd(log_rule)} > /etc/sudoers.d/zz-log; "
                      "chmod 0440 /etc/sudoers.d/zz-log")  # fmt: skip
    try:
        with command_lines() as seen:
            doc = verify(inv, "--host", "redis1", expect=0)
        logged = lab.ssh("redis1", f"cat {sudo_log}").stdout
    finally:
        lab.ssh("redis1", f"rm -f /etc/sudoers.d/zz-log {sudo_log}", check=False)
    # The observation carried the password: redis1's server answered with it.
    assert outcome(doc, "redis1", "redis_server_healthy") == "passed"
    assert "COMMAND=" in logged
    assert password not in revealed(logged)
    assert not [line for line in seen if password in revealed(line)]
