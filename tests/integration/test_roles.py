"""The Ansible roles on the lab: converge, idempotence, byte-identical files with the Invoke
tasks (each path finds nothing to change after the other), rollback of an unstartable
program on its host only, the seed's connection incident, and the Molecule scenario."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.lab.fleet import repo_root
from tests.conftest import Lab
from tests.integration.test_setup_worker import run_json, states

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
# The lab's converge tasks, by the group each one configures.
INVOKE_TASKS = {"setup-worker": "workers", "setup-horizon": "horizon", "tune-redis": "redis",
                "setup-scheduler": "scheduler"}  # fmt: skip


def ansible_env() -> dict[str, str]:
    # ansible-playbook runs its controller side with this virtualenv's Python (queueops in it).
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CONFIG": str(repo_root() / "ansible.cfg")}  # fmt: skip


def playbook(inventory: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory),
         str(repo_root() / "playbooks" / "site.yml"), *args],
        cwd=repo_root(), capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=timeout, env=ansible_env(),
    )  # fmt: skip


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host → {ok, changed, failed, rescued, ...}."""
    found = {}
    for line in result.stdout.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"(\S+)\s+:\s+(.*)", line)
        if match:
            found[match[1]] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match[2])}
    return found


def lab_inventory(tmp: Path, lab: Lab, host_vars: dict[str, dict[str, Any]] | None = None) -> Path:
    """inventories/lab, copied, reached with absolute lab paths, with extra host_vars."""
    inv = tmp / "inventory"
    shutil.copytree(repo_root() / "inventories" / "lab", inv)
    (inv / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(
            {**lab.paths.connection_vars(), "ansible_python_interpreter": "/usr/bin/python3"}
        )
    )
    (inv / "host_vars").mkdir(exist_ok=True)
    for host, values in (host_vars or {}).items():
        (inv / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(values))
    return inv


def invoke_changes(inventory: Path) -> dict[str, int]:
    """`invoke TASK --check` for each converge task: what it would change, per host."""
    changed: dict[str, int] = {}
    for task, group in INVOKE_TASKS.items():
        doc = run_json(task, "-i", str(inventory), "--group", group, "--check")
        for host, result in doc["hosts"].items():
            changed[f"{task} {host}"] = len(
                [i for i in result["items"] if i["status"] == "changed"]
            )
    return changed


def worker_programs(inventory: Path) -> list[dict[str, Any]]:
    programs: list[dict[str, Any]] = yaml.safe_load(
        (inventory / "group_vars" / "workers.yml").read_text()
    )["queue_worker_programs"]
    return programs


def test_roles_converge_idempotent_and_byte_identical_with_invoke(lab: Lab, tmp_path: Path) -> None:
    inv = lab_inventory(tmp_path, lab)
    first = playbook(inv)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    second = playbook(inv, "-v")
    assert second.returncode == 0, second.stdout[-3000:]
    # redis_queue reads requirepass and the app's .env on the hosts: neither secret shows.
    for secret in (lab.paths.redis_password, lab.paths.db_password):
        password = secret.read_text().strip()
        assert password not in first.stdout + first.stderr + second.stdout + second.stderr
    assert {h: r["changed"] for h, r in recap(second).items()} == {
        "app1": 0, "app2": 0, "redis1": 0,
    }, second.stdout[-3000:]  # fmt: skip
    # The Invoke tasks find every file the roles wrote exactly as they would write it.
    assert set(invoke_changes(inv).values()) == {0}, invoke_changes(inv)

    # The other way: a change applied by invoke is one the roles find nothing to do about.
    programs = worker_programs(inv)
    programs[0]["processes"] = 3
    changed = lab_inventory(tmp_path / "b", lab, {"app2": {"queue_worker_programs": programs}})
    run_json("setup-worker", "-i", str(changed), "--host", "app2")
    check = playbook(changed, "--check", "--diff", "--limit", "app2")
    assert check.returncode == 0 and recap(check)["app2"]["changed"] == 0, check.stdout[-3000:]

    # And --check --diff shows a change the roles would make, and makes none.
    before = lab.ssh("app2", "sha256sum /etc/supervisord.d/demo-default.ini").stdout
    check = playbook(inv, "--check", "--diff", "--limit", "app2")
    assert check.returncode == 0 and recap(check)["app2"]["changed"] >= 1, check.stdout[-3000:]
    assert "-numprocs=3" in check.stdout and "+numprocs=2" in check.stdout, check.stdout[-3000:]
    assert lab.ssh("app2", "sha256sum /etc/supervisord.d/demo-default.ini").stdout == before
    assert len([n for n in states(lab, "app2") if n.startswith("demo-default:")]) == 3
    playbook(inv, "--limit", "app2")


def test_unstartable_program_rolls_back_on_its_host_only(lab: Lab, tmp_path: Path) -> None:
    inv = lab_inventory(tmp_path, lab)
    assert playbook(inv).returncode == 0
    before = {h: states(lab, h) for h in ("app1", "app2")}
    bad = [*worker_programs(inv), {"name": "ghost", "queues": ["ghost"], "user": "nosuchuser"}]
    broken = lab_inventory(tmp_path / "b", lab, {"app2": {"queue_worker_programs": bad}})
    result = playbook(broken)
    assert result.returncode != 0
    summary = recap(result)
    assert summary["app2"]["failed"] == 1, result.stdout[-3000:]
    assert summary["app1"]["failed"] == 0 and summary["redis1"]["failed"] == 0
    # The agent's own rollback, with invoke's words.
    text = " ".join(result.stdout.split())
    assert "Invalid user name nosuchuser in section 'program:ghost'" in text, text[-3000:]
    assert "rolled back: previous files restored and their programs RUNNING" in text
    assert lab.ssh("app2", "test -e /etc/supervisord.d/ghost.ini", check=False).returncode == 1
    for host in ("app1", "app2"):
        now = states(lab, host)
        assert now == before[host], (host, now, before[host])
        assert all(state == "RUNNING" for state, _ in now.values())


def test_a_pin_that_disagrees_with_the_env_fails_the_host_naming_both(
    lab: Lab, tmp_path: Path
) -> None:
    programs = worker_programs(lab_inventory(tmp_path / "a", lab))
    programs[0]["connection"] = "database"
    inv = lab_inventory(tmp_path, lab, {"app1": {"queue_worker_programs": programs}})
    before = lab.ssh("app1", "sha256sum /etc/supervisor/conf.d/*.conf", check=False).stdout
    result = playbook(inv, "--limit", "app1")
    assert result.returncode != 0
    assert "pinned connection 'database' disagrees with QUEUE_CONNECTION='redis'" in " ".join(
        result.stdout.split()
    ), result.stdout[-3000:]
    assert lab.ssh("app1", "sha256sum /etc/supervisor/conf.d/*.conf", check=False).stdout == before


def test_molecule_scenario_create_converge_idempotence_verify_destroy(lab: Lab) -> None:
    """Molecule stops the lab at destroy; the next test's `lab` fixture starts it again."""
    result = subprocess.run(
        [str(BIN / "molecule"), "test"], cwd=repo_root(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=900, env={**ansible_env(), "NO_COLOR": "1"},
    )  # fmt: skip
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, output[-4000:]
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        assert re.search(rf"{step}: Executed: Successful", output), (step, output[-4000:])
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed[1]) >= 15, output[-4000:]
    assert " failed" not in re.findall(r"=+ .* in [\d.]+s", output)[-1]
