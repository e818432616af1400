"""The converge tasks (one per config kind, from the registry), restart-queue, render, lint
and scale."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task

from queueops.cli.options import (
    CONVERGE,
    INVENTORY,
    JSON,
    SELECT,
    Options,
    config_inventory,
    finish,
    host_task,
)
from queueops.errors import QueueopsError, UsageError
from queueops.kinds import KINDS, horizon, workers
from queueops.kinds.base import Kind
from queueops.kinds.converge import converge_job
from queueops.kinds.hosts import lint_inventory, load, refused, select_hosts
from queueops.lint.findings import findings_json, format_findings, has_errors
from queueops.plan.templates import write_tree
from queueops.runbooks.audit import write_local_audit
from queueops.runbooks.restart import restart_queue as restart_queue_job
from queueops.runbooks.scale import plan_scale, undo_edits, write_edits
from queueops.transport.fleet import run_on_hosts


def converge_task(kind: Kind[Any, Any, Any]) -> Task[Any]:
    """The kind's converge task: validated and lint-gated hosts, its job on each, the report."""
    name = kind.task

    def body(c: Context, o: Options) -> None:
        hosts = select_hosts(
            o.inventory, config_inventory(c), o.host, o.group, o.all_, vault=o.vault()
        )
        report = run_on_hosts(
            name, [s for _, s in hosts], converge_job(kind, o.check), o.check, reach=o.reach(c)
        )
        finish(report, o.json_, o.diff)

    body.__doc__ = kind.help
    body.__name__ = body.__qualname__ = name.replace("-", "_")
    return host_task(CONVERGE, name=name)(body)


CONVERGE_TASKS = [converge_task(kind) for kind in KINDS]


@host_task(
    (*SELECT, *JSON),
    help={"force": "restart through supervisor (stop, start) instead of queue:restart"},
)
def restart_queue(c: Context, o: Options, force: bool = False) -> None:
    """After a deploy: gracefully restart every managed worker and confirm new PIDs."""
    # Not gated by lint: restarting what already runs must stay possible during an incident.
    hosts = select_hosts(
        o.inventory, config_inventory(c), o.host, o.group, o.all_, lint=False, vault=o.vault()
    )
    report = run_on_hosts(
        "restart-queue", [s for _, s in hosts], restart_queue_job(force), False, reach=o.reach(c)
    )
    finish(report, o.json_)


@host_task(
    SELECT, help={"out": "directory to write the host's files under (required)"}, reach=False
)
def render(c: Context, o: Options, out: str) -> None:
    """Write exactly what the setup tasks would install, under OUT at the hosts' paths (offline)."""
    hosts = select_hosts(
        o.inventory, config_inventory(c), o.host, o.group, o.all_, lint=False, vault=o.vault()
    )
    # Every host's files of every kind first: a refusal leaves nothing half written.
    trees = [
        (inv_host, {path: text for kind in KINDS for path, text in
                    kind.render(inv_host, settings).items()})
        for inv_host, settings in hosts
    ]  # fmt: skip
    for inv_host, files in trees:
        base = Path(out) / inv_host.name if len(hosts) > 1 else Path(out)
        for path in write_tree(files, base):
            print(path)


@host_task((*INVENTORY, *JSON), reach=False)
def lint(c: Context, o: Options) -> None:
    """Static checks of the inventory for settings that lose or duplicate jobs (docs/lint.md)."""
    findings = lint_inventory(load(o.inventory, config_inventory(c), o.vault()))
    print(findings_json(findings) if o.json_ else format_findings(findings))
    if refused(findings):
        raise Exit(code=2)
    if has_errors(findings):
        raise Exit(code=1)


@host_task(
    (*SELECT, *JSON),
    help={
        "program": "the worker program (or, with --supervisor, the Horizon supervisor)",
        "processes": "the new number of processes (maxProcesses for a Horizon supervisor)",
        "supervisor": "PROGRAM names a Horizon supervisor of horizon_environments",
        "check": "show the inventory diff; write and touch nothing",
    },
)
def scale(
    c: Context,
    o: Options,
    program: str = "",
    processes: int = 0,
    supervisor: bool = False,
    check: bool = False,
) -> None:
    """Change a process count in the inventory (diff shown), then apply it to the hosts."""
    if not program or not processes:
        raise UsageError("scale needs --program NAME and --processes N")
    inv = load(o.inventory, config_inventory(c), o.vault())
    edits = plan_scale(inv, inv.select(o.host, o.group, o.all_), program, processes, supervisor)
    for edit in edits:
        print(edit.diff, end="", file=sys.stderr if o.json_ else sys.stdout)
    if not edits:
        print(f"the inventory already says {processes} for {program}", file=sys.stderr)
    if check:
        return
    write_edits(edits)
    try:
        hosts = select_hosts(
            o.inventory, config_inventory(c), o.host, o.group, o.all_, vault=o.vault()
        )
    except QueueopsError:
        undo_edits(edits)
        raise
    job = converge_job(horizon.KIND if supervisor else workers.KIND, False)
    report = run_on_hosts("scale", [s for _, s in hosts], job, False, reach=o.reach(c))
    args = {"program": program, "processes": processes, "supervisor": supervisor,
            **o.selection()}  # fmt: skip
    write_local_audit("scale", args, report, {"files": [str(e.path) for e in edits]})
    finish(report, o.json_)
