"""`invoke inventory`: the inventory as queueops reads it, the way ansible-inventory shows it."""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.exceptions import Exit

from queueops.cli.options import INVENTORY, Options, config_inventory, host_task
from queueops.errors import UsageError
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.inventory.show import host_json, list_json
from queueops.kinds import host_settings
from queueops.kinds.hosts import load
from queueops.resources import ROLES_DIR


@host_task(
    INVENTORY,
    help={
        "list": "every group and host, with its variables and queueops' settings",
        "host": "one host's variables, groups and queueops' settings",
    },
    reach=False,
)
def inventory(c: Context, o: Options, list_: bool = False, host: str = "") -> None:
    """The inventory as queueops reads it: ansible-inventory's JSON, secrets masked.

    --list or --host NAME, as ansible-inventory takes them; the values are templated, and
    each host's settings (what every task will use) come beside its variables.
    """
    if list_ == bool(host):
        raise UsageError("give one of --list or --host NAME")
    inv = load(o.inventory, config_inventory(c), o.vault())

    def settings(h: Host) -> HostSettings:
        return host_settings(h, inv.role_keys)

    if host:
        doc = host_json(inv.select(host, None, False)[0], ROLES_DIR, settings)
        refused = "error" in doc["queueops"]
    else:
        doc = list_json(inv, ROLES_DIR, settings)
        refused = any("error" in h for h in doc["_meta"]["queueops"].values())
    print(json.dumps(doc, indent=4, sort_keys=True))
    if refused:
        # The settings of some host do not validate: every task would refuse it.
        raise Exit(code=2)
