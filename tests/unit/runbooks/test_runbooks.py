"""Runbooks without hosts: Redis keys from .env, export files, confirmation, pause modes."""

from __future__ import annotations

import functools
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.agent.common import AgentError
from queueops.agent.laravel import set_env
from queueops.errors import UsageError
from queueops.kinds.horizon.settings import HorizonSettings, HorizonSupervisor
from queueops.kinds.workers.settings import Program
from queueops.lab.fleet import repo_root
from queueops.plan.report import HostResult, RunReport
from queueops.runbooks import audit, failed, fallback, host_fallback, queue_jobs, signals
from queueops.runbooks.host_queue_jobs import queue_keys
from queueops.runbooks.protocol import QUEUE_JOBS_MODULE, SIGNALS_MODULE, QueueJob
from queueops.transport.assembly import program as agent_program

INVOKE = str(Path(sys.executable).with_name("invoke"))


def test_queue_keys_are_laravels() -> None:
    assert queue_keys("p_", "mail") == [
        "p_queues:mail",
        "p_queues:mail:delayed",
        "p_queues:mail:reserved",
        "p_queues:mail:notify",
    ]


def test_the_modules_sent_to_hosts_register_the_runbook_operations() -> None:
    for op, module in (
        ("runbook_signal", SIGNALS_MODULE),
        ("runbook_terminate", SIGNALS_MODULE),
        ("queue_read", QUEUE_JOBS_MODULE),
        ("queue_delete", QUEUE_JOBS_MODULE),
    ):
        assert op in importlib.import_module(module).OPERATIONS
        compile(agent_program(module, {"op": op}), "agent", "exec")


def program(max_time: int) -> Program:
    return Program(
        name="mail", queues=("mail",), connection=None, processes=1, sleep=2, tries=3,
        max_time=max_time, timeout=30, memory=None, backoff=(), user=None,
        stopwaitsecs=45, startsecs=1,
    )  # fmt: skip


def test_workers_with_max_time_are_stopped_not_signalled() -> None:
    assert signals.pause_mode(program(0))["mode"] == "signal"
    stop = signals.pause_mode(program(3600))
    assert stop["mode"] == "stop" and stop["stop_timeout"] == 55


def test_confirm_refuses_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    with pytest.raises(UsageError, match="refusing without a terminal") as info:
        audit.confirm("clear queue mail", yes=False, check=False)
    assert info.value.exit_code == 2
    audit.confirm("clear queue mail", yes=True, check=False)
    audit.confirm("clear queue mail", yes=False, check=True)


def test_confirm_at_a_terminal_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = io.StringIO()
    monkeypatch.setattr(tty, "isatty", lambda: True)
    monkeypatch.setattr(sys, "stdin", tty)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(UsageError, match="not confirmed"):
        audit.confirm("clear queue mail", yes=False, check=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    audit.confirm("clear queue mail", yes=False, check=False)


def read_result(jobs: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "endpoint": "10.0.0.5:6379/0",
        "keys": queue_keys("p_", "mail"),
        "jobs": [{"state": s, "payload": p, "score": None} for s, p in jobs],
    }


def test_export_file_is_written_before_the_delete_and_records_what_was_removed(
    tmp_path: Path,
) -> None:
    export = queue_jobs.ExportFile.new(tmp_path / "exports", "mail")
    assert export.path.name.startswith("clear-mail-") and export.path.suffix == ".jsonl"
    assert os.stat(export.path).st_mode & 0o777 == 0o600
    payloads = [json.dumps({"uuid": f"u{i}", "data": {}}) for i in range(3)]
    records = export.add("app1", "mail", read_result([("ready", p) for p in payloads]))
    on_disk = queue_jobs.read_export(export.path)
    assert [r["uuid"] for r in on_disk] == ["u0", "u1", "u2"]
    assert all(r["removed"] is None for r in on_disk)
    with pytest.raises(UsageError, match="never confirmed"):
        raise_if_unconfirmed(export.path)
    for record, removed in zip(records, [True, False, True], strict=True):
        record["removed"] = removed
    export.finish()
    by_host, skipped, unconfirmed = queue_jobs.restore_plan(queue_jobs.read_export(export.path))
    assert [r["uuid"] for r in by_host["app1"]] == ["u0", "u2"]
    assert (skipped, unconfirmed) == (1, 0)


def raise_if_unconfirmed(path: Path) -> None:
    _, _, unconfirmed = queue_jobs.restore_plan(queue_jobs.read_export(path))
    if unconfirmed:
        raise UsageError("never confirmed")


def test_read_export_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"host": "a", "queue": "q", "state": "ready", "payload": "{}"}\nnope\n')
    with pytest.raises(UsageError, match=r"x.jsonl:2: not a JSON line"):
        queue_jobs.read_export(path)


