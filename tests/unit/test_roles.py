"""The Ansible collection agrees with the engine: argument specs and READMEs derived from the
defaults, one converge task per role, galaxy.yml and meta/runtime.yml true to what is
installed, nothing but the collection in its build; and the converge action runs the kind's
own facts, plan and apply through Ansible's module runs (a fake connection here; the lab
tests run it for real)."""

from __future__ import annotations

import ast
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops import __version__
from queueops.kinds import KINDS
from queueops.resources import ROLES_DIR
from queueops.roles.action import AGENT_MODULE, converge
from queueops.roles.specs import ROLES, readme, readme_path, render, spec_path

REPO = ROLES_DIR.parent
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_readme_are_derived_from_the_current_defaults(role: str) -> None:
    for path, text in ((spec_path(role), render(role)), (readme_path(role), readme(role))):
        assert path.read_text() == text, f"{path} is stale: run python -m queueops.roles.specs"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_has_a_spec_with_that_default(role: str) -> None:
    defaults: dict[str, Any] = yaml.safe_load((ROLES_DIR / role / "defaults/main.yml").read_text())
    spec = yaml.safe_load(spec_path(role).read_text())["argument_specs"]["main"]["options"]
    assert set(spec) == set(defaults)
    for name, value in defaults.items():
        assert spec[name]["default"] == value, name
        assert spec[name]["description"] != [name], f"{name} has no comment in the defaults"
    readme_text = readme_path(role).read_text()
    assert all(f"| `{name}` |" in readme_text for name in defaults)


def test_program_elements_take_every_program_field() -> None:
    spec = yaml.safe_load(spec_path("queue_worker").read_text())["argument_specs"]["main"]
    fields = spec["options"]["queue_worker_programs"]["options"]
    defaults = yaml.safe_load((ROLES_DIR / "queue_worker/defaults/main.yml").read_text())
    assert set(fields) == {"name", "queues", *defaults["queue_worker_program_defaults"]}
    assert fields["name"]["required"] and fields["queues"]["required"]


def test_the_site_playbook_applies_each_role_to_its_group_by_fqcn() -> None:
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    assert {p["hosts"]: p["roles"] for p in plays} == {
        "workers": ["queueops.laravel.queue_worker"],
        "horizon": ["queueops.laravel.horizon"],
        "redis": ["queueops.laravel.redis_queue"],
        "scheduler": ["queueops.laravel.scheduler"],
    }


def test_each_role_is_one_converge_task_of_its_kind() -> None:
    assert set(ROLES) == {p.name for p in ROLES_DIR.iterdir() if p.is_dir()}
    for kind in KINDS:
        (task,) = yaml.safe_load((ROLES_DIR / kind.role / "tasks/main.yml").read_text())
        assert task["queueops.laravel.converge"] == {"kind": kind.name}, kind.role
        meta = yaml.safe_load((ROLES_DIR / kind.role / "meta/main.yml").read_text())
        assert meta["galaxy_info"]["min_ansible_version"] == "2.19"


def test_galaxy_and_runtime_are_true_to_what_is_installed() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("queueops", "laravel")
    assert galaxy["version"] == __version__
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    minimum = runtime["requires_ansible"].removeprefix(">=")
    installed = version("ansible-core")
    assert tuple(map(int, installed.split(".")[:2])) >= tuple(map(int, minimum.split(".")[:2]))
    # Every top-level entry of the repository is the collection's or left out of its build.
    content = {"README.md", "CHANGELOG.md", "galaxy.yml", "meta", "plugins", "roles",
               "requirements.txt"}  # fmt: skip
    ignored = set(galaxy["build_ignore"])
    tracked = {p.name for p in REPO.iterdir() if p.name not in (".git", ".venv", ".lab")}
    leftover = {n for n in tracked - content if not any(Path(n).match(i) for i in ignored)}
    assert leftover <= {"__pycache__"}, leftover


def test_the_plugins_are_documented_for_ansible_doc() -> None:
    for module in ("agent", "converge", "render"):
        tree = ast.parse((REPO / "plugins" / "modules" / f"{module}.py").read_text())
        names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)}  # fmt: skip
        assert {"DOCUMENTATION", "EXAMPLES", "RETURN"} <= names, module


# -- the converge action, over a fake connection ----------------------------------------------


