"""The scheduler kind without hosts: its settings, what it renders, its plan and refusals,
its lint rule and its role's filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError, QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds import host_settings
from queueops.kinds.scheduler import KIND
from queueops.kinds.scheduler.lint import lint_cron_file
from queueops.kinds.scheduler.plan import SchedulerPlan, plan_scheduler
from queueops.plan.changes import HostLockedError, sha256
from queueops.roles.action import converge

from ...trees import load_web1

UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
CENTOS = 'NAME="CentOS Stream"\nID="centos"\nID_LIKE="rhel fedora"\n'
IN_GROUP = {"all": {"children": {"scheduler": {"hosts": {"web1": None}}}}}
TWO = {"all": {"children": {"scheduler": {"hosts": {"web1": None, "web2": None}}}}}
CRON_FILE = "/etc/cron.d/laravel-scheduler"
DEBIAN_PROGRAM = "/etc/supervisor/conf.d/laravel-scheduler.conf"
CENTOS_PROGRAM = "/etc/supervisord.d/laravel-scheduler.ini"

EXPECTED_CRON = """\
# Managed by queueops: edits are overwritten. Source: templates/scheduler/cron.j2
# Laravel's scheduler for /var/www/app: `schedule:run` every minute as www-data, its output
# appended to /var/www/app/storage/logs/schedule-run.log (its last change is when the scheduler last ran).
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
* * * * * www-data cd /var/www/app && php artisan schedule:run >> /var/www/app/storage/logs/schedule-run.log 2>&1
"""  # noqa: E501
EXPECTED_PROGRAM = """\
; Managed by queueops: edits are overwritten. Source: templates/supervisor/scheduler.conf.j2
[program:laravel-scheduler]
process_name=%(program_name)s
command=php /var/www/app/artisan schedule:work
directory=/var/www/app
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
user=apache
numprocs=1
redirect_stderr=true
stdout_logfile=/var/www/app/storage/logs/schedule-work.log
stopwaitsecs=60
startsecs=1
"""


def settings(tmp_path: Path, hosts: dict[str, Any] = IN_GROUP, **variables: Any) -> HostSettings:
    host, keys = load_web1(tmp_path, hosts=hosts, host_vars=variables or None)
    return host_settings(host, keys)


def facts(
    os_release: str = UBUNTU,
    files: dict[str, str] | None = None,
    processes: dict[str, list[str]] | None = None,
    cron: tuple[bool, bool] = (True, True),
    cache: tuple[str, str] = ("file", "file"),
    env_exists: bool = True,
    lock: dict[str, str] | None = None,
) -> Any:
    return {
        "os_release": os_release,
        "app": {
            "env_exists": env_exists,
            "laravel": {"cache_store": cache[0], "cache_driver": cache[1]},
        },
        "files": {
            path: {"sha256": sha256(text), "header": text.split("\n", 1)[0], "content": text}
            for path, text in (files or {}).items()
        },
        "supervisor": {
            "installed": True,
            "running": True,
            "processes": [
                {"group": group, "name": group, "state": state}
                for group, states in (processes or {}).items()
                for state in states
            ],
        },
        "cron": {"installed": cron[0], "running": cron[1]},
        "lock": lock,
    }


def actions(plan: SchedulerPlan) -> list[tuple[str, str]]:
    return [(i["action"], i["item"]) for i in plan.items()]


def test_cron_mode_renders_one_entry_every_minute_as_the_web_user(tmp_path: Path) -> None:
    plan = plan_scheduler(settings(tmp_path), facts(cron=(False, False)))
    assert actions(plan) == [("install", "cron"), ("start", "cron"), ("create", CRON_FILE)]
    (change,) = plan.changes
    assert change.after == EXPECTED_CRON
    assert plan.programs.expected == {}
    assert lint_cron_file("web1", CRON_FILE, EXPECTED_CRON) == []


def test_work_mode_renders_a_schedule_work_program_on_the_rhel_family(tmp_path: Path) -> None:
    plan = plan_scheduler(settings(tmp_path, scheduler_mode="work"), facts(CENTOS))
    assert [(c.action, c.path) for c in plan.changes] == [("create", CENTOS_PROGRAM)]
    assert plan.changes[0].after == EXPECTED_PROGRAM
    assert plan.programs.expected == {"laravel-scheduler": 1}
    assert plan.programs.groups == ("laravel-scheduler",)
    # cron is neither needed nor started in work mode.
    assert not any(action in ("install", "start") for action, _ in actions(plan))


def test_a_converged_host_plans_nothing_in_either_mode(tmp_path: Path) -> None:
    cron = settings(tmp_path / "cron")
    first = plan_scheduler(cron, facts())
    done = facts(files={c.path: c.after or "" for c in first.changes})
    assert not plan_scheduler(cron, done).changed
    work = settings(tmp_path / "work", scheduler_mode="work")
    first = plan_scheduler(work, facts())
    running = {"laravel-scheduler": ["RUNNING"]}
    done = facts(files={c.path: c.after or "" for c in first.changes}, processes=running)
    assert not plan_scheduler(work, done).changed


def test_switching_modes_removes_the_other_entry(tmp_path: Path) -> None:
    work = settings(tmp_path / "w", scheduler_mode="work")
    program = plan_scheduler(work, facts()).changes[0].after or ""
    cron = settings(tmp_path / "c")
    plan = plan_scheduler(
        cron, facts(files={DEBIAN_PROGRAM: program}, processes={"laravel-scheduler": ["RUNNING"]})
    )
    assert [(c.action, c.path) for c in plan.changes] == [
        ("create", CRON_FILE),
        ("delete", DEBIAN_PROGRAM),
    ]
    assert plan.programs.groups == ("laravel-scheduler",)
    back = plan_scheduler(work, facts(files={CRON_FILE: EXPECTED_CRON}))
    assert [(c.action, c.path) for c in back.changes] == [
        ("create", DEBIAN_PROGRAM),
        ("delete", CRON_FILE),
    ]


def test_an_entry_left_under_an_old_name_is_removed(tmp_path: Path) -> None:
    """Two entries would run every task twice."""
    old = EXPECTED_CRON.replace("laravel-scheduler", "old")
    plan = plan_scheduler(settings(tmp_path), facts(files={"/etc/cron.d/old": old}))
    assert ("delete", "/etc/cron.d/old") in [(c.action, c.path) for c in plan.changes]


def test_a_hand_made_cron_file_of_another_name_is_left_alone(tmp_path: Path) -> None:
    mine = "# my own\n* * * * * root true\n"
    plan = plan_scheduler(settings(tmp_path), facts(files={"/etc/cron.d/mine": mine}))
    assert [c.path for c in plan.changes] == [CRON_FILE]


def test_several_scheduler_hosts_on_a_local_cache_store_are_refused(tmp_path: Path) -> None:
    two = settings(tmp_path, TWO)
    for store, driver in (("file", "file"), ("array", "array")):
        with pytest.raises(QueueopsError) as refused:
            plan_scheduler(two, facts(cache=(store, driver)))
        message = str(refused.value)
        assert "web1, web2" in message and f"{store!r}" in message and driver in message
        assert "Nothing was written" in message
    # A shared store is what onOneServer needs; one host needs none.
    assert plan_scheduler(two, facts(cache=("redis", "redis"))).changed
    assert plan_scheduler(settings(tmp_path / "one"), facts(cache=("file", "file"))).changed


def test_a_scheduler_without_its_app_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QueueopsError, match=r"no app at /var/www/app"):
        plan_scheduler(settings(tmp_path), facts(env_exists=False))


def test_a_locked_host_is_refused_before_anything_is_planned(tmp_path: Path) -> None:
    holder = {"task": "setup-worker", "operator": "alice", "since": "2026-01-01T00:00:00Z"}
    with pytest.raises(HostLockedError, match="alice"):
        plan_scheduler(settings(tmp_path), facts(lock=holder))


@pytest.mark.parametrize(
    ("variables", "key"),
    [
        ({"scheduler_mode": "daemon"}, "scheduler_mode"),
        ({"scheduler_name": "laravel.scheduler"}, "scheduler_name"),
        ({"scheduler_name": "a b"}, "scheduler_name"),
        ({"scheduler_user": "root"}, "scheduler_user"),
        ({"scheduler_app_path": "relative/app"}, "scheduler_app_path"),
        ({"scheduler_php": "php; reboot"}, "scheduler_php"),
        ({"scheduler_stopwaitsecs": 0}, "scheduler_stopwaitsecs"),
    ],
)
def test_unsafe_values_are_refused_naming_the_key(
    tmp_path: Path, variables: dict[str, Any], key: str
) -> None:
    with pytest.raises(InventoryError) as refused:
        settings(tmp_path, **variables)
    assert f"host web1: {key}:" in str(refused.value)


def test_a_host_outside_the_group_is_skipped_and_renders_nothing(tmp_path: Path) -> None:
    outside = settings(tmp_path, {"all": {"hosts": {"web1": None}}})
    assert KIND.skip(outside) == "not in the scheduler group"
    assert KIND.programs(outside) == {}
    assert KIND.restart_steps(outside) == []


def test_the_lint_rule_catches_a_template_that_breaks_the_entry() -> None:
    hourly = EXPECTED_CRON.replace("* * * * * www-data", "0 * * * * www-data")
    as_root = EXPECTED_CRON.replace("* * * * * www-data", "* * * * * root")
    for broken, why in ((hourly, "not every minute"), (as_root, "runs as root")):
        (finding,) = lint_cron_file("web1", CRON_FILE, broken)
        assert finding.rule == "QO110" and why in finding.message


def test_the_role_converges_the_same_bytes_and_refuses_the_same_store() -> None:
    """The scheduler role's converge action: the same plan, so the same entry and the same
    refusal of a cache store several scheduler hosts would not share."""

    class Agent:
        def __init__(self, answer: Any) -> None:
            self.answer = answer

        def _execute_module(self, module_name: str, module_args: Any, task_vars: Any) -> Any:
            return {"answer": self.answer}

    def play(peers: list[str]) -> dict[str, Any]:
        return {"inventory_hostname": "web1", "group_names": ["scheduler"],
                "groups": {"all": peers, "scheduler": peers}}  # fmt: skip

    one = converge(Agent(facts()), "scheduler", play(["web1"]), lambda v: v, check=True)
    assert one["changed"] and f"+++ {CRON_FILE} (queueops)" in one["diff"][0]["prepared"]
    assert (
        "+* * * * * www-data cd /var/www/app && php artisan schedule:run"
        in (one["diff"][0]["prepared"])
    )
    two = converge(Agent(facts()), "scheduler", play(["web1", "web2"]), lambda v: v, True)
    assert two["failed"] and "web1, web2" in two["msg"] and "'file'" in two["msg"]
    shared = facts(cache=("redis", "redis"))
    assert converge(Agent(shared), "scheduler", play(["web1", "web2"]), lambda v: v, True)[
        "changed"
    ]
