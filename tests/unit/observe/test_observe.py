"""Health classes, the Prometheus text and the verify helpers, without hosts."""

from __future__ import annotations

import base64
import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from queueops.inventory.host import Connection, HostSettings
from queueops.kinds.workers.settings import Program, WorkerSettings
from queueops.observe.host import payload_age, render_metrics
from queueops.observe.metrics import merge_expositions, metric_names, render_program
from queueops.observe.observation import health
from queueops.observe.protocol import MODULE, ObserveRequest
from queueops.observe.verify.checks.test_queueops import queue_work_connection
from queueops.observe.verify.runner import ssh_config
from queueops.observe.verify.target import agent_commands
from queueops.transport.assembly import program


def settings(memory: int | None = 100) -> HostSettings:
    program = Program(
        name="demo", queues=("default",), connection=None, processes=2, sleep=3, tries=3,
        max_time=3600, timeout=60, memory=memory, backoff=(), user=None, stopwaitsecs=70,
        startsecs=1,
    )  # fmt: skip
    return HostSettings(
        name="app1",
        connection=Connection("10.0.0.1", 22, "root", None, False),
        os_family=None,
        kinds={"workers": WorkerSettings("/var/www/app", "php", 90, "/var/log", (program,))},
    )


def observation(**overrides: Any) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "facts": {"supervisor": {"running": True}},
        "supervisor": {
            "pid": 1,
            "processes": [
                {
                    "group": "demo",
                    "name": f"demo_0{i}",
                    "state": "RUNNING",
                    "pid": 10 + i,
                    "uptime": 100,
                    "rss": 10 * 1024 * 1024,
                    "memory_limit": 100 * 1024 * 1024,
                    "flapping": False,
                }
                for i in range(2)
            ],
            "restarts": {"demo_00": 3},
        },
        "stale": [],
        "connection": "redis",
        "queues": {"default": {"ready": 5, "delayed": 1, "reserved": 2, "oldest_seconds": 60}},
        "failed": 0,
        "failed_store": {"id": "5f1d", "name": "pgsql app on 10.0.0.5:5432 (failed_jobs)"},
        "redis": {"reachable": True, "error": None, "policy": "noeviction"},
        "fallback": None,
        "time": 1700000000.0,
        "kinds": {},
    }
    obs.update(overrides)
    return obs


HORIZON_RUNNING = {
    "state": "running", "running": True, "detail": "master app1-Ab3d pid 70 (supervisord)",
    "masters": [{"pid": 70, "user": "www-data", "supervised": True, "name": "app1-Ab3d",
                 "status": "running"}],
    "gone": [], "supervisors": [], "program": {"name": "horizon", "state": "RUNNING", "pid": 70},
    "status": "Horizon is running.", "status_code": 0,
}  # fmt: skip
PAUSE = {"operator": "alice", "since": "2026-01-02T03:04:05Z", "since_ts": 1767323045.5,
         "task": "pause", "programs": {"demo": "stop"}, "supervisors": []}  # fmt: skip


def test_a_quiet_host_is_green() -> None:
    assert health(observation(), settings()).health == "green"


@pytest.mark.parametrize(
    ("failed", "expected"), [(9, "green"), (10, "yellow"), (49, "yellow"), (50, "red")]
)
def test_failed_job_thresholds(failed: int, expected: str) -> None:
    assert health(observation(failed=failed), settings()).health == expected


@pytest.mark.parametrize(
    ("size", "expected"), [(999, "green"), (1000, "yellow"), (4999, "yellow"), (5000, "red")]
)
def test_queue_size_thresholds_count_every_state(size: int, expected: str) -> None:
    queues = {"default": {"ready": size - 2, "delayed": 1, "reserved": 1, "oldest_seconds": None}}
    assert health(observation(queues=queues), settings()).health == expected


