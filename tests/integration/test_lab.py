"""The lab behaves like a fleet of separate fresh servers of two flavours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queueops.agent.laravel import BOOT_PHP
from queueops.lab import control
from queueops.lab.fleet import DATABASES, DB_CONNECTIONS, repo_root
from queueops.shell import cmd
from tests.conftest import Lab, on_each_database
from tests.integration.test_setup_worker import artisan

pytestmark = pytest.mark.lab

INVOKE = str(Path(sys.executable).with_name("invoke"))


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_hosts_are_separate_machines(lab: Lab) -> None:
    assert lab.ssh("app1", "hostname").stdout.strip() == "app1"
    assert lab.ssh("app2", "hostname").stdout.strip() == "app2"
    lab.ssh("app1", "echo only-on-app1 > /etc/lab-marker && (setsid sleep 300 >/dev/null 2>&1 &)")
    assert lab.ssh("app2", "test -e /etc/lab-marker", check=False).returncode == 1
    assert not Path("/etc/lab-marker").exists(), "a lab host wrote through to this machine"
    assert "sleep 300" in lab.ssh("app1", "ps -eo args").stdout
    assert "sleep 300" not in lab.ssh("app2", "ps -eo args").stdout
    # PID 1 of every host is its own init, not this machine's.
    assert "hostinit" in lab.ssh("app2", "cat /proc/1/cmdline").stdout
    lab.ssh("app1", "pkill -f '^sleep 300$'; rm /etc/lab-marker")


def test_root_and_deploy_with_sudo(lab: Lab) -> None:
    for host in ("app1", "app2", "redis1"):
        assert lab.ssh(host, "id -un").stdout.strip() == "root"
        assert lab.ssh(host, "id -un", user="deploy").stdout.strip() == "deploy"
        assert lab.ssh(host, "sudo -n id -un", user="deploy").stdout.strip() == "root"


def test_homes_are_clean(fresh_lab: Lab) -> None:
    lab = fresh_lab
    listing = lab.ssh("app1", "ls -A /root").stdout.split()
    assert sorted(listing) == [".bashrc", ".profile", ".ssh"]
    keys = lab.ssh("app1", "cat /root/.ssh/authorized_keys").stdout.splitlines()
    assert keys == [lab.paths.key.with_suffix(".pub").read_text().strip()]
    # Only the lab's own users: deploy (passwordless sudo) and ops (sudo with a password).
    assert lab.ssh("app2", "ls -A /home").stdout.split() == ["deploy", "ops"]


def test_ops_sudo_asks_for_its_password(lab: Lab) -> None:
    password = lab.paths.ops_password.read_text().strip()
    refused = lab.ssh("app1", "sudo -n id -un", user="ops", check=False)
    assert refused.returncode != 0 and "password is required" in refused.stderr
    command = f"printf '%s\\n' {password} | sudo -S -p '' id -un"
    assert lab.ssh("app1", command, user="ops").stdout.strip() == "root"


@pytest.mark.parametrize(
    ("host", "os_id", "main_config", "program_dir", "service"),
    [
        (
            "app1",
            "ubuntu",
            "/etc/supervisor/supervisord.conf",
            "/etc/supervisor/conf.d",
            "supervisor",
        ),
        ("app2", "centos", "/etc/supervisord.conf", "/etc/supervisord.d", "supervisord"),
    ],
)
def test_flavour_layout_and_service(
    fresh_lab: Lab, host: str, os_id: str, main_config: str, program_dir: str, service: str
) -> None:
    lab = fresh_lab
    release = lab.ssh(host, ". /etc/os-release && echo $ID").stdout.strip()
    assert release == os_id
    lab.ssh(host, f"test -f {main_config} && test -d {program_dir}")
    assert lab.ssh(host, f"ls -A {program_dir}").stdout.strip() == ""
    other = "/etc/supervisord.d" if os_id == "ubuntu" else "/etc/supervisor"
    assert lab.ssh(host, f"test -e {other}", check=False).returncode == 1
    # Installed but not running: starting it is the toolkit's job.
    assert "supervisord" not in lab.ssh(host, "ps -eo comm,args").stdout
    lab.ssh(host, f"service {service} start")
    lab.ssh(host, "for i in $(seq 50); do supervisorctl status && exit 0; sleep 0.1; done; exit 1")
    lab.ssh(host, f"service {service} stop")


def test_redis_serves_app_hosts_with_password(lab: Lab) -> None:
    password = lab.paths.redis_password.read_text().strip()
    ping = f"REDISCLI_AUTH={password} redis-cli -h 127.0.1.10 ping"
    assert lab.ssh("app2", ping).stdout.strip() == "PONG"
    denied = lab.ssh("app1", "redis-cli -h 127.0.1.10 ping").stdout
    assert "NOAUTH" in denied


@on_each_database
def test_up_is_idempotent_and_status_lists_hosts(lab: Lab) -> None:
    before = control.running_hosts(lab.paths)
    # Without --database, lab.up keeps the server db1 runs; with it, that same one.
    for args in ((), ("--database", lab.database)):
        result = invoke("lab.up", *args)
        assert result.returncode == 0, result.stderr
        assert "already up" in result.stdout
    assert control.running_hosts(lab.paths) == before
    # Another server would leave the app hosts' .env pointing at the old one: refused.
    other = next(d for d in DATABASES if d != lab.database)
    refused = invoke("lab.up", "--database", other)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"the lab runs with {lab.database} on db1" in refused.stderr
    assert f"invoke lab.down && invoke lab.up --database {other}" in refused.stderr
    unknown = invoke("lab.up", "--database", "oracle")
    assert unknown.returncode == 2
    assert "--database must be one of postgresql, mariadb, got 'oracle'" in unknown.stderr
    assert control.running_hosts(lab.paths) == before
    table = invoke("lab.status").stdout
    for name, address, flavour in (
        ("redis1", "127.0.1.10", "ubuntu"),
        ("db1", "127.0.1.8", "ubuntu"),
        ("app1", "127.0.1.11", "ubuntu"),
        ("app2", "127.0.1.12", "centos"),
    ):
        assert any(
            line.split()[:3] == [name, address, flavour] and " up " in line
            for line in table.splitlines()
        ), table


def test_up_refuses_an_address_already_taken(lab: Lab, tmp_path: Path) -> None:
    # A second lab in another folder finds 127.0.1.10:22 held by the first one.
    result = invoke("lab.up", env={"QUEUEOPS_LAB_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "127.0.1.10:22 is already in use" in result.stderr
    assert control.running_hosts(lab.paths).keys() == {"redis1", "db1", "app1", "app2"}


def test_up_without_root_names_what_is_needed(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    result = subprocess.run(
        ["runuser", "-u", "nobody", "--", INVOKE, "lab.up"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        env={**os.environ, "QUEUEOPS_LAB_DIR": str(tmp_path)},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "needs root" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_with_nothing_running_is_quiet(tmp_path: Path) -> None:
    result = invoke("lab.down", env={"QUEUEOPS_LAB_DIR": str(tmp_path)})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def overlay_mounts(lab_dir: Path) -> list[str]:
    found = []
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            text = mountinfo.read_text()
        except OSError:
            continue
        found += [line for line in text.splitlines() if f"{lab_dir}/" in line]
    return found


def test_down_leaves_nothing_behind(lab: Lab) -> None:
    assert overlay_mounts(lab.paths.root), "expected the running lab to hold overlay mounts"
    result = invoke("lab.down")
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert control.running_hosts(lab.paths) == {}
    assert overlay_mounts(lab.paths.root) == []
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    for host in lab.hosts.values():
        assert f"{host.address}:" not in listening
    ours = str(lab.paths.root / "hosts")
    hostinits = subprocess.run(["pgrep", "-f", ours], capture_output=True, text=True)
    assert hostinits.stdout == ""


# The app's login from an app host with the lab's password, and what a wrong one gets.
LOGINS = {
    "postgresql": ("PGPASSWORD={} psql -h 127.0.1.8 -U app -d app -At -c 'SELECT 1'",
                   "password authentication failed"),
    "mariadb": ("MYSQL_PWD={} mariadb -h 127.0.1.8 -u app -D app -N -e 'SELECT 1'",
                "Access denied for user 'app'"),
}  # fmt: skip
TABLES = {
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    "mariadb": "SHOW TABLES",
}
# The server's version and how the app's database queue reserves a job: Laravel 8 picks
# FOR UPDATE SKIP LOCKED from PostgreSQL 9.5, MySQL 8.0.1 and MariaDB 10.6 on, plain row
# locks (`true`) before.
RESERVATION_PHP = (
    BOOT_PHP
    + r"""
