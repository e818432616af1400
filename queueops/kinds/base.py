"""What a config kind is: one folder under queueops/kinds/ and one line in the registry.

A kind (workers, Horizon, Redis, ...) owns, side by side in its folder:

- settings.py: its role's variables validated into a frozen dataclass (`settings`);
- plan.py: the pure plan, settings + facts → file changes and handler calls;
- protocol.py: its typed requests to the host;
- job.py: the per-host job of its converge task (facts → plan → apply unless --check);
- host.py: its host half, the agent operations that apply the plan (standard library only);
- lint.py: the rules on its settings and rendered files (`lint`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from queueops.inventory.loader import Host
from queueops.lint.findings import Collector
from queueops.transport.fleet import HostJob


@dataclass(frozen=True)
class Kind:
    # The key of its settings in HostSettings.kinds.
    name: str
    # Its Ansible role under roles/, whose defaults/main.yml prefixes every variable.
    role: str
    # The converge task that applies it (None: a kind other tasks use, no task of its own).
    task: str | None
    help: str
    # Validates the host's variables of this kind; raises the host's InventoryError.
    settings: Callable[[Host], object]
    # Adds its findings for one host, whose settings of every kind are validated.
    lint: Callable[[Collector], None]
    # The job of its converge task: converge(check) → per-host job.
    converge: Callable[[bool], HostJob] | None
    # Other kinds whose settings its lint rules read.
    needs: tuple[str, ...] = ()