@pytest.mark.parametrize(
    ("hours", "expected"), [(1.9, "green"), (2, "yellow"), (5.9, "yellow"), (6, "red")]
)
def test_oldest_job_thresholds(hours: float, expected: str) -> None:
    queues = {"default": {"ready": 1, "delayed": 0, "reserved": 0, "oldest_seconds": hours * 3600}}
    assert health(observation(queues=queues), settings()).health == expected


@pytest.mark.parametrize(
    ("percent", "expected"), [(79, "green"), (80, "yellow"), (89, "yellow"), (90, "red")]
)
def test_worker_memory_thresholds_are_percent_of_the_memory_limit(
    percent: int, expected: str
) -> None:
    obs = observation()
    obs["supervisor"]["processes"][1]["rss"] = percent * 1024 * 1024  # limit: 100 MB
    graded = health(obs, settings(memory=100))
    assert graded.health == expected
    if expected != "green":
        assert any("demo_01" in r for r in graded.reasons)
    # Without a --memory limit there is nothing to compare with.
    assert health(obs, settings(memory=None)).health == "green"


def test_stopped_workers_stale_workers_and_fallback_are_graded() -> None:
    obs = observation()
    obs["supervisor"]["processes"][0]["state"] = "STOPPED"
    assert health(obs, settings()).health == "red"
    stale = [{"pid": 99, "user": "root", "args": "php artisan queue:work"}]
    assert health(observation(stale=stale), settings()).health == "yellow"
    assert health(observation(fallback={"active": True}), settings()).health == "yellow"
    down = observation(redis={"reachable": False, "error": "cannot reach", "policy": None})
    assert health(down, settings()).health == "red"


def test_prometheus_text_is_well_formed_and_uses_only_declared_names() -> None:
    horizon = {"module": "queueops.kinds.horizon.host", "observed": HORIZON_RUNNING}
    text = render_metrics("app1", observation(kinds={"horizon": horizon}, pause=PAUSE))
    names = set(metric_names())
    sample = re.compile(r'^([a-z_]+)\{([a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*)\} -?[0-9.e+]+$')
    for line in text.splitlines():
        if line.startswith("# "):
            assert line.split()[2] in names, line
            continue
        match = sample.match(line)
        assert match, line
        assert match[1] in names, line
    assert (
        'queueops_queue_jobs{host="app1",connection="redis",queue="default",state="ready"} 5'
        in text
    )
    assert 'queueops_worker_processes_up{host="app1",program="demo"} 2' in text
    assert 'queueops_worker_restarts_total{host="app1",program="demo",process="demo_00"} 3' in text
    assert 'queueops_horizon_up{host="app1"} 1' in text
    assert (
        'queueops_worker_memory_limit_bytes{host="app1",program="demo",process="demo_01"} 104857600'
        in text
    )
    assert 'queueops_fallback_active{host="app1"} 0' in text
    assert 'queueops_horizon_state{host="app1",state="running"} 1' in text
    assert 'queueops_horizon_state{host="app1",state="paused"} 0' in text
    assert 'queueops_horizon_masters{host="app1"} 1' in text
    paused = 'queueops_paused_since_timestamp_seconds{host="app1",program="demo",mode="stop"'
    assert f'{paused},operator="alice"}} 1767323045.5' in text


def test_a_pause_queueops_recorded_is_yellow_with_who_and_when() -> None:
    obs = observation(pause=PAUSE)
    for proc in obs["supervisor"]["processes"]:
        proc["state"] = "STOPPED"
    graded = health(obs, settings())
    assert graded.health == "yellow"
    assert graded.reasons == [
        "yellow: program demo paused by alice at 2026-01-02T03:04:05Z (2/2 stopped)"
    ]
    # The same programs stopped without queueops' record: an outage.
    assert health({**obs, "pause": None}, settings()).health == "red"
    # A process that is not stopped but FATAL is no pause.
    obs["supervisor"]["processes"][0]["state"] = "FATAL"
    assert health(obs, settings()).health == "red"
    # Paused by SIGUSR2, the workers run: yellow all the same.
    signal = {**PAUSE, "programs": {"demo": "signal"}}
    graded = health(observation(pause=signal), settings())
    assert graded.reasons == [
        "yellow: program demo paused by alice at 2026-01-02T03:04:05Z (SIGUSR2)"
    ]