$queue = $app['queue']->connection('database');
$lock = new ReflectionMethod($queue, 'getLockForPopping');
$lock->setAccessible(true);
echo $queue->getDatabase()->getPdo()->getAttribute(PDO::ATTR_SERVER_VERSION), "\n";
echo var_export($lock->invoke($queue), true), "\n";
"""
)


@on_each_database
def test_db1_serves_the_apps_migrated_database_with_a_password(lab: Lab) -> None:
    tables = lab.sql(TABLES[lab.database]).split()
    assert {"jobs", "failed_jobs", "migrations"} <= set(tables)
    # Both flavours reach it with the app's own .env credentials.
    for host in ("app1", "app2"):
        status = artisan(lab, host, "migrate:status")
        assert "create_jobs_table" in status and "create_failed_jobs_table" in status, status
        env = lab.ssh(host, "grep ^DB_CONNECTION= /var/www/app/.env").stdout.strip()
        assert env == f"DB_CONNECTION={DB_CONNECTIONS[lab.database]}"
    login, refusal = LOGINS[lab.database]
    refused = lab.ssh("app1", login.format("wrong"), check=False)
    assert refused.returncode != 0 and refusal in refused.stderr, refused.stderr
    password = lab.paths.db_password.read_text().strip()
    assert lab.ssh("app2", login.format(password)).stdout.strip() == "1"

    reserve = (
        cmd("cd", "/var/www/app")
        + " && "
        + cmd("runuser", "-u", "www-data", "--", "php", "-r", RESERVATION_PHP)
    )
    version, lock = lab.ssh("app1", reserve).stdout.split("\n")[-3:-1]
    print(f"db1: {lab.database} {version}, the database queue reserves with {lock}")
    assert lock == "'FOR UPDATE SKIP LOCKED'", (version, lock)
