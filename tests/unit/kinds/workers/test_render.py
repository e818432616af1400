"""Queue connection resolution, offline rendering and writing a rendered tree."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from queueops.errors import InventoryError
from queueops.kinds import host_settings
from queueops.kinds.workers.render import (
    QueueConnectionError,
    render_offline,
    resolve_connection,
    worker_command,
)
from queueops.kinds.workers.settings import Program, WorkerSettings
from queueops.plan.templates import write_tree

from ...trees import load_web1

ENV_FILE = "/var/www/app/.env"


def _program(connection: str | None) -> Program:
    return Program(
        name="emails",
        queues=("emails", "default"),
        connection=connection,
        processes=1,
        sleep=3,
        tries=3,
        max_time=3600,
        timeout=60,
        memory=256,
        backoff=(5, 10),
        user=None,
        stopwaitsecs=75,
        startsecs=1,
    )


def test_the_env_decides_when_nothing_is_pinned() -> None:
    assert resolve_connection(_program(None), "database", ENV_FILE) == "database"


def test_a_pin_agreeing_with_the_env_is_used() -> None:
    assert resolve_connection(_program("redis"), "redis", ENV_FILE) == "redis"


@pytest.mark.parametrize("env", [None, ""])
def test_a_pin_stands_alone_when_the_env_is_silent(env: str | None) -> None:
    assert resolve_connection(_program("redis"), env, ENV_FILE) == "redis"


def test_a_pin_disagreeing_with_the_env_names_program_both_values_and_the_env_file() -> None:
    with pytest.raises(QueueConnectionError) as caught:
        resolve_connection(_program("database"), "redis", ENV_FILE)
    message = str(caught.value)
    assert message.startswith("program emails: pinned connection 'database' disagrees with ")
    assert f"QUEUE_CONNECTION='redis' in {ENV_FILE}" in message
    assert caught.value.exit_code == 1


def test_no_pin_and_no_env_connection_is_refused() -> None:
    with pytest.raises(QueueConnectionError) as caught:
        resolve_connection(_program(None), None, ENV_FILE)
    assert str(caught.value).startswith(
        f"program emails: no queue connection: the app resolves no QUEUE_CONNECTION from {ENV_FILE}"
    )


@pytest.mark.parametrize("env", ["redis; reboot", "-v", "redis\n"])
def test_an_unsafe_env_connection_never_reaches_the_command(env: str) -> None:
    with pytest.raises(QueueConnectionError, match="not a safe connection name"):
        resolve_connection(_program(None), env, ENV_FILE)


def test_worker_command_splits_back_into_its_argv() -> None:
    worker = WorkerSettings(
        app_path="/srv/app", php="php8.2", retry_after=90, log_dir="/srv/logs", programs=()
    )
    # Supervisor splits `command=` with shlex, so the quoted line must give back the argv.
    assert shlex.split(worker_command(worker, _program(None), "redis")) == [
        "php8.2",
        "/srv/app/artisan",
        "queue:work",
        "redis",
        "--queue=emails,default",
        "--sleep=3",
        "--tries=3",
        "--max-time=3600",
        "--timeout=60",
        "--memory=256",
        "--backoff=5,10",
    ]


PINNED = {"queue_worker_programs": [{"name": "emails", "queues": ["e"], "connection": "redis"}]}


def test_offline_render_needs_os_family_and_says_where_to_set_it(tmp_path: Path) -> None:
    host, keys = load_web1(tmp_path, host_vars=PINNED)
    with pytest.raises(InventoryError) as caught:
        render_offline(host, host_settings(host, keys))
    assert str(caught.value).startswith(f"{tmp_path / 'hosts.yml'}: host web1: os_family: ")
    assert "(debian or redhat) in host_vars or group_vars" in str(caught.value)


def test_offline_render_refuses_to_guess_a_connection(tmp_path: Path) -> None:
    host, keys = load_web1(
        tmp_path,
        host_vars={
            "os_family": "debian",
            "queue_worker_programs": [{"name": "emails", "queues": ["e"]}],
        },
    )
    with pytest.raises(InventoryError) as caught:
        render_offline(host, host_settings(host, keys))
    message = str(caught.value)
    assert "host web1: queue_worker_programs[0].connection: program emails pins no" in message
    assert "cannot read the app's .env" in message


def test_offline_render_uses_the_pin_and_os_family(tmp_path: Path) -> None:
    host, keys = load_web1(tmp_path, host_vars={"os_family": "redhat", **PINNED})
    files = render_offline(host, host_settings(host, keys))
    assert list(files) == ["/etc/supervisord.d/emails.ini"]
    assert "queue:work redis --queue=e " in files["/etc/supervisord.d/emails.ini"]


def test_write_tree_puts_each_file_at_its_host_path(tmp_path: Path) -> None:
    files = {
        "/etc/supervisord.d/b.ini": "b\n",
        "/etc/supervisor/conf.d/a.conf": "; a\n[program:a]\n",
    }
    written = write_tree(files, tmp_path / "out")
    assert written == [
        tmp_path / "out/etc/supervisor/conf.d/a.conf",
        tmp_path / "out/etc/supervisord.d/b.ini",
    ]
    assert (tmp_path / "out/etc/supervisor/conf.d/a.conf").read_bytes() == b"; a\n[program:a]\n"
    assert (tmp_path / "out/etc/supervisord.d/b.ini").read_text() == "b\n"


@pytest.mark.parametrize("remote", ["etc/x.conf", "/etc/../../x.conf"])
def test_write_tree_refuses_paths_that_could_leave_the_directory(
    tmp_path: Path, remote: str
) -> None:
    with pytest.raises(ValueError, match="not an absolute, normalised remote path"):
        write_tree({"/etc/a.conf": "a", remote: "x"}, tmp_path / "out")
    assert not (tmp_path / "out").exists()
