"""queueops tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from queueops.cli import operator_errors
from queueops.fleet_run import run_on_hosts
from queueops.horizon import setup_horizon as setup_horizon_job
from queueops.horizon_settings import horizon_settings
from queueops.lab.tasks import lab
from queueops.lint import findings_json, format_findings, has_errors, lint_inventory
from queueops.redis_settings import redis_settings
from queueops.redis_tuning import tune_redis as tune_redis_job
from queueops.render import render_offline, write_tree
from queueops.report import RunReport
from queueops.restart import restart_queue as restart_queue_job
from queueops.selection import load, select_hosts
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


ns = Collection(setup_worker, restart_queue, setup_horizon, tune_redis, render, lint, lab)
