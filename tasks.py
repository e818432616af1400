"""queueops tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from queueops import runbooks
from queueops.cli import operator_errors
from queueops.errors import QueueopsError, UsageError
from queueops.fleet_run import run_on_hosts
from queueops.horizon import setup_horizon as setup_horizon_job
from queueops.horizon_settings import HorizonSettings, horizon_settings
from queueops.inventory import Host, resolve_inventory_path
from queueops.lab.tasks import lab
from queueops.lint import findings_json, format_findings, has_errors, lint_inventory
from queueops.metrics import INTERVAL, TEXTFILE_DIR, merge_expositions, metrics_job
from queueops.redis_settings import redis_settings
from queueops.redis_tuning import tune_redis as tune_redis_job
from queueops.render import render_offline, write_tree
from queueops.report import RunReport
from queueops.restart import restart_queue as restart_queue_job
from queueops.scale import plan_scale, undo_edits, write_edits
from queueops.selection import load, select_hosts
from queueops.settings import HostSettings
from queueops.shell import is_safe_name
from queueops.stale import STOP_TIMEOUT
from queueops.stale import list_job as list_stale_job
from queueops.stale import stop_job as stop_stale_job
from queueops.status import collect as collect_status
from queueops.status import to_json as status_json
from queueops.status import to_text as status_text
from queueops.workers import setup_worker as setup_worker_job

SELECT_HELP = {
    "host": "one host of the inventory",
    "group": "every host of one inventory group",
    "all": "every host of the inventory",
    "inventory": "inventory directory (default: QUEUEOPS_INVENTORY, then invoke.yaml)",
}
JSON_HELP = {"json": "print the result as JSON"}
CONVERGE_HELP = {
    **SELECT_HELP,
    **JSON_HELP,
    "check": "report what would change; touch nothing",
    "diff": "show unified diffs of the files that change",
}


def _config_inventory(c: Context) -> str | None:
    """invoke.yaml's inventory; a relative path is relative to this repository, not the cwd."""
    value = c.config.get("queueops", {}).get("inventory")
    return str(Path(__file__).resolve().parent / str(value)) if value else None


def _finish(report: RunReport, as_json: bool, show_diff: bool = False) -> None:
    print(report.to_json() if as_json else report.to_text(show_diff))
    if report.failed:
        raise Exit(code=1)


@task(help=CONVERGE_HELP)
@operator_errors
def setup_worker(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    diff: bool = False,
    json_: bool = False,
) -> None:
    """Install and converge the supervisor programs of queue workers; prove they run."""
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_)
    report = run_on_hosts("setup-worker", [s for _, s in hosts], setup_worker_job(check), check)
    _finish(report, json_, diff)


@task(
    help={
        **SELECT_HELP,
        **JSON_HELP,
        "force": "restart through supervisor (stop, start) instead of queue:restart",
    }
)
@operator_errors
def restart_queue(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    force: bool = False,
    json_: bool = False,
) -> None:
    """After a deploy: gracefully restart every managed worker and confirm new PIDs."""
    # Not gated by lint: restarting what already runs must stay possible during an incident.
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    report = run_on_hosts("restart-queue", [s for _, s in hosts], restart_queue_job(force), False)
    _finish(report, json_)


@task(help=CONVERGE_HELP)
@operator_errors
def setup_horizon(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    diff: bool = False,
    json_: bool = False,
) -> None:
    """Install Horizon's supervisor program and config/horizon.php; restart it only on change."""
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_)
    # Every host's horizon_* values are validated before any host is contacted.
    horizons = {s.name: horizon_settings(h) for h, s in hosts}
    job = setup_horizon_job(check, horizons)
    report = run_on_hosts("setup-horizon", [s for _, s in hosts], job, check)
    _finish(report, json_, diff)