class FakeAction:
    """Ansible's ActionBase as the converge action uses it: each module run answers with the
    next canned result."""

    def __init__(self, *results: dict[str, Any]) -> None:
        self.results = list(results)
        self.runs: list[dict[str, Any]] = []

    def _execute_module(
        self, module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        assert module_name == AGENT_MODULE
        self.runs.append(module_args)
        return self.results.pop(0)


def facts(files: dict[str, str] | None = None, running: bool = True) -> dict[str, Any]:
    import hashlib

    return {
        "os_release": UBUNTU,
        "app": {"env_exists": True, "queue_connection": "redis", "laravel": {}},
        "files": {
            p: {
                "sha256": hashlib.sha256(t.encode()).hexdigest(),
                "header": t.split("\n")[0],
                "content": t,
            }
            for p, t in (files or {}).items()
        },
        "supervisor": {
            "installed": True,
            "running": True,
            "processes": [{"group": "mail", "name": "mail_00", "state": "RUNNING"}]
            if running
            else [],
        },
        "lock": None,
    }


def task_vars(**variables: Any) -> dict[str, Any]:
    return {
        "inventory_hostname": "web1",
        "group_names": ["workers"],
        "groups": {"all": ["web1"], "workers": ["web1"]},
        "inventory_file": "/inv/hosts.yml",
        "queue_worker_programs": [{"name": "mail", "queues": ["mail"]}],
        **variables,
    }


def same(value: Any) -> Any:
    return value


def test_a_change_is_two_module_runs_with_the_diff_and_invoke_s_words() -> None:
    action = FakeAction({"answer": facts(running=False)}, {"answer": {"items": []}})
    result = converge(action, "workers", task_vars(), same, check=False)
    assert result["changed"] is True and result["runs"] == 2, result
    assert result["msg"] == "create /etc/supervisor/conf.d/mail.conf"
    assert "+++ /etc/supervisor/conf.d/mail.conf (queueops)" in result["diff"][0]["prepared"]
    # The program sent is queueops' agent: facts first, then the programs transaction.
    assert "'op': 'facts'" in action.runs[0]["program"]
    assert "'op': 'apply'" in action.runs[1]["program"]


def test_check_and_a_converged_host_are_one_module_run() -> None:
    checked = converge(FakeAction({"answer": facts()}), "workers", task_vars(), same, check=True)
    assert checked["changed"] is True and checked["runs"] == 1
    written = facts()["files"]
    action = FakeAction({"answer": facts()})
    first = converge(action, "workers", task_vars(), same, check=True)
    text = first["diff"][0]["prepared"].split("\n")
    content = "".join(line[1:] + "\n" for line in text[3:] if line.startswith("+"))
    written = {"/etc/supervisor/conf.d/mail.conf": content}
    again = converge(FakeAction({"answer": facts(written)}), "workers", task_vars(), same, True)
    assert again == {"changed": False, "msg": "nothing to change", "items": [], "diff": [],
                     "runs": 1}  # fmt: skip


def test_refusals_fail_the_host_with_invoke_s_message_before_any_change() -> None:
    pinned = task_vars(queue_worker_programs=[{"name": "mail", "queues": ["mail"],
                                               "connection": "database"}])  # fmt: skip
    action = FakeAction({"answer": facts()})
    result = converge(action, "workers", pinned, same, check=False)
    assert result["failed"] is True and len(action.runs) == 1
    assert result["msg"].startswith("program mail: pinned connection 'database' disagrees")
    bad = converge(FakeAction(), "workers", task_vars(queue_worker_programs="mail"), same, False)
    assert bad["failed"] and "queue_worker_programs: must be a list of programs" in bad["msg"]
    unknown = converge(FakeAction(), "nosuch", task_vars(), same, check=False)
    assert unknown["failed"] and "no kind 'nosuch'" in unknown["msg"]
    agent = converge(
        FakeAction({"failed": True, "msg": "boom"}), "workers", task_vars(), same, False
    )
    assert agent == {"failed": True, "msg": "boom", "runs": 1}


def test_values_ansible_tags_and_templates_are_plain_values_to_queueops() -> None:
    class Tagged(int):  # what ansible-core 2.19 hands a plugin
        pass

    def template(value: Any) -> Any:
        return "/srv/app" if value == "{{ root }}" else value

    variables = task_vars(
        queue_worker_programs=[{"name": "mail", "queues": ["mail"], "processes": Tagged(2)}],
        queue_worker_app_path="{{ root }}",
    )
    result = converge(FakeAction({"answer": facts()}), "workers", variables, template, True)
    assert "+numprocs=2" in result["diff"][0]["prepared"]
    assert "+directory=/srv/app" in result["diff"][0]["prepared"]


def test_a_kind_with_nothing_to_do_here_is_skipped_without_a_module_run() -> None:
    action = FakeAction()
    result = converge(action, "horizon", task_vars(), same, check=False)
    assert result == {"changed": False, "skipped": True,
                      "msg": "skip horizon: horizon_environments is empty"}  # fmt: skip
    assert action.runs == []
