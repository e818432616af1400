"""The one reading of Horizon's state on a host, its grade in status, its metrics and
verify's check, from what a host shows: no host needed."""

from __future__ import annotations

from typing import Any

import pytest

from queueops.kinds.horizon.grading import grade_horizon, state_cell
from queueops.kinds.horizon.host import metric_samples
from queueops.kinds.horizon.state import (
    STATES,
    master_process,
    own_name,
    read_state,
    status_says,
)

NOW = 1_000.0
PROGRAM = {"name": "horizon", "state": "RUNNING", "pid": 71}


def master(pid: int, ppid: int = 1) -> dict[str, Any]:
    return {"pid": pid, "ppid": ppid, "user": "www-data", "args": "/usr/bin/php artisan horizon"}


def record(name: str, pid: int, status: str = "running", age: float = 1) -> dict[str, Any]:
    return {"name": name, "pid": pid, "status": status, "heartbeat": NOW - age, "ttl": 14}


def reading(
    processes: list[dict[str, Any]],
    records: list[dict[str, Any]] | None,
    program: dict[str, Any] | None = PROGRAM,
    installed: bool | None = True,
) -> dict[str, Any]:
    return read_state(program, processes, records, installed, NOW)


def test_one_registered_master_under_supervisord_runs_or_is_paused() -> None:
    running = reading([master(71)], [record("app1-Ab3d", 71)])
    assert running["state"] == "running"
    assert running["masters"] == [{"pid": 71, "user": "www-data", "supervised": True,
                                   "name": "app1-Ab3d", "status": "running"}]  # fmt: skip
    assert "master app1-Ab3d pid 71 (supervisord)" in running["detail"]
    paused = reading([master(71)], [record("app1-Ab3d", 71, "paused")])
    assert paused["state"] == "paused"


def test_a_sigkilled_master_is_inactive_though_horizon_still_counts_it() -> None:
    # horizon:status says running for up to 14 s: the registration outlives the process.
    seen = reading([], [record("app1-Ab3d", 71, age=3)], {**PROGRAM, "state": "STARTING"})
    assert seen["state"] == "inactive"
    assert seen["gone"] == [{"name": "app1-Ab3d", "pid": 71}]
    assert "program horizon is STARTING" in seen["detail"]
    assert "Horizon counts it for another 11 s" in seen["detail"]


def test_a_terminating_master_is_inactive_while_it_finishes_its_jobs() -> None:
    # horizon:terminate: the master unregisters at once and waits for its workers.
    seen = reading([master(71)], [])
    assert seen["state"] == "inactive"
    assert "runs unregistered: it is terminating" in seen["detail"]


def test_two_masters_on_one_host_are_doubled_whatever_they_registered() -> None:
    records = [record("app1-Ab3d", 71), record("app1-Zz99", 90, "paused")]
    seen = reading([master(71), master(90, ppid=88)], records)
    assert seen["state"] == "doubled"
    assert seen["detail"] == (
        "2 masters on this host: pid 71 (supervisord) running, pid 90 (outside supervisord) paused"
    )
    # A second one still terminating (unregistered) is a second master as well.
    assert reading([master(71), master(90)], records[:1])["state"] == "doubled"


def test_no_master_is_inactive_or_absent() -> None:
    stopped = reading([], [], {**PROGRAM, "state": "STOPPED", "pid": 0})
    assert (stopped["state"], stopped["detail"]) == (
        "inactive",
        "no master runs (program horizon is STOPPED)",
    )
    assert reading([], [], program=None)["state"] == "absent"
    assert "run setup-horizon" in reading([], [], program=None)["detail"]
    no_horizon = reading([], [], installed=False)
    assert no_horizon["state"] == "absent" and "the app has no Horizon" in no_horizon["detail"]


def test_unreadable_registrations_make_a_running_master_unknown() -> None:
    assert reading([master(71)], None)["state"] == "unknown"
    # Without a master the program says enough.
    assert reading([], None, {**PROGRAM, "state": "FATAL", "pid": 0})["state"] == "inactive"


def test_heartbeats_older_than_horizons_window_do_not_count() -> None:
    seen = reading([master(71)], [record("app1-Ab3d", 71, age=14)])
    assert seen["state"] == "inactive" and seen["gone"] == []
    expired = {**record("app1-Ab3d", 71), "ttl": -2}
    assert reading([master(71)], [expired])["state"] == "inactive"


