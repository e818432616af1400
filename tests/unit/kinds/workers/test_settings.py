"""Validation of merged variables into typed settings."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError
from queueops.inventory.host import Connection, check_keys
from queueops.kinds import host_settings
from queueops.kinds.workers.settings import Program, worker_of

from ...trees import ROLES_DIR, load_web1, write_file


def _program(root: Path, program: dict[str, Any], **host_vars: Any) -> Program:
    host, keys = load_web1(root, host_vars={"queue_worker_programs": [program], **host_vars})
    return worker_of(host_settings(host, keys)).programs[0]


def test_program_fields_fall_back_to_the_role_defaults(tmp_path: Path) -> None:
    program = _program(tmp_path, {"name": "emails", "queues": ["emails", "default"]})
    assert program == Program(
        name="emails",
        queues=("emails", "default"),
        connection=None,
        processes=1,
        sleep=3,
        tries=3,
        max_time=3600,
        timeout=60,
        memory=None,
        backoff=(),
        user=None,
        stopwaitsecs=75,
        startsecs=1,
    )


def test_stopwaitsecs_defaults_to_timeout_plus_margin(tmp_path: Path) -> None:
    program = _program(tmp_path, {"name": "sync", "queues": ["sync"], "timeout": 300})
    assert program.stopwaitsecs == 315


def test_program_defaults_from_the_inventory_apply_to_every_program(tmp_path: Path) -> None:
    defaults = {
        "processes": 2,
        "sleep": 1,
        "tries": 5,
        "max_time": 0,
        "timeout": 30,
        "startsecs": 0,
        "backoff": [5, 10],
    }
    program = _program(
        tmp_path,
        {"name": "emails", "queues": ["emails"], "tries": 1},
        queue_worker_program_defaults=defaults,
    )
    assert (program.processes, program.sleep, program.tries, program.max_time) == (2, 1, 1, 0)
    assert (program.timeout, program.startsecs, program.backoff) == (30, 0, (5, 10))


def test_program_user_wins_over_queue_worker_user(tmp_path: Path) -> None:
    host, keys = load_web1(
        tmp_path,
        host_vars={
            "queue_worker_user": "deploy",
            "queue_worker_programs": [
                {"name": "a", "queues": ["a"]},
                {"name": "b", "queues": ["b"], "user": "nginx"},
            ],
        },
    )
    users = [p.user for p in worker_of(host_settings(host, keys)).programs]
    assert users == ["deploy", "nginx"]


def test_worker_paths_are_normalised_and_log_dir_defaults_under_the_app(tmp_path: Path) -> None:
    host, keys = load_web1(
        tmp_path,
        host_vars={"queue_worker_app_path": "/srv/app/", "queue_worker_php": "/usr/bin/php8.2"},
    )
    worker = worker_of(host_settings(host, keys))
    assert (worker.app_path, worker.php) == ("/srv/app", "/usr/bin/php8.2")
    assert worker.log_dir == "/srv/app/storage/logs"
    assert worker.env_file == "/srv/app/.env"
    assert worker.programs == ()


def test_connection_defaults_follow_ansible(tmp_path: Path) -> None:
    # Without ansible_port and ansible_user, ssh decides (~/.ssh/config, else 22 and the
    # local user), as with Ansible's ssh connection.
    host, keys = load_web1(tmp_path, host_vars={})
    assert host_settings(host, keys).connection == Connection(
        host="web1", port=None, user=None, key_file=None, become=False
    )


def test_connection_variables_are_honoured(tmp_path: Path) -> None:
    host, keys = load_web1(
        tmp_path,
        host_vars={
            "ansible_host": "10.0.0.5",
            "ansible_port": 2222,
            "ansible_user": "deploy",
            "ansible_ssh_private_key_file": "~/.ssh/fleet",
            "ansible_become": True,
            "ansible_connection": "ssh",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no",
        },
    )
    settings = host_settings(host, keys)
    assert settings.connection == Connection(
        host="10.0.0.5",
        port=2222,
        user="deploy",
        key_file=str(Path("~/.ssh/fleet").expanduser()),
        become=True,
        # StrictHostKeyChecking=no still refuses a changed key: it means accept-new here.
        host_key_checking="accept-new",
    )


def test_os_family_is_optional_and_kept(tmp_path: Path) -> None:
    host, keys = load_web1(tmp_path, host_vars={"os_family": "redhat"})
    assert host_settings(host, keys).os_family == "redhat"
    host, keys = load_web1(tmp_path / "other", host_vars={})
    assert host_settings(host, keys).os_family is None


def test_known_keys_come_from_every_roles_defaults(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    shutil.copytree(ROLES_DIR / "queue_worker", roles / "queue_worker")
    write_file(roles / "horizon" / "defaults" / "main.yml", {"horizon_timeout": 60})
    host, keys = load_web1(tmp_path / "inv", host_vars={"horizon_timeout": 90}, roles=roles)
    check_keys(host, keys)
    host, keys = load_web1(tmp_path / "inv2", host_vars={"horizon_timeout": 90})
    with pytest.raises(InventoryError, match="horizon_timeout: unknown variable"):
        check_keys(host, keys)


HOSTILE = [
    "default; rm -rf /",
    "$(reboot)",
    "`id`",
    "a'b",
    'a"b',
    "a\nb",
    "a b",
    "-x",
    "%(ENV_HOME)s",
    "",
]
# Program key the hostile value goes into → the key path its refusal must name.
PLACES = {
    "queues": "queue_worker_programs[0].queues[0]",
    "name": "queue_worker_programs[0].name",
    "connection": "queue_worker_programs[0].connection",
    "user": "queue_worker_programs[0].user",
}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("place", PLACES)
def test_hostile_program_values_are_refused(tmp_path: Path, place: str, value: str) -> None:
    program: dict[str, Any] = {"name": "emails", "queues": ["emails"]}
    program[place] = [value] if place == "queues" else value
    host, keys = load_web1(tmp_path, host_vars={"queue_worker_programs": [program]})
    with pytest.raises(InventoryError) as caught:
        host_settings(host, keys)
    message = str(caught.value)
    assert f"host_vars/web1.yml: host web1: {PLACES[place]}: {value!r} is not a safe" in message
    # The value is shown escaped, so a newline cannot forge a second line of output.
    assert "\n" not in message


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("key", ["queue_worker_php", "queue_worker_app_path", "ansible_host"])
def test_hostile_host_values_are_refused(tmp_path: Path, key: str, value: str) -> None:
    host, keys = load_web1(tmp_path, host_vars={key: value})
    with pytest.raises(InventoryError, match=f"host web1: {key}: ") as caught:
        host_settings(host, keys)
    assert "\n" not in str(caught.value)
