"""setup-horizon on both lab flavours, through the real CLI, with the Horizon stand-in."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import HorizonContract, Lab
from tests.integration.test_setup_worker import artisan, queueops, run_json, states, wait_processed

pytestmark = pytest.mark.lab

CONFIG = "/var/www/app/config/horizon.php"
PROGRAM = {"app1": "/etc/supervisor/conf.d/horizon.conf", "app2": "/etc/supervisord.d/horizon.ini"}
QUEUES = ["hz-high", "hz-default"]


def environments(max_processes: int = 2, queue: list[str] | None = None) -> dict[str, Any]:
    return {
        "production": {
            "supervisor-1": {
                "connection": "redis",
                "queue": queue or QUEUES,
                "balance": "simple",
                "maxProcesses": max_processes,
                "tries": 3,
                "timeout": 30,
            },
            "reports": {"queue": ["hz-reports"], "maxProcesses": 1, "timeout": 20},
        }
    }


def inventory(
    tmp: Path, lab: Lab, envs: dict[str, Any], hosts: tuple[str, ...] = ("app1",)
) -> Path:
    inv = tmp / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    members = {h: {"ansible_host": lab.address(h)} for h in hosts}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"horizon": {"hosts": members}}}})
    )
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(lab.paths.connection_vars()))
    (inv / "group_vars" / "horizon.yml").write_text(
        yaml.safe_dump({"horizon_app_path": "/var/www/app", "horizon_environments": envs})
    )
    return inv


def horizon_tree(lab: Lab, host: str) -> tuple[int, dict[str, list[int]]]:
    """The supervisor-run master's pid and its workers' pids (Horizon's horizon:work
    processes) by --queue value."""
    master = states(lab, host)["horizon"]
    assert master[0] == "RUNNING", master
    out = lab.ssh(host, "ps -eo pid=,pgid=,args=").stdout
    workers: dict[str, list[int]] = {}
    for line in out.splitlines():
        pid, pgid, args = line.split(None, 2)
        if int(pgid) == master[1] and "horizon:work" in args:
            queue = next(a for a in args.split() if a.startswith("--queue="))
            workers.setdefault(queue.removeprefix("--queue="), []).append(int(pid))
    return master[1], workers


def wait_workers(lab: Lab, host: str, expected: dict[str, int], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        master, workers = horizon_tree(lab, host)
        counts = {q: len(p) for q, p in workers.items()}
        if counts == expected or time.monotonic() > deadline:
            assert counts == expected
            return master
        time.sleep(0.3)


def sha(lab: Lab, host: str, path: str) -> str:
    return lab.ssh(host, f"sha256sum {path} 2>/dev/null || echo absent", check=False).stdout


def test_horizon_converges_on_both_flavours_and_works_the_queues(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments(), hosts=("app1", "app2"))
    start = time.monotonic()
    doc = run_json("setup-horizon", "-i", str(inv), "--all")
    first = time.monotonic() - start
    assert doc["summary"] == {"ok": 0, "changed": 2, "failed": 0}, doc
    expected = {"hz-high,hz-default": 2, "hz-reports": 1}
    for host in ("app1", "app2"):
        items = [(i["action"], i["item"]) for i in doc["hosts"][host]["items"]]
        assert ("create", PROGRAM[host]) in items and ("update", CONFIG) in items
        conf = fresh_lab.ssh(host, f"cat {PROGRAM[host]}").stdout
        assert conf.startswith("; Managed by queueops")
        assert "autorestart=true\n" in conf and "stopwaitsecs=45\n" in conf
        assert f"user={fresh_lab.web_user(host)}\n" in conf
        assert "Horizon is running." in artisan(fresh_lab, host, "horizon:status")
        fresh_lab.ssh(host, f"php -l {CONFIG}")
        wait_workers(fresh_lab, host, expected)
        backup = fresh_lab.ssh(host, f"ls /var/backups/queueops/*-setup-horizon{CONFIG}").stdout
        assert backup.strip(), "the app's previous horizon.php was not backed up"

    ids = artisan(fresh_lab, "app1", "demo:dispatch", "--count=10", "--queue=hz-high").split()
    ids += artisan(fresh_lab, "app2", "demo:dispatch", "--count=5", "--queue=hz-reports").split()
    done = wait_processed(fresh_lab, ids)
    assert sorted(r["id"] for r in done) == sorted(ids)
    trees = {h: horizon_tree(fresh_lab, h)[1] for h in ("app1", "app2")}
    for record in done:
        workers = trees[record["host"]]
        queue = "hz-reports" if record["queue"] == "hz-reports" else "hz-high,hz-default"
        assert record["pid"] in workers[queue], record

    # The second run changes nothing and restarts nothing.
    masters = {h: states(fresh_lab, h)["horizon"] for h in ("app1", "app2")}
    start = time.monotonic()
    doc = run_json("setup-horizon", "-i", str(inv), "--all")
    again = time.monotonic() - start
    assert doc["summary"] == {"ok": 2, "changed": 0, "failed": 0}
    assert all(h["items"] == [] for h in doc["hosts"].values())
    assert {h: states(fresh_lab, h)["horizon"] for h in ("app1", "app2")} == masters
    print(f"setup-horizon: first run {first:.2f} s, second run {again:.2f} s")


def test_more_processes_restart_horizon_with_the_new_count(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments(max_processes=2))
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    before = wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 2, "hz-reports": 1})

    inv = inventory(tmp_path, fresh_lab, environments(max_processes=4))
    check = queueops("setup-horizon", "-i", str(inv), "--host", "app1", "--check", "--diff")
    assert check.returncode == 0, check.stderr
    assert "-                'maxProcesses' => 2," in check.stdout
    assert "+                'maxProcesses' => 4," in check.stdout
    assert horizon_tree(fresh_lab, "app1")[0] == before

    doc = run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    items = doc["hosts"]["app1"]["items"]
    assert [(i["action"], i["item"]) for i in items] == [
        ("update", CONFIG),
        ("restart", "program horizon"),
    ]
    after = wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 4, "hz-reports": 1})
    assert after != before
    assert items[1]["detail"] == f"master pid {before} -> {after}"
    assert run_json("setup-horizon", "-i", str(inv), "--host", "app1")["summary"]["ok"] == 1


def test_cached_config_is_recached_before_the_restart(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments(max_processes=1))
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    artisan(fresh_lab, "app1", "config:cache")
    inv = inventory(tmp_path, fresh_lab, environments(max_processes=3))
    doc = run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    assert {"item": "config:cache", "action": "run", "status": "changed"} in doc["hosts"]["app1"][
        "items"
    ]
    cached = fresh_lab.ssh(
        "app1",
        'php -r \'echo (require "/var/www/app/bootstrap/cache/config.php")'
        '["horizon"]["environments"]["production"]["supervisor-1"]["maxProcesses"];\'',
    ).stdout
    assert cached == "3"
    wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 3, "hz-reports": 1})


def test_a_horizon_that_cannot_start_is_rolled_back(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments())
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    before = {p: sha(fresh_lab, "app1", p) for p in (CONFIG, PROGRAM["app1"])}
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "app1.yml").write_text(yaml.safe_dump({"horizon_php": "/usr/bin/no-php"}))
    doc = run_json("setup-horizon", "-i", str(inv), "--host", "app1", expect=1)
    error = doc["hosts"]["app1"]["error"]
    assert "can't find command '/usr/bin/no-php'" in error, error
    assert "rolled back: previous files restored and Horizon running on them" in error, error
    assert {p: sha(fresh_lab, "app1", p) for p in before} == before
    wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 2, "hz-reports": 1})
    assert "Horizon is running." in artisan(fresh_lab, "app1", "horizon:status")


@pytest.mark.parametrize(
    "hostile", ["default'];", "default\\", "q'.system('id').'", "$(reboot)", "a b"]
)
def test_a_syntax_breaking_value_is_refused_before_anything_is_written(
    lab: Lab, tmp_path: Path, hostile: str
) -> None:
    inv = inventory(tmp_path, lab, environments(queue=["hz-high", hostile]))
    before = {p: sha(lab, "app1", p) for p in (CONFIG, PROGRAM["app1"])}
    result = queueops("setup-horizon", "-i", str(inv), "--host", "app1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "horizon.yml: host app1: horizon_environments.production.supervisor-1.queue[1]" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert {p: sha(lab, "app1", p) for p in before} == before


def test_a_config_horizon_refuses_is_rolled_back(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments())
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    before = sha(fresh_lab, "app1", CONFIG)
    master = wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 2, "hz-reports": 1})
    # A known non-redis connection is a lint error: refused before any host is contacted.
    broken = environments()
    broken["production"]["reports"]["connection"] = "database"
    inv = inventory(tmp_path, fresh_lab, broken)
    refused = queueops("setup-horizon", "-i", str(inv), "--host", "app1")
    assert refused.returncode == 2 and "QO108" in refused.stderr, refused.stderr
    assert sha(fresh_lab, "app1", CONFIG) == before
    # A safe name lint cannot judge offline, but the app has no such connection:
    # Horizon exits at start, so the run must roll back.
    broken["production"]["reports"]["connection"] = "redis-archive"
    inv = inventory(tmp_path, fresh_lab, broken)
    doc = run_json("setup-horizon", "-i", str(inv), "--host", "app1", expect=1)
    error = doc["hosts"]["app1"]["error"]
    assert "unknown queue connection [redis-archive]" in error, error
    assert "rolled back: previous files restored and Horizon running on them" in error, error
    assert sha(fresh_lab, "app1", CONFIG) == before
    assert wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 2, "hz-reports": 1}) != master
    assert "Horizon is running." in artisan(fresh_lab, "app1", "horizon:status")


def test_a_stopped_supervisord_is_started_and_brings_horizon_back(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments())
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    # supervisord stops Horizon (its jobs finish) before it exits itself.
    fresh_lab.ssh(
        "app1",
        "service supervisor stop; for i in $(seq 300); do pgrep -x supervisord >/dev/null "
        "|| exit 0; sleep 0.1; done; exit 1",
    )
    doc = run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    items = [(i["action"], i["item"]) for i in doc["hosts"]["app1"]["items"]]
    assert items == [("start", "supervisor")]
    wait_workers(fresh_lab, "app1", {"hz-high,hz-default": 2, "hz-reports": 1})
    assert run_json("setup-horizon", "-i", str(inv), "--host", "app1")["summary"]["ok"] == 1


def test_setup_worker_and_setup_horizon_leave_each_other_alone(
    fresh_lab: Lab, tmp_path: Path, horizon_contract: HorizonContract
) -> None:
    inv = inventory(tmp_path, fresh_lab, environments())
    worker = {"name": "mail", "queues": ["mail"], "sleep": 1, "timeout": 30}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "workers": {"hosts": {"app1": {"ansible_host": fresh_lab.address("app1")}}},
                        "horizon": {"hosts": {"app1": None}},
                    }
                }
            }
        )
    )
    (inv / "group_vars" / "workers.yml").write_text(
        yaml.safe_dump({"queue_worker_programs": [worker]})
    )
    run_json("setup-worker", "-i", str(inv), "--host", "app1")
    run_json("setup-horizon", "-i", str(inv), "--host", "app1")
    before = states(fresh_lab, "app1")
    assert sorted(before) == ["horizon", "mail:mail_00"]
    for task in ("setup-worker", "setup-horizon"):
        doc = run_json(task, "-i", str(inv), "--host", "app1")
        assert doc["summary"]["ok"] == 1, (task, doc)
    assert states(fresh_lab, "app1") == before
    fresh_lab.ssh("app1", f"test -e {PROGRAM['app1']}")