@task(help=CONVERGE_HELP)
@operator_errors
def tune_redis(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    diff: bool = False,
    json_: bool = False,
) -> None:
    """Redis settings for queue use: a drop-in file, applied live with CONFIG SET (no restart)."""
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_)
    # Every host's redis_queue_* values are validated before any host is contacted.
    tunings = {s.name: redis_settings(h) for h, s in hosts}
    report = run_on_hosts(
        "tune-redis", [s for _, s in hosts], tune_redis_job(check, tunings), check
    )
    _finish(report, json_, diff)


@task(help={**SELECT_HELP, "out": "directory to write the host's files under (required)"})
@operator_errors
def render(
    c: Context,
    out: str,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
) -> None:
    """Write exactly what setup-worker would install, under OUT at the hosts' paths (offline)."""
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    for inv_host, settings in hosts:
        base = Path(out) / inv_host.name if len(hosts) > 1 else Path(out)
        for path in write_tree(render_offline(inv_host, settings), base):
            print(path)


@task(help={"inventory": SELECT_HELP["inventory"], **JSON_HELP})
@operator_errors
def lint(c: Context, inventory: str | None = None, json_: bool = False) -> None:
    """Static checks of the inventory for settings that lose or duplicate jobs (docs/lint.md)."""
    findings = lint_inventory(load(inventory, _config_inventory(c)))
    print(findings_json(findings) if json_ else format_findings(findings))
    if has_errors(findings):
        raise Exit(code=1)


# -- incident runbooks (docs/runbooks.md) -------------------------------------------------

RUNBOOK_HELP = {**SELECT_HELP, **JSON_HELP, "check": "print what would be done; touch nothing"}
DESTRUCTIVE_HELP = {
    **RUNBOOK_HELP,
    "yes": "do not ask for confirmation (needed without a terminal)",
}


def _runbook_hosts(
    c: Context, inventory: str | None, host: str | None, group: str | None, all_: bool
) -> tuple[list[HostSettings], dict[str, HorizonSettings]]:
    # Not gated by lint: an incident is no time to refuse hosts for their settings.
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    return [s for _, s in hosts], {s.name: horizon_settings(h) for h, s in hosts}


def _selection(host: str | None, group: str | None, all_: bool) -> dict[str, Any]:
    return {"host": host, "group": group, "all": all_}


def _signal(
    c: Context,
    task_name: str,
    action: str,
    selection: dict[str, Any],
    inventory: str | None,
    check: bool,
    json_: bool,
    supervisor: str | None = None,
) -> None:
    hosts, horizons = _runbook_hosts(
        c, inventory, selection["host"], selection["group"], selection["all"]
    )
    args = {**selection, **({"supervisor": supervisor} if supervisor else {})}
    job = runbooks.signal_job(task_name, action, check, horizons, args, supervisor)
    report = run_on_hosts(task_name, hosts, job, check)
    runbooks.write_local_audit(task_name, args, report)
    _finish(report, json_)


