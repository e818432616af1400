"""The Ansible roles agree with the engine: argument specs derived from the defaults, the
OS-family vars equal to queueops' platforms, the playbook naming every role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.errors import QueueopsError
from queueops.kinds.redis.host import REDIS_CONFIGS
from queueops.kinds.redis.role import redis_live
from queueops.kinds.workers.role import worker_files
from queueops.platforms import PLATFORMS
from queueops.resources import ROLES_DIR
from queueops.roles.specs import ROLES, render, spec_path

REPO = ROLES_DIR.parent


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_are_derived_from_the_current_defaults(role: str) -> None:
    assert spec_path(role).read_text() == render(role), (
        f"{spec_path(role)} is stale: run python -m queueops.roles.specs"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_default_has_a_spec_with_that_default(role: str) -> None:
    defaults: dict[str, Any] = yaml.safe_load((ROLES_DIR / role / "defaults/main.yml").read_text())
    spec = yaml.safe_load(spec_path(role).read_text())["argument_specs"]["main"]["options"]
    assert set(spec) == set(defaults)
    for name, value in defaults.items():
        assert spec[name]["default"] == value, name
        assert spec[name]["description"] != [name], f"{name} has no comment in the defaults"


def test_program_elements_take_every_program_field() -> None:
    spec = yaml.safe_load(spec_path("queue_worker").read_text())["argument_specs"]["main"]
    fields = spec["options"]["queue_worker_programs"]["options"]
    defaults = yaml.safe_load((ROLES_DIR / "queue_worker/defaults/main.yml").read_text())
    assert set(fields) == {"name", "queues", *defaults["queue_worker_program_defaults"]}
    assert fields["name"]["required"] and fields["queues"]["required"]


@pytest.mark.parametrize(("os_family", "family"), [("Debian", "debian"), ("RedHat", "redhat")])
def test_os_family_vars_are_queueops_platforms(os_family: str, family: str) -> None:
    platform = PLATFORMS[family]
    loaded: dict[str, str] = yaml.safe_load(
        (ROLES_DIR / "supervisor" / "vars" / f"{os_family}.yml").read_text()
    )
    assert loaded == {
        "supervisor_package": "supervisor",
        "supervisor_service": platform.service,
        "supervisor_config": platform.supervisor_config,
        "supervisor_program_dir": platform.program_dir,
        "supervisor_program_ext": platform.program_ext,
        "supervisor_web_user": platform.web_user,
    }


def test_the_site_playbook_applies_each_role_to_its_group() -> None:
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    assert {p["hosts"]: p["roles"] for p in plays} == {
        "workers": ["queue_worker"],
        "horizon": ["horizon"],
        "redis": ["redis_queue"],
        "scheduler": ["scheduler"],
    }


def test_role_folders_are_complete() -> None:
    for role in ROLES:
        for part in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml",
                     "tasks/main.yml"):  # fmt: skip
            assert Path(ROLES_DIR, role, part).is_file(), f"roles/{role}/{part}"
    # The OS family's paths: supervisor's for the roles that depend on it, Redis's own.
    for role in ("supervisor", "redis_queue"):
        for family in ("Debian", "RedHat"):
            assert Path(ROLES_DIR, role, "vars", f"{family}.yml").is_file(), (role, family)
    for role in ("queue_worker", "horizon"):
        tasks = yaml.safe_load(Path(ROLES_DIR, role, "tasks/main.yml").read_text())
        assert tasks[0]["ansible.builtin.include_role"] == {"name": "supervisor"}, role


@pytest.mark.parametrize(
    ("os_family", "configs"),
    [("Debian", ["/etc/redis/redis.conf"]), ("RedHat", list(REDIS_CONFIGS))],
)
def test_redis_paths_are_queueops_own(os_family: str, configs: list[str]) -> None:
    loaded = yaml.safe_load((ROLES_DIR / "redis_queue" / "vars" / f"{os_family}.yml").read_text())
    assert loaded == {"redis_queue_configs": configs}
    assert set(configs) <= set(REDIS_CONFIGS)


PROGRAM = {"name": "mail", "queues": ["mail"], "connection": "database"}


def test_the_worker_filter_refuses_a_pin_the_env_contradicts_with_the_engines_words() -> None:
    with pytest.raises(QueueopsError) as refused:
        worker_files({"queue_worker_programs": [PROGRAM]}, "web1", "Debian",
                     "QUEUE_CONNECTION=redis\n", "inventories/x/hosts.yml")  # fmt: skip
    assert "pinned connection 'database' disagrees with QUEUE_CONNECTION='redis'" in str(
        refused.value
    )


def test_the_worker_filter_renders_what_the_engine_renders() -> None:
    out = worker_files({"queue_worker_programs": [PROGRAM]}, "web1", "RedHat",
                       "QUEUE_CONNECTION=database\n", "hosts.yml")  # fmt: skip
    assert list(out["files"]) == ["/etc/supervisord.d/mail.ini"]
    assert "queue:work database --queue=mail" in out["files"]["/etc/supervisord.d/mail.ini"]
    assert "user=apache" in out["files"]["/etc/supervisord.d/mail.ini"]
    assert out["programs"] == {"mail": 1}


def test_values_ansible_tags_are_checked_as_plain_values() -> None:
    class Tagged(int):  # what ansible-core 2.19 hands a filter
        pass

    program = {**PROGRAM, "processes": Tagged(2)}
    out = worker_files({"queue_worker_programs": [program]}, "web1", "Debian",
                       "QUEUE_CONNECTION=database\n", "hosts.yml")  # fmt: skip
    assert "numprocs=2" in out["files"]["/etc/supervisor/conf.d/mail.conf"]


def test_redis_live_reads_redis_cli_output_and_plans_the_sets() -> None:
    plan = {"address": "10.0.0.7", "port": 6379, "auth": "AUTH s3cret\n",
            "values": [["maxmemory-policy", "noeviction"], ["save", ""]]}  # fmt: skip
    output = "OK\nmaxmemory-policy\nallkeys-lru\nsave\n\n# Memory\nused_memory:1048576\n"
    live = redis_live(output, plan)
    assert live["values"] == {"maxmemory-policy": "allkeys-lru", "save": ""}
    assert live["wrong"] == [["maxmemory-policy", "noeviction"]]
    assert live["used_memory"] == 1048576
    assert live["apply"] == 'AUTH s3cret\nCONFIG SET maxmemory-policy "noeviction"\n'
    assert live["undo"] == 'AUTH s3cret\nCONFIG SET maxmemory-policy "allkeys-lru"\n'


def test_redis_live_refusal_names_the_server_never_the_password() -> None:
    plan = {"address": "10.0.0.7", "port": 6379, "auth": "AUTH s3cret\n", "values": []}
    with pytest.raises(QueueopsError) as refused:
        redis_live("WRONGPASS invalid username-password pair\n", plan)
    assert "10.0.0.7:6379 refused: WRONGPASS" in str(refused.value)
    assert "s3cret" not in str(refused.value)
