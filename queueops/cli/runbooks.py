"""The incident runbooks' tasks (docs/runbooks.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from queueops.cli.options import (
    DESTRUCTIVE,
    INVENTORY,
    JSON,
    RUNBOOK,
    SELECT,
    Options,
    config_inventory,
    finish,
    host_task,
)
from queueops.errors import UsageError
from queueops.inventory.host import HostSettings
from queueops.kinds.horizon.settings import configured_horizon
from queueops.kinds.hosts import select_hosts
from queueops.runbooks import failed as failed_jobs
from queueops.runbooks import queue_jobs
from queueops.runbooks.audit import confirm, state_dir, write_local_audit
from queueops.runbooks.fallback import fallback_job
from queueops.runbooks.signals import signal_job, terminate_job
from queueops.shell import is_safe_name
from queueops.transport.fleet import run_on_hosts

SUPERVISOR_HELP = {"name": "the Horizon supervisor (as in horizon:supervisors)"}


def runbook_hosts(c: Context, o: Options) -> list[HostSettings]:
    # Not gated by lint: an incident is no time to refuse hosts for their settings.
    hosts = select_hosts(
        o.inventory, config_inventory(c), o.host, o.group, o.all_, lint=False, vault=o.vault()
    )
    return [s for _, s in hosts]


def _signal(
    c: Context, o: Options, task_name: str, action: str, supervisor: str | None = None
) -> None:
    hosts = runbook_hosts(c, o)
    args = {**o.selection(), **({"supervisor": supervisor} if supervisor else {})}
    report = run_on_hosts(
        task_name,
        hosts,
        signal_job(task_name, action, o.check, args, supervisor),
        o.check,
        reach=o.reach(c),
    )
    write_local_audit(task_name, args, report)
    finish(report, o.json_)


def _check_supervisor_name(name: str) -> None:
    if not is_safe_name(name) or name.startswith("-"):
        raise UsageError(f"{name!r} is not a Horizon supervisor name (letters, digits, . _ : -)")


@host_task(RUNBOOK)
def pause(c: Context, o: Options) -> None:
    """Stop taking jobs, keep workers alive: SIGUSR2 to managed workers, horizon:pause."""
    _signal(c, o, "pause", "pause")


@host_task(RUNBOOK, name="continue")
def continue_(c: Context, o: Options) -> None:
    """Take jobs again after pause: SIGCONT to managed workers, horizon:continue."""
    _signal(c, o, "continue", "continue")


@host_task(RUNBOOK, help=SUPERVISOR_HELP)
def pause_supervisor(c: Context, o: Options, name: str) -> None:
    """horizon:pause-supervisor NAME on every selected Horizon host."""
    _check_supervisor_name(name)
    _signal(c, o, "pause-supervisor", "pause", name)


@host_task(RUNBOOK, help=SUPERVISOR_HELP)
def continue_supervisor(c: Context, o: Options, name: str) -> None:
    """horizon:continue-supervisor NAME on every selected Horizon host."""
    _check_supervisor_name(name)
    _signal(c, o, "continue-supervisor", "continue", name)


@host_task(DESTRUCTIVE)
def terminate(c: Context, o: Options) -> None:
    """Graceful horizon:terminate on Horizon hosts; confirms supervisord brought Horizon back."""
    hosts = runbook_hosts(c, o)
    names = [s.name for s in hosts if configured_horizon(s)]
    confirm(f"horizon:terminate on {', '.join(names) or 'no host'}", o.yes, o.check)
    args = o.selection()
    report = run_on_hosts(
        "terminate", hosts, terminate_job(o.check, args), o.check, reach=o.reach(c)
    )
    write_local_audit("terminate", args, report)
    finish(report, o.json_)


@host_task(
    DESTRUCTIVE,
    help={
        "queue": "the queue to clear (required)",
        "connection": "the queue connection (only redis)",
        "out": "directory for the export file (default: ~/.local/state/queueops/exports)",
    },
    first=("connection",),
)
def clear(
    c: Context, o: Options, queue: str, connection: str = "redis", out: str | None = None
) -> None:
    """Export every job of a queue to a local JSON Lines file, then delete exactly those."""
    queue_jobs.check_queue(queue, connection)
    hosts = runbook_hosts(c, o)
    names = ", ".join(s.name for s in hosts)
    confirm(f"clear queue {queue} ({connection}) through {names}", o.yes, o.check)
    export = None
    if not o.check:
        export = queue_jobs.ExportFile.new(Path(out) if out else state_dir() / "exports", queue)
    args = {"queue": queue, "connection": connection, **o.selection()}
    job = queue_jobs.clear_job(queue, connection, o.check, export, args)
    try:
        report = run_on_hosts("clear", hosts, job, o.check, reach=o.reach(c))
    except KeyboardInterrupt:
        # The hosts' deletes that answered are recorded: restore-jobs can push those back.
        if export is not None:
            export.finish()
            print(f"interrupted: what was deleted is recorded in {export.path}", file=sys.stderr)
        raise
    extra = {}
    if export is not None:
        export.finish()
        extra = {"export": str(export.path)}
    write_local_audit("clear", args, report, extra)
    print(report.to_json() if o.json_ else report.to_text())
    if export is not None:
        kept = sum(1 for r in export.records if r["removed"])
        where = sys.stderr if o.json_ else None
        print(f"exported {kept} removed jobs to {export.path}", file=where)
        print(f"restore them with: invoke restore-jobs {export.path}", file=where)
    if report.failed:
        raise Exit(code=1)


def _fallback(c: Context, o: Options, task_name: str, target: str, question: str) -> None:
    hosts = runbook_hosts(c, o)
    confirm(f"{question} on {', '.join(s.name for s in hosts)}", o.yes, o.check)
    args = o.selection()
    report = run_on_hosts(
        task_name, hosts, fallback_job(task_name, target, o.check, args), o.check, reach=o.reach(c)
    )
    write_local_audit(task_name, args, report)
    finish(report, o.json_)


@host_task(DESTRUCTIVE)
def fallback_to_database(c: Context, o: Options) -> None:
    """Redis down or overloaded: move the app and its workers to the database queue."""
    question = "switch QUEUE_CONNECTION to database, stop Horizon and restart the workers"
    _fallback(c, o, "fallback-to-database", "database", question)


@host_task(DESTRUCTIVE)
def restore_redis(c: Context, o: Options) -> None:
    """Undo fallback-to-database: back to Redis, Horizon started, the database queue drained."""
    question = "switch QUEUE_CONNECTION back to redis, start Horizon and drain the database queue"
    _fallback(c, o, "restore-redis", "redis", question)


@host_task((*SELECT, *JSON), help={"export": "write every failed job to this JSON Lines file"})
def failed(c: Context, o: Options, export: str | None = None) -> None:
    """Failed jobs of the app on each host (its failed-job store); --export writes them all."""
    hosts = runbook_hosts(c, o)
    found: dict[str, list[dict[str, Any]]] = {}
    report = run_on_hosts(
        "failed",
        hosts,
        failed_jobs.failed_list_job(found, failed_jobs.Stores()),
        False,
        reach=o.reach(c),
    )
    records = [r for s in hosts for r in found.get(s.name, [])]
    if export:
        failed_jobs.write_jsonl(Path(export), records)
    print(report.to_json() if o.json_ else report.to_text())
    if export:
        print(f"exported {len(records)} failed jobs to {export}", file=sys.stderr)
    if report.failed:
        raise Exit(code=1)


@host_task(
    RUNBOOK,
    help={"id": "a failed job's id (uuid); repeat for several; default: every failed job"},
    iterable=["id"],
)
def retry_failed(c: Context, o: Options, id: list[str] | None = None) -> None:
    """queue:retry on each host: failed jobs go back onto their queues (all, or --id ...)."""
    ids = list(id or [])
    for value in ids:
        if not is_safe_name(value) or value.startswith("-"):
            raise UsageError(f"--id {value!r} is not a failed job id")
    hosts = runbook_hosts(c, o)
    args = {**o.selection(), "ids": ids}
    job = failed_jobs.retry_failed_job(ids, o.check, args, failed_jobs.Stores())
    report = run_on_hosts("retry-failed", hosts, job, o.check, reach=o.reach(c))
    write_local_audit("retry-failed", args, report)
    finish(report, o.json_)


@host_task(DESTRUCTIVE, help={"out": "directory for the export files (default: as clear)"})
def flush_failed(c: Context, o: Options, out: str | None = None) -> None:
    """Export each host's failed jobs to a local file, then forget exactly those."""
    hosts = runbook_hosts(c, o)
    confirm(f"forget the failed jobs on {', '.join(s.name for s in hosts)}", o.yes, o.check)
    out_dir = Path(out) if out else state_dir() / "exports"
    exports: dict[str, Path] = {}
    args = o.selection()
    job = failed_jobs.flush_failed_job(out_dir, o.check, args, exports, failed_jobs.Stores())
    report = run_on_hosts("flush-failed", hosts, job, o.check, reach=o.reach(c))
    extra = {"exports": {h: str(p) for h, p in exports.items()}}
    write_local_audit("flush-failed", args, report, extra)
    for name, path in sorted(exports.items()):
        print(f"{name}: failed jobs exported to {path}", file=sys.stderr)
    finish(report, o.json_)


