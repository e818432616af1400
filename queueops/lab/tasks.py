"""`invoke lab.up | lab.down | lab.status`: the local fleet every test and the demo run on.

Every invoke run loads this namespace; the lab's own machinery (queueops.lab.control and
what it imports) is imported by these tasks only, so no operator's run pays for it.
"""

from __future__ import annotations

import json
import time

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from queueops.cli.errors import operator_errors


@task(
    help={
        "app_hosts": "number of app hosts (alternating ubuntu / centos), default 2",
        "bastion": "also start the bastion host (127.0.1.9, inventories/lab-bastion)",
        "database": "db1's server: postgresql or mariadb (default: what runs, else postgresql)",
    }
)
@operator_errors
def up(c: Context, app_hosts: int = 2, bastion: bool = False, database: str = "") -> None:
    """Start the lab fleet (redis1, db1 + app hosts); hosts already up are left as they are."""
    from queueops.lab import control
    from queueops.lab.fleet import database_kind

    start = time.monotonic()
    started = control.up(
        app_hosts, bastion=bastion, database=database_kind(database) if database else None
    )
    took = time.monotonic() - start
    if started:
        print(f"lab: started {', '.join(started)} in {took:.1f} s")
    else:
        print("lab: every host was already up")
    print("lab: ssh -F .lab/ssh_config app1   |   invoke lab.status   |   invoke lab.down")


@task
@operator_errors
def down(c: Context) -> None:
    """Stop every lab host and remove its overlay; quiet when nothing runs."""
    from queueops.lab import control

    stopped = control.down()
    if stopped:
        print(f"lab: stopped {', '.join(stopped)}")


@task(help={"json": "print machine-readable JSON"})
@operator_errors
def status(c: Context, json_: bool = False) -> None:
    """List lab hosts: name, address, flavour, role, up/down, memory."""
    from queueops.lab import control

    rows = control.status()
    if json_:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("lab: no host is running (invoke lab.up)")
        return
    print(f"{'host':<8} {'address':<12} {'flavour':<7} {'role':<7} {'state':<5} {'memory':>9}")
    for r in rows:
        memory = f"{int(str(r['memory_kib'])) / 1024:.1f} MiB"
        print(
            f"{r['name']!s:<8} {r['address']!s:<12} {r['flavour']!s:<7} "
            f"{r['role']!s:<7} {r['state']!s:<5} {memory:>9}"
        )
    total = sum(int(str(r["memory_kib"])) for r in rows) / 1024
    print(f"total resident memory: {total:.1f} MiB")


@task(help={"version": "the laravel/horizon release, e.g. 5.22.1 or 5.29.1"})
@operator_errors
def horizon(c: Context, version: str) -> None:
    """Make the app hosts' Horizon stand-in answer like another Horizon 5.x release."""
    from queueops.lab import control

    hosts = control.use_horizon(version)
    print(f"lab: Horizon stand-in answers like {version} on {', '.join(hosts) or 'no host'}")


lab = Collection("lab", up, down, status, horizon)