def test_this_machines_masters_by_name() -> None:
    assert own_name("app1-Ab3d", "app1")
    assert not own_name("app10-Ab3d", "app1")
    assert not own_name("app1-Ab3de", "app1")
    assert not own_name("app1-Ab-d", "app1")
    assert master_process("/usr/bin/php8.2 /var/www/app/artisan horizon")
    assert master_process("php artisan horizon --environment=production")
    assert not master_process("php artisan horizon:work redis --supervisor=app1-Ab3d:s")
    assert not master_process("php artisan queue:work horizon")
    assert master_process("php -d memory_limit=-1 artisan horizon")
    # What started a master is no second one.
    assert not master_process("runuser -u www-data -- php artisan horizon")
    assert not master_process("sh -c php artisan horizon; echo done")


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        ("Horizon is running.", 0, "running"),
        ("INFO Horizon is running.", 0, "running"),
        ("Horizon is paused.", 1, "paused"),
        ("Horizon is inactive.", 1, "inactive"),  # up to 5.24
        ("ERROR Horizon is inactive.", 2, "inactive"),  # from 5.25
        ("", 2, "inactive"),
        ("", 0, "running"),
        ("", 1, None),  # paused, or inactive up to 5.24
    ],
)
def test_horizon_status_of_any_5x(text: str, code: int, says: str | None) -> None:
    assert status_says(text, code) == says


def observed(state: str, masters: int = 1, supervisors: list[Any] | None = None) -> Any:
    return {
        "state": state,
        "detail": "why",
        "masters": [{"pid": 70 + i} for i in range(masters)],
        "supervisors": supervisors or [],
    }


MARKER = {"operator": "alice", "since": "2026-01-02T03:04:05Z", "since_ts": 1.0,
          "task": "pause", "programs": {"horizon": "horizon"}, "supervisors": []}  # fmt: skip


def test_a_pause_queueops_recorded_is_yellow_with_who_and_when() -> None:
    assert grade_horizon(observed("paused"), MARKER) == [
        ("yellow", "Horizon paused by alice at 2026-01-02T03:04:05Z (invoke continue)")
    ]
    assert grade_horizon(observed("paused"), None) == [
        ("red", "Horizon is paused, and queueops recorded no pause: why")
    ]
    # A master restarted while paused works again: the record no longer holds.
    [(level, reason)] = grade_horizon(observed("running"), MARKER)
    assert level == "yellow" and "a restarted master forgets it" in reason
    assert grade_horizon(observed("running"), None) == []


def test_no_master_and_two_masters_are_red() -> None:
    assert grade_horizon(observed("inactive", 0), None) == [
        ("red", "Horizon is not running (inactive): why")
    ]
    assert grade_horizon(observed("doubled", 2), MARKER) == [("red", "Horizon doubled: why")]
    assert grade_horizon(observed("absent", 0), None)[0][0] == "red"
    assert [state_cell(observed(s, 2 if s == "doubled" else 1)) for s in STATES] == [
        "running", "paused", "INACTIVE", "ABSENT", "2 MASTERS", "UNKNOWN"
    ]  # fmt: skip


def test_a_paused_supervisor_of_a_running_master_is_yellow() -> None:
    sups = [{"name": "app1-Ab3d:emails", "status": "paused"},
            {"name": "app1-Ab3d:supervisor-1", "status": "running"}]  # fmt: skip
    marker = {**MARKER, "programs": {}, "supervisors": ["emails"]}
    assert grade_horizon(observed("running", supervisors=sups), marker) == [
        ("yellow", "Horizon supervisor emails is paused by alice at 2026-01-02T03:04:05Z")
    ]
    assert grade_horizon(observed("running", supervisors=sups), None) == [
        ("yellow", "Horizon supervisor emails is paused and queueops recorded no pause")
    ]


@pytest.mark.parametrize(
    ("state", "masters", "up"),
    [("running", 1, 1), ("paused", 1, 1), ("doubled", 2, 1), ("inactive", 1, 0),
     ("absent", 0, 0), ("unknown", 1, 0)],
)  # fmt: skip
def test_metrics_give_the_state_one_gauge_per_state_and_the_masters(
    state: str, masters: int, up: int
) -> None:
    base = {"host": "app1"}
    samples = metric_samples(observed(state, masters), base)
    assert ("horizon_up", base, up) in samples
    assert ("horizon_masters", base, masters) in samples
    states = {labels["state"]: value for name, labels, value in samples if name == "horizon_state"}
    assert states == {s: int(s == state) for s in STATES}