def test_queue_and_connection_are_checked() -> None:
    queue_jobs.check_queue("mail", "redis")
    with pytest.raises(UsageError, match="not a queue name"):
        queue_jobs.check_queue("mail;rm", "redis")
    with pytest.raises(UsageError, match="redis connection only"):
        queue_jobs.check_queue("mail", "database")


def unreachable_inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    hosts = {"web1": {"ansible_host": "192.0.2.1"}}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return inv


@pytest.mark.parametrize("task", [["clear", "--queue", "mail"], ["terminate"]])
def test_destructive_tasks_refuse_without_a_terminal_and_touch_nothing(
    tmp_path: Path, task: list[str]
) -> None:
    audit = tmp_path / "audit.log"
    result = subprocess.run(
        [INVOKE, *task, "-i", str(unreachable_inventory(tmp_path)), "--all"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, "QUEUEOPS_AUDIT_LOG": str(audit), "XDG_STATE_HOME": str(tmp_path)},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pass --yes" in result.stderr
    assert not audit.exists() and not (tmp_path / "queueops").exists()


@pytest.mark.parametrize(
    ("text", "after"),
    [
        # The last assignment is the one phpdotenv keeps: its value alone changes.
        (
            "A=x\nQUEUE_CONNECTION=redis\n# QUEUE_CONNECTION=sync\nexport QUEUE_CONNECTION=a\n",
            "A=x\nQUEUE_CONNECTION=redis\n# QUEUE_CONNECTION=sync\n"
            "export QUEUE_CONNECTION=database\n",
        ),
        # export with a tab, CRLF line endings, a quoted name, spacing, no final newline.
        (
            "A=1\r\nexport\tQUEUE_CONNECTION=redis\r\n  B = 'x y' # kept\r\n",
            "A=1\r\nexport\tQUEUE_CONNECTION=database\r\n  B = 'x y' # kept\r\n",
        ),
        ('"QUEUE_CONNECTION" = "redis"', '"QUEUE_CONNECTION" = database'),
        ("A=1\nQUEUE_CONNECTION=redis", "A=1\nQUEUE_CONNECTION=database"),
        # Not an assignment of the key: a longer name, a comment, `exported`.
        ("QUEUE_CONNECTION_X=redis\n", "QUEUE_CONNECTION_X=redis\nQUEUE_CONNECTION=database\n"),
        (
            "exportQUEUE_CONNECTION=redis\n",
            "exportQUEUE_CONNECTION=redis\nQUEUE_CONNECTION=database\n",
        ),
        # Appended in the file's own line ending, after a last line that had none.
        ("APP_NAME=x", "APP_NAME=x\nQUEUE_CONNECTION=database\n"),
        ("APP_NAME=x\r\nB=2", "APP_NAME=x\r\nB=2\r\nQUEUE_CONNECTION=database\r\n"),
        ("", "QUEUE_CONNECTION=database\n"),
    ],
)
def test_set_env_changes_one_value_and_keeps_every_other_byte(text: str, after: str) -> None:
    assert set_env(text, "QUEUE_CONNECTION", "database") == after


def test_horizon_fallback_program_covers_every_horizon_queue() -> None:
    sup = functools.partial(
        HorizonSupervisor, connection="redis", balance="simple", auto_scaling_strategy="time",
        min_processes=1, balance_max_shift=1, balance_cooldown=3, memory=128, nice=0,
    )  # fmt: skip
    horizon = HorizonSettings(
        app_path="/var/www/app", php="php", user=None, program_name="horizon",
        log_file="/var/log/horizon.log", stopwaitsecs=75, status_timeout=30, prefix=None,
        waits=(), trim=(), memory_limit=64,
        environments=(
            ("production", (
                sup(name="a", queue=("high", "default"), max_processes=3, tries=0, timeout=60),
                sup(name="b", queue=("reports",), max_processes=2, tries=3, timeout=90),
            )),
            ("staging", (sup(name="a", queue=("default",), max_processes=1, tries=1,
                             timeout=30),)),
        ),
    )  # fmt: skip
    program = fallback.horizon_fallback_program(horizon)
    assert program.name == "horizon-fallback"
    assert program.queues == ("high", "default", "reports")
    assert (program.processes, program.tries, program.timeout) == (5, 3, 90)
    assert program.connection is None and program.stopwaitsecs == 75


def test_failed_records_keep_what_a_retry_or_an_audit_needs(tmp_path: Path) -> None:
    payload = json.dumps({"uuid": "u1", "displayName": "App\\Jobs\\Mail"})
    rows = [{"id": 7, "uuid": "u1", "connection": "redis", "queue": "mail", "payload": payload,
             "exception": "boom", "failed_at": "2026-01-01 00:00:00"}]  # fmt: skip
    (record,) = failed.failed_records("app1", rows)
    assert record["id"] == "u1" and record["class"] == "App\\Jobs\\Mail"
    assert record["host"] == "app1" and record["exception"] == "boom"
    assert failed.failed_class({"payload": "not json"}) == "?"
    path = tmp_path / "out" / "failed.jsonl"
    failed.write_jsonl(path, [record])
    assert json.loads(path.read_text()) == record
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_the_restore_record_says_which_hosts_and_queues_were_pushed(tmp_path: Path) -> None:
    export = tmp_path / "clear-mail.jsonl"
    export.write_text("")
    record = queue_jobs.RestoredRecord.of(export)
    assert not record.has("app1", "mail")
    record.add("app1", "mail", {"jobs": 3, "pushed": 3})
    again = queue_jobs.RestoredRecord.of(export)
    assert again.has("app1", "mail") and not again.has("app2", "mail")
    assert not again.has("app1", "sms")
    assert os.stat(again.path).st_mode & 0o777 == 0o600
    # An older queueops wrote one line: the whole file was restored.
    again.path.write_text("3 jobs pushed back at 2026-01-01T00:00:00Z\n")
    assert queue_jobs.RestoredRecord.of(export).has("app2", "sms")
    again.path.write_text("[1]")
    with pytest.raises(UsageError, match="not a queueops restore record"):
        queue_jobs.RestoredRecord.of(export)


def test_a_restore_id_names_the_host_the_queue_and_the_jobs() -> None:
    jobs: list[QueueJob] = [{"state": "ready", "payload": '{"uuid": "u1"}'}]
    first = queue_jobs.restore_id("app1", "mail", jobs)
    assert first == queue_jobs.restore_id(
        "app1", "mail", [{"state": "ready", "payload": '{"uuid": "u1"}'}]
    )
    assert len({
        first,
        queue_jobs.restore_id("app2", "mail", jobs),
        queue_jobs.restore_id("app1", "sms", jobs),
        queue_jobs.restore_id("app1", "mail", [{"state": "delayed", "payload": '{"uuid": "u1"}'}]),
    }) == 4  # fmt: skip


def test_the_local_audit_log_is_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state" / "audit.log"
    monkeypatch.setenv("QUEUEOPS_AUDIT_LOG", str(path))
    old = os.umask(0o022)
    try:
        audit.write_local_audit("clear", {}, RunReport("clear", [HostResult("app1")]))
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["task"] == "clear"


def test_a_fallback_rerun_keeps_what_the_first_try_recorded() -> None:
    request: Any = {"audit": {"operator": "alice"}}
    first = host_fallback.intended(request, None, "redis", True)
    assert (first["from"], first["config_cached"], first["horizon_stopped"]) == (
        "redis",
        True,
        False,
    )
    marker = {**first, "horizon_stopped": True, "path": "/var/lib/queueops/fallback.json"}
    # The rerun finds .env half-switched (database) and no cache: the record stays as it was.
    assert host_fallback.intended(request, marker, "database", False) == {
        k: v for k, v in marker.items() if k != "path"
    }
    with pytest.raises(AgentError, match="does not say which connection"):
        host_fallback.intended(
            request, {"active": True, "path": "/x", "raw": "{"}, "database", False
        )
