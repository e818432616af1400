"""setup-horizon without hosts: horizon_* validation, rendering (PHP that parses) and planning."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from queueops.agent.laravel import machine_slug
from queueops.agent.supervisor import program_command
from queueops.errors import InventoryError, QueueopsError
from queueops.inventory.host import HostSettings
from queueops.kinds import host_settings
from queueops.kinds.horizon.plan import (
    HORIZON_CONFIG_HEADER,
    HORIZON_PROGRAM_HEADER,
    HorizonPlan,
    php_literal,
    plan_horizon,
    render_horizon,
)
from queueops.kinds.horizon.settings import HorizonSettings, horizon_of
from queueops.kinds.horizon.state import own_name, read_state
from queueops.kinds.workers.render import PROGRAM_HEADER
from queueops.plan.changes import sha256
from queueops.platforms import platform_for

from ...trees import load_web1

UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
CENTOS = 'NAME="CentOS Stream"\nID="centos"\nID_LIKE="rhel fedora"\n'
ENVIRONMENTS: dict[str, Any] = {
    "production": {
        "supervisor-1": {"queue": ["default"], "maxProcesses": 10, "tries": 3},
        "emails": {"queue": ["emails-high", "emails"], "balance": False, "timeout": 80},
    }
}
CONFIG = "/var/www/app/config/horizon.php"
PROGRAM = "/etc/supervisor/conf.d/horizon.conf"


def load(tmp_path: Path, **host_vars: Any) -> tuple[HostSettings, HorizonSettings]:
    host, keys = load_web1(tmp_path, host_vars={"horizon_environments": ENVIRONMENTS, **host_vars})
    settings = host_settings(host, keys)
    return settings, horizon_of(settings)


def refusal(tmp_path: Path, **host_vars: Any) -> str:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, **host_vars)
    return str(caught.value)


def php_lint(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["php", "-l"], input=text, capture_output=True, text=True, check=False)


def test_supervisor_fields_fall_back_to_the_role_defaults(tmp_path: Path) -> None:
    _, horizon = load(tmp_path)
    (env, (first, emails)), *_ = horizon.environments
    assert env == "production"
    assert (first.name, first.queue, first.max_processes, first.tries) == (
        "supervisor-1",
        ("default",),
        10,
        3,
    )
    assert (first.connection, first.balance, first.min_processes, first.timeout) == (
        "redis",
        "auto",
        1,
        60,
    )
    assert emails.queue == ("emails-high", "emails")
    assert emails.balance is False
    # stopwaitsecs covers the longest job of every supervisor.
    assert horizon.stopwaitsecs == 80 + 15


@pytest.mark.parametrize(
    ("patch", "key", "reason"),
    [
        ({"queue": ["default'];"]}, "supervisor-1.queue[0]", "not a safe name"),
        ({"queue": ["a\nb"]}, "supervisor-1.queue[0]", "not a safe name"),
        ({"queue": "default"}, "supervisor-1.queue", "non-empty list"),
        ({"connection": "redis' . system('id') . '"}, "connection", "not a safe name"),
        ({"balance": "fast"}, "balance", "simple, auto or false"),
        ({"balance": True}, "balance", "simple, auto or false"),
        ({"autoScalingStrategy": "load"}, "autoScalingStrategy", "time or size"),
        ({"maxProcesses": "10"}, "maxProcesses", "integer"),
        ({"maxProcesses": 0}, "maxProcesses", "between 1 and 1024, got 0"),
        ({"maxProcesses": 100000}, "maxProcesses", "between 1 and 1024, got 100000"),
        ({"minProcesses": 2000}, "minProcesses", "between 1 and 1024, got 2000"),
        ({"minProcesses": 5, "maxProcesses": 2}, "minProcesses", "more than maxProcesses"),
        ({"nice": 40}, "nice", "-20 to 19"),
        ({"timeout": 90}, "timeout", "below the connection's retry_after"),
        ({"sleep": 3}, "supervisor-1.sleep", "unknown supervisor key"),
        ({"maxprocesses": 3}, "maxprocesses", "did you mean 'maxProcesses'"),
    ],
)
def test_bad_supervisor_values_are_refused_naming_the_key(
    tmp_path: Path, patch: dict[str, Any], key: str, reason: str
) -> None:
    env = {"production": {"supervisor-1": {"queue": ["default"], **patch}}}
    message = refusal(tmp_path, horizon_environments=env)
    assert "web1.yml: host web1: horizon_environments.production.supervisor-1" in message
    assert key in message and reason in message


@pytest.mark.parametrize(
    ("host_vars", "reason"),
    [
        ({"horizon_environments": {"prod'": {"s": {"queue": ["q"]}}}}, "safe environment name"),
        ({"horizon_environments": {"production": {"a:b": {"queue": ["q"]}}}}, "no ':'"),
        ({"horizon_environments": {"production": {}}}, "has no supervisors"),
        ({"horizon_prefix": "app'_horizon:"}, "horizon_prefix"),
        ({"horizon_waits": {"redis:default'": 60}}, "horizon_waits"),
        ({"horizon_trim": {"recnt": 60}}, "did you mean 'recent'"),
        ({"horizon_stopwaitsecs": 60}, "must exceed the longest supervisor timeout (80 s)"),
        ({"horizon_user": "root"}, "must not run as root"),
        ({"horizon_supervisor_defaults": {"sleep": 1}}, "not a supervisor field"),
    ],
)
def test_bad_horizon_variables_are_refused(
    tmp_path: Path, host_vars: dict[str, Any], reason: str
) -> None:
    assert reason in refusal(tmp_path, **host_vars)


def test_unknown_horizon_variable_is_refused_as_a_typo(tmp_path: Path) -> None:
    host, keys = load_web1(tmp_path, host_vars={"horizon_enviroments": {}})
    with pytest.raises(InventoryError, match="did you mean 'horizon_environments'"):
        host_settings(host, keys)


@pytest.mark.parametrize(
    "value",
    ["plain", "it's", "back\\slash", "\\'; system('id'); //", '$x {$y} "q"', "é"],
)
def test_php_literal_round_trips_any_string(value: str) -> None:
    result = subprocess.run(
        ["php", "-r", f"echo {php_literal(value)};"], capture_output=True, text=True, check=True
    )
    assert result.stdout == value


def test_php_literal_of_nested_values() -> None:
    assert (
        php_literal({"a": [1, "b"], "c": False}, 1)
        == "[\n        'a' => [1, 'b'],\n        'c' => false,\n    ]"
    )


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php")
@pytest.mark.parametrize("os_id", ["ubuntu", "centos"])
def test_rendered_config_parses_and_holds_the_inventory(tmp_path: Path, os_id: str) -> None:
    _, horizon = load(tmp_path, horizon_prefix="queueops_horizon:")
    platform = platform_for("debian" if os_id == "ubuntu" else "redhat")
    files = render_horizon(horizon, platform)
    config = files[CONFIG]
    assert config.startswith(HORIZON_CONFIG_HEADER + "\n")
    assert php_lint(config).returncode == 0, php_lint(config).stdout
    (tmp_path / "horizon.php").write_text(config)
    dumped = subprocess.run(
        [
            "php",
            "-r",
            "function env($k, $d = null) { return $d; }"
            "$c = require $argv[1]; echo json_encode($c);",
            str(tmp_path / "horizon.php"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"prefix":"queueops_horizon:"' in dumped
    assert (
        '"emails":{"connection":"redis","queue":["emails-high","emails"],"balance":false' in dumped
    )
    program = files[platform.program_path("horizon")]
    assert program.startswith(HORIZON_PROGRAM_HEADER + "\n")
    assert "command=php /var/www/app/artisan horizon\n" in program
    assert "autorestart=true\n" in program and "numprocs=1\n" in program
    assert "stopwaitsecs=95\n" in program
    assert f"user={platform.web_user}\n" in program


def facts(
    files: dict[str, str] | None = None,
    states: list[str] | None = None,
    os_release: str = UBUNTU,
    app_env: str | None = "production",
    cached: bool = False,
) -> dict[str, Any]:
    return {
        "os_release": os_release,
        "app": {"env_exists": True, "app_env": app_env, "config_cached": cached},
        "files": {
            path: {"sha256": sha256(text), "header": text.split("\n", 1)[0], "content": text}
            for path, text in (files or {}).items()
        },
        "supervisor": {
            "installed": True,
            "running": True,
            "processes": [
                {"group": "horizon", "name": "horizon", "state": s} for s in (states or [])
            ],
        },
        "lock": None,
    }


def actions(plan: HorizonPlan) -> list[tuple[str, str]]:
    return [(i["action"], i["item"]) for i in plan.items()]


def test_from_nothing_creates_both_files_and_loads_the_program(tmp_path: Path) -> None:
    settings, _ = load(tmp_path)
    plan = plan_horizon(settings, facts())
    assert actions(plan) == [
        ("create", PROGRAM),
        ("create", CONFIG),
        ("load", "program horizon"),
    ]
    assert plan.restart == "update"


def test_converged_host_plans_nothing(tmp_path: Path) -> None:
    settings, horizon = load(tmp_path)
    files = render_horizon(horizon, platform_for("debian"))
    plan = plan_horizon(settings, facts(files, ["RUNNING"]))
    assert not plan.changed
    assert plan.items() == []
    assert plan.restart is None


def test_changed_config_terminates_horizon_and_recaches(tmp_path: Path) -> None:
    settings, horizon = load(tmp_path)
    files = render_horizon(horizon, platform_for("debian"))
    env = {"production": {**ENVIRONMENTS["production"], "emails": {"queue": ["emails"]}}}
    settings, _ = load(tmp_path, horizon_environments=env)
    plan = plan_horizon(settings, facts(files, ["RUNNING"], cached=True))
    assert actions(plan) == [
        ("update", PROGRAM),
        ("update", CONFIG),
        ("run", "config:cache"),
        ("load", "program horizon"),
    ]
    # stopwaitsecs followed the longest timeout: the program changed too.
    assert "-stopwaitsecs=95" in plan.changes[0].diff

    same_timeouts = {"production": {**ENVIRONMENTS["production"], "supervisor-1": {"queue": ["x"]}}}
    settings, _ = load(tmp_path, horizon_environments=same_timeouts)
    plan = plan_horizon(settings, facts(files, ["RUNNING"]))
    assert actions(plan) == [("update", CONFIG), ("restart", "program horizon")]
    assert plan.restart == "terminate"
    assert "-                'queue' => ['default']," in plan.changes[0].diff


def test_a_stopped_horizon_with_right_files_is_started(tmp_path: Path) -> None:
    settings, horizon = load(tmp_path)
    files = render_horizon(horizon, platform_for("debian"))
    plan = plan_horizon(settings, facts(files, ["FATAL"]))
    assert actions(plan) == [("start", "program horizon")]


def test_centos_path(tmp_path: Path) -> None:
    settings, _ = load(tmp_path)
    plan = plan_horizon(settings, facts(os_release=CENTOS))
    assert plan.changes[0].path == "/etc/supervisord.d/horizon.ini"
    assert "user=apache" in (plan.changes[0].after or "")


def test_app_env_without_an_environment_is_refused(tmp_path: Path) -> None:
    settings, _ = load(tmp_path)
    with pytest.raises(QueueopsError, match=r"APP_ENV=staging .* matches none"):
        plan_horizon(settings, facts(app_env="staging"))
    wildcard = {"prod*": ENVIRONMENTS["production"]}
    settings, _ = load(tmp_path, horizon_environments=wildcard)
    assert plan_horizon(settings, facts(app_env="production")).changed


def test_a_worker_program_of_the_same_name_is_not_overwritten(tmp_path: Path) -> None:
    settings, _ = load(tmp_path)
    worker = PROGRAM_HEADER + "\n[program:horizon]\ncommand=php artisan queue:work\n"
    with pytest.raises(QueueopsError, match="is a setup-worker program"):
        plan_horizon(settings, facts({PROGRAM: worker}))


def test_the_reading_matches_this_machines_master_by_name_and_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "App1.Example_Lab")
    assert machine_slug() == "app1-example-lab"
    # What `horizon:list` shows of this Redis: another machine's master and this one's.
    masters: list[dict[str, Any]] = [
        {"name": "app10-x1Yz", "pid": 63, "status": "running", "heartbeat": 100.0, "ttl": 14},
        {"name": "app1-example-lab-Ab3d", "pid": 71, "status": "running", "heartbeat": 100.0,
         "ttl": 14},
    ]  # fmt: skip
    mine = [m for m in masters if own_name(m["name"], machine_slug())]
    program = {"name": "horizon", "state": "RUNNING", "pid": 71}
    master = {"pid": 71, "ppid": 1, "user": "www-data", "args": "php artisan horizon"}
    reading = read_state(program, [master], mine, True, now=101.0)
    assert reading["state"] == "running"
    assert [(m["pid"], m["name"]) for m in reading["masters"]] == [(71, "app1-example-lab-Ab3d")]
    # A master here whose pid only the other machine registered is not registered here.
    other = {**master, "pid": 63}
    seen = read_state({**program, "pid": 63}, [other], mine, True, now=101.0)
    assert seen["state"] == "inactive" and seen["masters"][0]["name"] is None


def test_program_php_reads_the_command_of_a_program_file(tmp_path: Path) -> None:
    path = tmp_path / "horizon.conf"
    path.write_text(
        "; header\n[program:horizon]\ncommand='/opt/php 8/bin/php' /app/artisan horizon\n"
    )
    assert program_command(str(path))[0] == "/opt/php 8/bin/php"
    assert program_command(str(tmp_path / "missing.conf")) == []
