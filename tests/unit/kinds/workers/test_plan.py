"""The planner: settings + facts → file changes and supervisor actions, without a host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds import host_settings
from queueops.kinds.workers.plan import HostPlan, facts_request, plan_workers
from queueops.kinds.workers.render import PROGRAM_HEADER, QueueConnectionError
from queueops.kinds.workers.settings import worker_of
from queueops.plan.changes import HostLockedError, sha256

from ...trees import load_web1

UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
CENTOS = 'NAME="CentOS Stream"\nID="centos"\nID_LIKE="rhel fedora"\n'
PROGRAMS: list[dict[str, Any]] = [
    {"name": "mail", "queues": ["mail"], "processes": 2},
    {"name": "reports", "queues": ["reports"]},
]


def settings(tmp_path: Path, programs: list[dict[str, Any]] = PROGRAMS) -> HostSettings:
    host, keys = load_web1(tmp_path, group_vars={"workers": {"queue_worker_programs": programs}})
    return host_settings(host, keys)


def facts(
    os_release: str = UBUNTU,
    files: dict[str, str] | None = None,
    processes: dict[str, list[str]] | None = None,
    supervisor_running: bool = True,
    connection: str | None = "redis",
    lock: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "os_release": os_release,
        "app": {"env_exists": True, "queue_connection": connection},
        "files": {
            path: {"sha256": sha256(text), "header": text.split("\n", 1)[0], "content": text}
            for path, text in (files or {}).items()
        },
        "supervisor": {
            "installed": True,
            "running": supervisor_running,
            "processes": [
                {"group": group, "name": f"{group}_{i:02d}", "state": state}
                for group, group_states in (processes or {}).items()
                for i, state in enumerate(group_states)
            ],
        },
        "lock": lock,
    }


def converged(tmp_path: Path, os_release: str = UBUNTU) -> tuple[HostSettings, dict[str, Any]]:
    """Settings and the facts of a host where they are already applied."""
    s = settings(tmp_path)
    first = plan_workers(s, facts(os_release, supervisor_running=False))
    files = {c.path: c.after or "" for c in first.changes}
    return s, facts(os_release, files, {"mail": ["RUNNING"] * 2, "reports": ["RUNNING"]})


def actions(plan: HostPlan) -> list[tuple[str, str]]:
    return [(i["action"], i["item"]) for i in plan.items()]


def test_from_nothing_creates_every_program_and_starts_supervisor(tmp_path: Path) -> None:
    plan = plan_workers(settings(tmp_path), facts(supervisor_running=False))
    assert actions(plan) == [
        ("start", "supervisor"),
        ("create", "/etc/supervisor/conf.d/mail.conf"),
        ("create", "/etc/supervisor/conf.d/reports.conf"),
    ]
    assert plan.expected == {"mail": 2, "reports": 1}
    assert plan.groups == ("mail", "reports")
    assert plan.changes[0].after is not None
    assert "queue:work redis --queue=mail" in plan.changes[0].after


def test_centos_paths_and_service(tmp_path: Path) -> None:
    plan = plan_workers(settings(tmp_path), facts(CENTOS, supervisor_running=False))
    assert actions(plan)[0] == ("start", "supervisord")
    assert [c.path for c in plan.changes] == [
        "/etc/supervisord.d/mail.ini",
        "/etc/supervisord.d/reports.ini",
    ]
    assert plan.changes[0].after is not None
    assert "user=apache" in plan.changes[0].after


def test_converged_host_plans_nothing(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    plan = plan_workers(s, current)
    assert not plan.changed
    assert plan.items() == []
    assert plan.groups == ()


def test_hand_edit_is_one_update_with_a_diff(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    path = "/etc/supervisor/conf.d/reports.conf"
    edited = current["files"][path]["content"].replace("--sleep=3", "--sleep=9")
    current["files"][path] = {
        "sha256": sha256(edited),
        "header": PROGRAM_HEADER,
        "content": edited,
    }
    plan = plan_workers(s, current)
    assert actions(plan) == [("update", path)]
    assert plan.groups == ("reports",)
    assert "---" in plan.changes[0].diff
    assert "-command=" in plan.changes[0].diff and "+command=" in plan.changes[0].diff


def test_only_files_of_the_worker_template_are_removed(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    old = PROGRAM_HEADER + "\n[program:old]\ncommand=php artisan queue:work\n"
    foreign = "; Managed by queueops: edits are overwritten. Source: templates/other.j2\n"
    for path, text in (
        ("/etc/supervisor/conf.d/old.conf", old),
        ("/etc/supervisor/conf.d/horizon.conf", foreign),
    ):
        current["files"][path] = {
            "sha256": sha256(text),
            "header": text.split("\n")[0],
            "content": text,
        }
    plan = plan_workers(s, current)
    assert actions(plan) == [("delete", "/etc/supervisor/conf.d/old.conf")]
    assert plan.groups == ("old",)


def test_a_fatal_program_with_right_files_is_started(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    current["supervisor"]["processes"][0]["state"] = "FATAL"
    plan = plan_workers(s, current)
    assert actions(plan) == [("start", "program mail")]
    assert plan.changes == ()


def test_a_right_file_supervisord_never_loaded_is_loaded(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    current["supervisor"]["processes"] = [
        p for p in current["supervisor"]["processes"] if p["group"] != "reports"
    ]
    plan = plan_workers(s, current)
    assert actions(plan) == [("load", "program reports")]
    assert plan.groups == ("reports",)


def test_host_without_programs_needs_no_supervisor(tmp_path: Path) -> None:
    plan = plan_workers(settings(tmp_path, []), facts(supervisor_running=False, connection=None))
    assert not plan.changed


def test_locked_host_is_refused_naming_the_holder(tmp_path: Path) -> None:
    lock = {"task": "clear", "operator": "alice", "since": "2026-01-01T00:00:00Z"}
    with pytest.raises(HostLockedError, match="locked by another queueops run: clear by alice"):
        plan_workers(settings(tmp_path), facts(lock=lock))


def test_os_family_pin_must_match_the_host(tmp_path: Path) -> None:
    host, keys = load_web1(
        tmp_path,
        group_vars={"workers": {"queue_worker_programs": PROGRAMS}},
        host_vars={"os_family": "redhat"},
    )
    with pytest.raises(
        QueueopsError, match="os_family=redhat but the host's /etc/os-release is debian"
    ):
        plan_workers(host_settings(host, keys), facts(UBUNTU))


def test_connection_pin_disagreeing_with_env_is_refused(tmp_path: Path) -> None:
    s = settings(tmp_path, [{"name": "mail", "queues": ["mail"], "connection": "database"}])
    with pytest.raises(QueueConnectionError, match="QUEUE_CONNECTION='redis'"):
        plan_workers(s, facts())


def test_a_hand_made_file_at_a_program_path_is_replaced(tmp_path: Path) -> None:
    s, current = converged(tmp_path)
    path = "/etc/supervisor/conf.d/mail.conf"
    hand_made = "[program:mail]\ncommand=php artisan queue:work database\n"
    current["files"][path] = {
        "sha256": sha256(hand_made),
        "header": "[program:mail]",
        "content": hand_made,
    }
    plan = plan_workers(s, current)
    assert actions(plan) == [("update", path)]
    assert plan.changes[0].before_sha == sha256(hand_made)
    assert "-command=php artisan queue:work database" in plan.changes[0].diff


def test_facts_ask_for_every_program_path_of_every_family(tmp_path: Path) -> None:
    paths = facts_request(worker_of(settings(tmp_path)))["paths"]
    assert "/etc/supervisor/conf.d/mail.conf" in paths
    assert "/etc/supervisord.d/reports.ini" in paths


def test_cached_config_disagreeing_with_env_is_refused(tmp_path: Path) -> None:
    current = facts()
    current["app"]["cached_queue_connection"] = "database"
    with pytest.raises(QueueopsError, match=r"cached config .* dispatches to 'database'"):
        plan_workers(settings(tmp_path), current)
