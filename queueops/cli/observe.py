"""verify, status, metrics and stop-stale-workers."""

from __future__ import annotations

import sys
import time
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from queueops.cli.options import JSON, SELECT, Options, config_inventory, finish, host_task
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import resolve_inventory_path
from queueops.kinds.hosts import select_hosts
from queueops.observe.metrics import INTERVAL, TEXTFILE_DIR, merge_expositions, metrics_job
from queueops.observe.stale import STOP_TIMEOUT
from queueops.observe.stale import list_job as list_stale_job
from queueops.observe.stale import stop_job as stop_stale_job
from queueops.observe.status import collect as collect_status
from queueops.observe.status import to_json as status_json
from queueops.observe.status import to_text as status_text
from queueops.transport.fleet import run_on_hosts


def observed_hosts(c: Context, o: Options) -> list[HostSettings]:
    """The selected hosts, never gated by lint: observing must work whatever the settings."""
    hosts = select_hosts(
        o.inventory, config_inventory(c), o.host, o.group, o.all_, lint=False, vault=o.vault()
    )
    return [s for _, s in hosts]


@host_task(
    (*SELECT, *JSON),
    help={"checks": "another folder of testinfra checks to run too (repeatable)"},
    iterable=["checks"],
)
def verify(c: Context, o: Options, checks: list[str] | None = None) -> None:
    """Prove hosts are right: a testinfra suite per host, failing checks named (docs/verify.md)."""
    # pytest and testinfra take ~0.15 s to import; only verify needs them.
    from queueops.observe.verify.runner import operator_dirs, run_verify

    hosts = observed_hosts(c, o)
    inv_path = resolve_inventory_path(o.inventory, config_inventory(c))
    inv_dir = inv_path if inv_path.is_dir() else inv_path.parent
    report = run_verify(hosts, operator_dirs(inv_dir, checks or []), o.reach(c))
    print(report.to_json() if o.json_ else report.to_text())
    if report.failed:
        raise Exit(code=1)


@host_task(
    (*SELECT, *JSON),
    help={
        "watch": "refresh the table in place every INTERVAL seconds until Ctrl-C",
        "interval": "seconds between refreshes with --watch (default 5)",
    },
)
def status(c: Context, o: Options, watch: bool = False, interval: float = 5.0) -> None:
    """The fleet at a glance: programs, memory, queues, failed jobs, Horizon, health class."""
    hosts = observed_hosts(c, o)
    if not watch:
        statuses = collect_status(hosts, o.reach(c))
        print(status_json(statuses) if o.json_ else status_text(statuses))
        if any(s.health.health == "red" for s in statuses):
            raise Exit(code=1)
        return
    reach = o.reach(c)
    try:
        while True:
            statuses = collect_status(hosts, reach)
            text = status_json(statuses) if o.json_ else status_text(statuses)
            stamp = time.strftime("%H:%M:%S")
            # Home, then clear to the end of the screen: the table is redrawn in place.
            sys.stdout.write(f"\x1b[H\x1b[J{stamp}  every {interval:g} s, Ctrl-C stops\n{text}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@host_task(
    SELECT,
    help={
        "install": "write a node_exporter textfile on each host, refreshed by a supervisor program",
        "textfile_dir": f"textfile collector directory on the hosts (default {TEXTFILE_DIR})",
        "interval": f"seconds between refreshes on the hosts (default {INTERVAL})",
    },
)
def metrics(
    c: Context,
    o: Options,
    install: bool = False,
    textfile_dir: str = TEXTFILE_DIR,
    interval: int = INTERVAL,
) -> None:
    """Prometheus text exposition of each host (docs/status-and-metrics.md)."""
    hosts = observed_hosts(c, o)
    texts: dict[str, str] = {}
    job = metrics_job(texts, install, textfile_dir, interval)
    report = run_on_hosts("metrics", hosts, job, False, reach=o.reach(c))
    print(merge_expositions([texts[s.name] for s in hosts if s.name in texts]), end="")
    if install or report.failed:
        print(report.to_text(), file=sys.stderr)
    if report.failed:
        raise Exit(code=1)


@host_task(
    SELECT,
    help={
        "yes": "stop them without asking (needed without a terminal)",
        "timeout": f"seconds to finish the current job before SIGKILL (default {STOP_TIMEOUT})",
    },
)
def stop_stale_workers(
    c: Context, o: Options, yes: bool = False, timeout: int = STOP_TIMEOUT
) -> None:
    """Stop queue:work/horizon processes running outside supervisor, after confirmation."""
    hosts = observed_hosts(c, o)
    found: dict[str, dict[str, Any]] = {}
    reach = o.reach(c)
    listing = run_on_hosts("stop-stale-workers", hosts, list_stale_job(found), True, reach=reach)
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
        reach=o.reach(c),
    )
    finish(report, False)