@task(help=RUNBOOK_HELP)
@operator_errors
def pause(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Stop taking jobs, keep workers alive: SIGUSR2 to managed workers, horizon:pause."""
    _signal(c, "pause", "pause", _selection(host, group, all_), inventory, check, json_)


@task(name="continue", help=RUNBOOK_HELP)
@operator_errors
def continue_(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Take jobs again after pause: SIGCONT to managed workers, horizon:continue."""
    _signal(c, "continue", "continue", _selection(host, group, all_), inventory, check, json_)


@task(help={**RUNBOOK_HELP, "name": "the Horizon supervisor (as in horizon:supervisors)"})
@operator_errors
def pause_supervisor(
    c: Context,
    name: str,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """horizon:pause-supervisor NAME on every selected Horizon host."""
    _check_supervisor_name(name)
    selection = _selection(host, group, all_)
    _signal(c, "pause-supervisor", "pause", selection, inventory, check, json_, name)


@task(help={**RUNBOOK_HELP, "name": "the Horizon supervisor (as in horizon:supervisors)"})
@operator_errors
def continue_supervisor(
    c: Context,
    name: str,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """horizon:continue-supervisor NAME on every selected Horizon host."""
    _check_supervisor_name(name)
    selection = _selection(host, group, all_)
    _signal(c, "continue-supervisor", "continue", selection, inventory, check, json_, name)


def _check_supervisor_name(name: str) -> None:
    if not is_safe_name(name) or name.startswith("-"):
        raise UsageError(f"{name!r} is not a Horizon supervisor name (letters, digits, . _ : -)")


@task(help=DESTRUCTIVE_HELP)
@operator_errors
def terminate(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    yes: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Graceful horizon:terminate on Horizon hosts; confirms supervisord brought Horizon back."""
    hosts, horizons = _runbook_hosts(c, inventory, host, group, all_)
    names = [s.name for s in hosts if horizons[s.name].configured]
    runbooks.confirm(f"horizon:terminate on {', '.join(names) or 'no host'}", yes, check)
    args = _selection(host, group, all_)
    report = run_on_hosts("terminate", hosts, runbooks.terminate_job(check, horizons, args), check)
    runbooks.write_local_audit("terminate", args, report)
    _finish(report, json_)


@task(
    help={
        **DESTRUCTIVE_HELP,
        "queue": "the queue to clear (required)",
        "connection": "the queue connection (only redis)",
        "out": "directory for the export file (default: ~/.local/state/queueops/exports)",
    }
)
@operator_errors
def clear(
    c: Context,
    queue: str,
    connection: str = "redis",
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    out: str | None = None,
    yes: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Export every job of a queue to a local JSON Lines file, then delete exactly those."""
    runbooks.check_queue(queue, connection)
    hosts, _ = _runbook_hosts(c, inventory, host, group, all_)
    names = ", ".join(s.name for s in hosts)
    runbooks.confirm(f"clear queue {queue} ({connection}) through {names}", yes, check)
    export = None
    if not check:
        export = runbooks.ExportFile.new(
            Path(out) if out else runbooks.state_dir() / "exports", queue
        )
    args = {"queue": queue, "connection": connection, **_selection(host, group, all_)}
    report = run_on_hosts(
        "clear", hosts, runbooks.clear_job(queue, connection, check, export, args), check
    )
    extra = {}
    if export is not None:
        export.finish()
        extra = {"export": str(export.path)}
    runbooks.write_local_audit("clear", args, report, extra)
    print(report.to_json() if json_ else report.to_text())
    if export is not None:
        kept = sum(1 for r in export.records if r["removed"])
        print(f"exported {kept} removed jobs to {export.path}", file=sys.stderr if json_ else None)
        print(
            f"restore them with: invoke restore-jobs {export.path}",
            file=sys.stderr if json_ else None,
        )
    if report.failed:
        raise Exit(code=1)


def _fallback(
    c: Context,
    task_name: str,
    target: str,
    question: str,
    selection: dict[str, Any],
    inventory: str | None,
    yes: bool,
    check: bool,
    json_: bool,
) -> None:
    hosts, horizons = _runbook_hosts(
        c, inventory, selection["host"], selection["group"], selection["all"]
    )
    runbooks.confirm(f"{question} on {', '.join(s.name for s in hosts)}", yes, check)
    job = runbooks.fallback_job(task_name, target, check, horizons, selection)
    report = run_on_hosts(task_name, hosts, job, check)
    runbooks.write_local_audit(task_name, selection, report)
    _finish(report, json_)


@task(help=DESTRUCTIVE_HELP)
@operator_errors
def fallback_to_database(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    yes: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Redis down or overloaded: move the app and its workers to the database queue."""
    question = "switch QUEUE_CONNECTION to database, stop Horizon and restart the workers"
    selection = _selection(host, group, all_)
    _fallback(c, "fallback-to-database", "database", question, selection, inventory, yes, check,
              json_)  # fmt: skip


@task(help=DESTRUCTIVE_HELP)
@operator_errors
def restore_redis(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    yes: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Undo fallback-to-database: back to Redis, Horizon started, the database queue drained."""
    question = "switch QUEUE_CONNECTION back to redis, start Horizon and drain the database queue"
    selection = _selection(host, group, all_)
    _fallback(c, "restore-redis", "redis", question, selection, inventory, yes, check, json_)


@task(help={**SELECT_HELP, **JSON_HELP, "export": "write every failed job to this JSON Lines file"})
@operator_errors
def failed(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    export: str | None = None,
    json_: bool = False,
) -> None:
    """Failed jobs of the app on each host (its failed-job store); --export writes them all."""
    hosts, _ = _runbook_hosts(c, inventory, host, group, all_)
    found: dict[str, list[dict[str, Any]]] = {}
    report = run_on_hosts("failed", hosts, runbooks.failed_list_job(found), False)
    records = [r for s in hosts for r in found.get(s.name, [])]
    if export:
        runbooks.write_jsonl(Path(export), records)
    print(report.to_json() if json_ else report.to_text())
    if export:
        print(f"exported {len(records)} failed jobs to {export}", file=sys.stderr)
    if report.failed:
        raise Exit(code=1)


@task(
    help={
        **RUNBOOK_HELP,
        "id": "a failed job's id (uuid); repeat for several; default: every failed job",
    },
    iterable=["id"],
)
@operator_errors
def retry_failed(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    id: list[str] | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """queue:retry on each host: failed jobs go back onto their queues (all, or --id ...)."""
    id = list(id or [])
    for value in id:
        if not is_safe_name(value) or value.startswith("-"):
            raise UsageError(f"--id {value!r} is not a failed job id")
    hosts, _ = _runbook_hosts(c, inventory, host, group, all_)
    args = {**_selection(host, group, all_), "ids": list(id)}
    report = run_on_hosts("retry-failed", hosts, runbooks.retry_failed_job(id, check, args), check)
    runbooks.write_local_audit("retry-failed", args, report)
    _finish(report, json_)


@task(help={**DESTRUCTIVE_HELP, "out": "directory for the export files (default: as clear)"})
@operator_errors
def flush_failed(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    out: str | None = None,
    yes: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Export each host's failed jobs to a local file, then forget exactly those."""
    hosts, _ = _runbook_hosts(c, inventory, host, group, all_)
    runbooks.confirm(f"forget the failed jobs on {', '.join(s.name for s in hosts)}", yes, check)
    out_dir = Path(out) if out else runbooks.state_dir() / "exports"
    exports: dict[str, Path] = {}
    args = _selection(host, group, all_)
    job = runbooks.flush_failed_job(out_dir, check, args, exports)
    report = run_on_hosts("flush-failed", hosts, job, check)
    extra = {"exports": {h: str(p) for h, p in exports.items()}}
    runbooks.write_local_audit("flush-failed", args, report, extra)
    for name, path in sorted(exports.items()):
        print(f"{name}: failed jobs exported to {path}", file=sys.stderr)
    _finish(report, json_)


@task(
    help={
        **SELECT_HELP,
        **JSON_HELP,
        "program": "the worker program (or, with --supervisor, the Horizon supervisor)",
        "processes": "the new number of processes (maxProcesses for a Horizon supervisor)",
        "supervisor": "PROGRAM names a Horizon supervisor of horizon_environments",
        "check": "show the inventory diff; write and touch nothing",
    }
)
@operator_errors
def scale(
    c: Context,
    program: str = "",
    processes: int = 0,
    supervisor: bool = False,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Change a process count in the inventory (diff shown), then apply it to the hosts."""
    if not program or not processes:
        raise UsageError("scale needs --program NAME and --processes N")
    inv = load(inventory, _config_inventory(c))
    edits = plan_scale(inv, inv.select(host, group, all_), program, processes, supervisor)
    for edit in edits:
        print(edit.diff, end="", file=sys.stderr if json_ else sys.stdout)
    if not edits:
        print(f"the inventory already says {processes} for {program}", file=sys.stderr)
    if check:
        return
    write_edits(edits)
    try:
        hosts = select_hosts(inventory, _config_inventory(c), host, group, all_)
        horizons = {s.name: horizon_settings(h) for h, s in hosts} if supervisor else {}
    except QueueopsError:
        undo_edits(edits)
        raise
    job = setup_horizon_job(False, horizons) if supervisor else setup_worker_job(False)
    report = run_on_hosts("scale", [s for _, s in hosts], job, False)
    args = {"program": program, "processes": processes, "supervisor": supervisor,
            **_selection(host, group, all_)}  # fmt: skip
    runbooks.write_local_audit("scale", args, report, {"files": [str(e.path) for e in edits]})
    _finish(report, json_)


@task(
    help={
        "file": "an export file written by clear",
        "inventory": SELECT_HELP["inventory"],
        "again": "restore a file that was already restored once (pushes the jobs twice)",
        **JSON_HELP,
        "check": "print what would be pushed back; touch nothing",
    }
)
@operator_errors
def restore_jobs(
    c: Context,
    file: str,
    inventory: str | None = None,
    again: bool = False,
    check: bool = False,
    json_: bool = False,
) -> None:
    """Push the jobs of a clear's export file back to their queue, through the hosts it names."""
    path = Path(file)
    records = runbooks.read_export(path)
    marker = runbooks.restored_marker(path)
    if marker.exists() and not again:
        raise UsageError(
            f"{path} was already restored ({marker.read_text().strip()}); "
            "pass --again to push its jobs a second time"
        )
    by_host, skipped, unconfirmed = runbooks.restore_plan(records)
    if unconfirmed:
        raise UsageError(
            f"{path}: {unconfirmed} jobs were exported but their deletion was never confirmed "
            "(the clear was interrupted); check the queue before restoring by hand"
        )
    everyone = select_hosts(inventory, _config_inventory(c), None, None, True, lint=False)
    known = {s.name: s for _, s in everyone}
    missing = sorted(set(by_host) - set(known))
    if missing:
        raise UsageError(f"{path} names hosts the inventory does not have: {', '.join(missing)}")
    args = {"file": str(path), "again": again}
    hosts = [known[name] for name in sorted(by_host)]
    report = run_on_hosts("restore-jobs", hosts, runbooks.restore_job(by_host, check, args), check)
    runbooks.write_local_audit("restore-jobs", args, report)
    if not check and not report.failed:
        total = sum(len(v) for v in by_host.values())
        marker.write_text(f"{total} jobs pushed back at {runbooks.now()}\n")
    if skipped and not json_:
        print(f"{skipped} exported jobs were not deleted by the clear and are not pushed back")
    _finish(report, json_)


def _with_horizon(
    hosts: list[tuple[Host, HostSettings]],
) -> list[tuple[HostSettings, HorizonSettings | None]]:
    """Each selected host with its Horizon settings (None where Horizon is not configured)."""
    out: list[tuple[HostSettings, HorizonSettings | None]] = []
    for inv_host, settings in hosts:
        horizon = horizon_settings(inv_host)
        out.append((settings, horizon if horizon.configured else None))
    return out


@task(
    help={
        **SELECT_HELP,
        **JSON_HELP,
        "checks": "another folder of testinfra checks to run too (repeatable)",
    },
    iterable=["checks"],
)
@operator_errors
def verify(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    checks: list[str] | None = None,
    json_: bool = False,
) -> None:
    """Prove hosts are right: a testinfra suite per host, failing checks named (docs/verify.md)."""
    # pytest and testinfra take ~0.15 s to import; only verify needs them.
    from queueops.verify.runner import operator_dirs, run_verify

    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    inv_path = resolve_inventory_path(inventory, _config_inventory(c))
    inv_dir = inv_path if inv_path.is_dir() else inv_path.parent
    report = run_verify(_with_horizon(hosts), operator_dirs(inv_dir, checks or []))
    print(report.to_json() if json_ else report.to_text())
    if report.failed:
        raise Exit(code=1)


@task(
    help={
        **SELECT_HELP,
        **JSON_HELP,
        "watch": "refresh the table in place every INTERVAL seconds until Ctrl-C",
        "interval": "seconds between refreshes with --watch (default 5)",
    }
)
@operator_errors
def status(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    json_: bool = False,
    watch: bool = False,
    interval: float = 5.0,
) -> None:
    """The fleet at a glance: programs, memory, queues, failed jobs, Horizon, health class."""
    hosts = _with_horizon(
        select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    )
    if not watch:
        statuses = collect_status(hosts)
        print(status_json(statuses) if json_ else status_text(statuses))
        if any(s.health.health == "red" for s in statuses):
            raise Exit(code=1)
        return
    try:
        while True:
            statuses = collect_status(hosts)
            text = status_json(statuses) if json_ else status_text(statuses)
            stamp = time.strftime("%H:%M:%S")
            # Home, then clear to the end of the screen: the table is redrawn in place.
            sys.stdout.write(f"\x1b[H\x1b[J{stamp}  every {interval:g} s, Ctrl-C stops\n{text}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@task(
    help={
        **SELECT_HELP,
        "install": "write a node_exporter textfile on each host, refreshed by a supervisor program",
        "textfile_dir": f"textfile collector directory on the hosts (default {TEXTFILE_DIR})",
        "interval": f"seconds between refreshes on the hosts (default {INTERVAL})",
    }
)
@operator_errors
def metrics(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    install: bool = False,
    textfile_dir: str = TEXTFILE_DIR,
    interval: int = INTERVAL,
) -> None:
    """Prometheus text exposition of each host (docs/status-and-metrics.md)."""
    hosts = select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    horizons = dict((s.name, h) for s, h in _with_horizon(hosts))
    texts: dict[str, str] = {}
    job = metrics_job(horizons, texts, install, textfile_dir, interval)
    report = run_on_hosts("metrics", [s for _, s in hosts], job, False)
    print(merge_expositions([texts[s.name] for _, s in hosts if s.name in texts]), end="")
    if install or report.failed:
        print(report.to_text(), file=sys.stderr)
    if report.failed:
        raise Exit(code=1)


@task(
    help={
        **SELECT_HELP,
        "yes": "stop them without asking (needed without a terminal)",
        "timeout": f"seconds to finish the current job before SIGKILL (default {STOP_TIMEOUT})",
    }
)
@operator_errors
def stop_stale_workers(
    c: Context,
    host: str | None = None,
    group: str | None = None,
    all_: bool = False,
    inventory: str | None = None,
    yes: bool = False,
    timeout: int = STOP_TIMEOUT,
) -> None:
    """Stop queue:work/horizon processes running outside supervisor, after confirmation."""
    hosts = [
        s for _, s in select_hosts(inventory, _config_inventory(c), host, group, all_, lint=False)
    ]
    found: dict[str, dict[str, Any]] = {}
    listing = run_on_hosts("stop-stale-workers", hosts, list_stale_job(found), True)
    stale = [(h, w) for h, f in found.items() for w in f["stale"]]
    for name, worker in stale:
        print(f"{name}: pid {worker['pid']} ({worker['user']}): {worker['args']}")
    if listing.failed:
        print(listing.to_text(), file=sys.stderr)
    if not stale:
        print("no worker runs outside supervisor")
        if listing.failed:
            raise Exit(code=1)
        return
    if not yes:
        if not sys.stdin.isatty():
            raise Exit("refusing to stop workers without a terminal to confirm: pass --yes", 2)
        answer = input(
            f"Stop these {len(stale)} worker(s) (SIGTERM, SIGKILL after {timeout} s)? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            raise Exit("nothing was stopped", 1)
    report = run_on_hosts(
        "stop-stale-workers",
        [s for s in hosts if s.name in found],
        stop_stale_job(found, timeout),
        False,
    )
    _finish(report, False)


ns = Collection(
    setup_worker,
    restart_queue,
    setup_horizon,
    tune_redis,
    render,
    lint,
    lab,
    pause,
    continue_,
    pause_supervisor,
    continue_supervisor,
    terminate,
    clear,
    restore_jobs,
    scale,
    failed,
    retry_failed,
    flush_failed,
    fallback_to_database,
    restore_redis,
    verify,
    status,
    metrics,
    stop_stale_workers,
)