def test_label_values_are_escaped() -> None:
    obs = observation(queues={'we"ird\\q': {"ready": 1, "delayed": 0, "reserved": 0}})
    assert 'queue="we\\"ird\\\\q"' in render_metrics("app1", obs)


def test_payload_age_uses_a_recorded_push_time_only() -> None:
    assert payload_age('{"pushedAt": "100.5"}', 160.5) == 60
    assert payload_age('{"uuid": "x"}', 160) is None
    assert payload_age("not json", 160) is None


def test_queue_work_connection_argument() -> None:
    assert queue_work_connection("php artisan queue:work database --sleep=1") == "database"
    assert queue_work_connection("php artisan queue:work --queue=a") is None
    assert queue_work_connection("php artisan horizon") is None


def test_ssh_config_names_inventory_hosts(tmp_path: Path) -> None:
    text = ssh_config([settings()], tmp_path).read_text()
    assert "Host app1\n  HostName 10.0.0.1\n  Port 22\n" in text
    # verify checks host keys as strictly as every other task; accept-new only when asked.
    assert "StrictHostKeyChecking yes" in text
    accepting = ssh_config([settings()], tmp_path, accept_new=True).read_text()
    assert "StrictHostKeyChecking accept-new" in accepting


def test_refresher_program_is_managed_but_not_a_worker_program() -> None:
    program = render_program("/var/lib/prometheus/node-exporter/queueops.prom", 30)
    assert program.startswith("; Managed by queueops")
    assert "[program:queueops-metrics]" in program
    assert "autorestart=true" in program
    # setup-worker deletes files with its own header that it does not render; not this one.
    from queueops.kinds.workers.render import PROGRAM_HEADER

    assert program.split("\n", 1)[0] != PROGRAM_HEADER


def test_observation_is_not_mutated_by_health() -> None:
    obs = observation()
    before = copy.deepcopy(obs)
    health(obs, settings())
    assert obs == before


def test_expositions_of_several_hosts_merge_into_one_document() -> None:
    merged = merge_expositions(
        [render_metrics("app1", observation()), render_metrics("app2", observation())]
    )
    assert merged.count("# TYPE queueops_failed_jobs gauge") == 1
    block = merged.split("# HELP queueops_failed_jobs", 1)[1].split("# HELP", 1)[0]
    # Both hosts share one store; the store labels let a dashboard count it once.
    store = 'store="5f1d",store_name="pgsql app on 10.0.0.5:5432 (failed_jobs)"'
    assert f'queueops_failed_jobs{{host="app1",{store}}} 0' in block
    assert f'queueops_failed_jobs{{host="app2",{store}}} 0' in block
    assert merge_expositions([]) == ""


def test_the_verify_agent_goes_up_in_chunks_below_the_argument_limit(tmp_path: Path) -> None:
    """testinfra sends each command as one `sh -c` argument; Linux refuses one over 128 KiB
    (the observe agent alone, base64-encoded, is about that size)."""
    request: ObserveRequest = {
        "op": "observe", "app_path": "/var/www/app", "php": "php", "paths": [],
        "app_users": ["www-data"],
        "program_dirs": [], "supervisor_configs": [], "queues": ["default"],
        "fallback_path": "/var/lib/queueops/fallback.json",
        "pause_path": "/var/lib/queueops/pause.json", "sample": 1.5, "kinds": {},
    }  # fmt: skip
    path = tmp_path / "agent.b64"
    *writes, run = agent_commands(request, str(path))
    assert len(writes) >= 2
    for command in [*writes, run]:
        assert len(command.encode()) < 64 * 1024
    for command in writes:
        subprocess.run(["sh", "-c", command], check=True)
    assert base64.b64decode(path.read_text()).decode() == program(MODULE, request)
    assert "rm -f" in run and str(path) in run
