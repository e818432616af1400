"""The app's code runs as its worker user, never as root, and its queue connection is the one
Laravel resolves: the web user can write bootstrap/cache/*.php and .env, so whatever boots
the app runs what they wrote."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest

from queueops.agent.laravel import BOOT_PHP
from queueops.shell import cmd
from tests.conftest import Lab
from tests.integration.test_setup_worker import inventory, program, queueops, run_json

pytestmark = pytest.mark.lab

APP = "/var/www/app"
ENV = f"{APP}/.env"
QUEUE_PHP = f"{APP}/config/queue.php"
# Loaded by every boot of the app (its package manifest) and never rewritten once there.
PLANTED = f"{APP}/bootstrap/cache/packages.php"
PROOF = "/tmp/queueops-proof-"
# Each boot of the app leaves a file named after the uid that ran it.
PLANT = f"<?php\n@touch('{PROOF}' . posix_geteuid());\nreturn [];\n"


def proof_uids(lab: Lab) -> set[int]:
    out = lab.ssh("app1", f"ls {PROOF}* 2>/dev/null || true").stdout.split()
    return {int(name.removeprefix(PROOF)) for name in out}


@pytest.fixture
def root_deployed(lab: Lab) -> Generator[None, None, None]:
    """app1 as root deployed it (artisan root's) with a PHP file the web user planted in
    bootstrap/cache; no cached answer of the app; put back afterwards."""
    web = lab.web_user("app1")
    lab.ssh("app1", f"chown root:root {APP}/artisan && rm -rf /var/cache/queueops/laravel")
    lab.ssh(
        "app1",
        cmd("runuser", "-u", web, "--", "sh", "-c", f"cat > {PLANTED}") + f"<<'EOF'\n{PLANT}EOF",
    )
    lab.ssh("app1", f"rm -f {PROOF}*")
    try:
        yield
    finally:
        lab.ssh("app1", f"rm -f {PLANTED} {PROOF}*; chown {web}:{web} {APP}/artisan")


def test_facts_status_and_runbooks_boot_the_app_as_its_worker_user_only(
    lab: Lab, tmp_path: Path, root_deployed: None
) -> None:
    inv = inventory(tmp_path, lab, [program("asuser", ["asuser-q"], processes=1)])
    run_json("setup-worker", "-i", str(inv), "--host", "app1", "--check")
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    run_json("status", "-i", str(inv), "--host", "app1")
    assert queueops("metrics", "-i", str(inv), "--host", "app1").returncode == 0
    run_json("clear", "-i", str(inv), "--host", "app1", "--queue", "asuser-q", "--check")
    run_json("restart-queue", "-i", str(inv), "--host", "app1")
    web_uid = int(lab.ssh("app1", cmd("id", "-u", lab.web_user("app1"))).stdout)
    # The planted code ran, and only ever as the worker user.
    assert proof_uids(lab) == {web_uid}
    lab.ssh("app1", "supervisorctl stop asuser:*")


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("toor", "refusing to run the app at /var/www/app as 'toor': that user is uid 0"),
        ("ghost", "user 'ghost', who should run the app at /var/www/app, does not exist"),
    ],
)
def test_a_worker_user_of_uid_0_or_unknown_is_refused(
    lab: Lab, tmp_path: Path, root_deployed: None, user: str, why: str
) -> None:
    lab.ssh("app1", "id -u toor >/dev/null 2>&1 || useradd -o -u 0 -g 0 -M -s /bin/sh toor")
    inv = inventory(
        tmp_path, lab, [program("asuser", ["asuser-q"])], {"app1": {"queue_worker_user": user}}
    )
    for task in (["status"], ["setup-worker", "--check"]):
        result = queueops(*task, "-i", str(inv), "--host", "app1", "--json")
        assert result.returncode == 1, result.stdout + result.stderr
        error = json.loads(result.stdout)["hosts"]["app1"]["error"]
        assert "app1: " in error and why in error, error
        assert "Traceback" not in result.stderr
    assert proof_uids(lab) == set()


def laravel_queue_default(lab: Lab) -> str:
    """config('queue.default') as the app itself resolves it, asked as its user."""
    php = BOOT_PHP + "echo config('queue.default');"
    command = cmd("runuser", "-u", lab.web_user("app1"), "--", "php", "-r", php)
    return lab.ssh("app1", f"cd {APP} && {command}").stdout.strip()


@pytest.fixture
def app_files(lab: Lab) -> Generator[None, None, None]:
    saved = {path: lab.ssh("app1", f"cat {path}").stdout for path in (ENV, QUEUE_PHP)}
    try:
        yield
    finally:
        for path, text in saved.items():
            lab.ssh("app1", f"cat > {path} <<'EOF'\n{text}EOF")


@pytest.mark.parametrize(
    ("env_tail", "queue_php"),
    [
        # phpdotenv's `export` takes any blank, and the last assignment wins.
        ("export\tQUEUE_CONNECTION=database\n", None),
        # The app's config reads another variable first.
        (
            "QUEUE_DRIVER=database\n",
            ("env('QUEUE_CONNECTION', 'redis')", "env('QUEUE_DRIVER', env('QUEUE_CONNECTION'))"),
        ),
    ],
    ids=["export-tab", "queue-driver"],
)
def test_plan_and_status_use_the_connection_laravel_resolves(
    lab: Lab, tmp_path: Path, app_files: None, env_tail: str, queue_php: tuple[str, str] | None
) -> None:
    lab.ssh("app1", f"printf '%s' {cmd(env_tail)} >> {ENV}")
    if queue_php:
        old, new = queue_php
        lab.ssh("app1", f"sed -i {cmd(f's|{old}|{new}|')} {QUEUE_PHP}")
    # .env still has QUEUE_CONNECTION=redis on its own line: a reading by hand says redis.
    assert "QUEUE_CONNECTION=redis" in lab.ssh("app1", f"cat {ENV}").stdout
    assert laravel_queue_default(lab) == "database"
    pinned = inventory(tmp_path, lab, [program("onconn", ["onconn-q"], connection="database")])
    plan = run_json("setup-worker", "-i", str(pinned), "--host", "app1", "--check")
    assert plan["hosts"]["app1"]["status"] == "changed", plan
    # Its exit code grades the host's health (no supervisord yet here), not this.
    status = queueops("status", "-i", str(pinned), "--host", "app1", "--json")
    doc = json.loads(status.stdout)["hosts"]["app1"]
    assert doc["connection"] == "database", doc


def test_a_fallback_the_apps_config_would_ignore_is_refused_and_env_put_back(
    lab: Lab, tmp_path: Path, app_files: None
) -> None:
    """config/queue.php reads QUEUE_DRIVER alone: QUEUE_CONNECTION=database in .env would
    leave the app dispatching to Redis while its workers moved to the database."""
    lab.ssh("app1", f"printf 'QUEUE_DRIVER=redis\\n' >> {ENV}")
    edit = "s|env('QUEUE_CONNECTION', 'redis')|env('QUEUE_DRIVER', 'redis')|"
    lab.ssh("app1", f"sed -i {cmd(edit)} {QUEUE_PHP}")
    before = lab.ssh("app1", f"sha256sum {ENV}").stdout
    inv = inventory(tmp_path, lab, [program("ignored", ["ignored-q"], processes=1)])
    result = queueops("fallback-to-database", "-i", str(inv), "--host", "app1", "--yes", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["hosts"]["app1"]["error"]
    assert "the app still resolves its queue connection to 'redis'" in error, error
    assert "Traceback" not in result.stderr
    assert lab.ssh("app1", f"sha256sum {ENV}").stdout == before
    marker = lab.ssh("app1", "test -e /var/lib/queueops/fallback.json", check=False)
    assert marker.returncode != 0
    assert laravel_queue_default(lab) == "redis"