@host_task(
    (*INVENTORY, *JSON),
    help={
        "file": "an export file written by clear",
        "again": "restore a file that was already restored once (pushes the jobs twice)",
        "check": "print what would be pushed back; touch nothing",
    },
)
def restore_jobs(
    c: Context, o: Options, file: str, again: bool = False, check: bool = False
) -> None:
    """Push the jobs of a clear's export file back to their queue, through the hosts it names."""
    path = Path(file)
    records = queue_jobs.read_export(path)
    record = queue_jobs.RestoredRecord.of(path)
    by_host, skipped, unconfirmed = queue_jobs.restore_plan(records)
    if unconfirmed:
        raise UsageError(
            f"{path}: {unconfirmed} jobs were exported but their deletion was never confirmed "
            "(the clear was interrupted); check the queue before restoring by hand"
        )
    if not again:
        # What an earlier run pushed back (FILE.restored) is not pushed again.
        by_host = {
            host: left
            for host, jobs in by_host.items()
            if (left := [r for r in jobs if not record.has(host, r["queue"])])
        }
        if not by_host:
            raise UsageError(
                f"{path} was already restored ({record.whole or record.path}); "
                "pass --again to push its jobs a second time"
            )
    everyone = select_hosts(
        o.inventory, config_inventory(c), None, None, True, lint=False, vault=o.vault()
    )
    known = {s.name: s for _, s in everyone}
    missing = sorted(set(by_host) - set(known))
    if missing:
        raise UsageError(f"{path} names hosts the inventory does not have: {', '.join(missing)}")
    args = {"file": str(path), "again": again}
    hosts = [known[name] for name in sorted(by_host)]
    job = queue_jobs.restore_job(by_host, check, args, record, again)
    report = run_on_hosts("restore-jobs", hosts, job, check, reach=o.reach(c))
    write_local_audit("restore-jobs", args, report)
    if skipped and not o.json_:
        print(f"{skipped} exported jobs were not deleted by the clear and are not pushed back")
    finish(report, o.json_)
