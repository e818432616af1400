"""What an inventory reader hands the loader, whichever reader it was (plain.py, ansible_core.py).

Both readers produce the same thing for the same inventory: that is what tests/unit/inventory/
test_parity.py proves for every inventory the plain reader accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where Ansible looks for group_vars/ and host_vars/, and where queueops looks for typos.
VARS_DIRS = ("group_vars", "host_vars")
# The operators' own verify checks, a folder inside the inventory directory (docs/verify.md).
# It is not an inventory source: Ansible would take each of its files for one, fail to parse
# the test files, and run any executable one as an inventory script.
OPERATOR_CHECKS = "verify.d"


@dataclass(frozen=True)
class ReadHost:
    name: str
    # `all` first, then every other group of the host (ancestors too) in Ansible's merge
    # order: by depth (longest path from `all`), ansible_group_priority, then name.
    groups: tuple[str, ...]
    # The role defaults, under the inventory's variables merged as Ansible merges them,
    # templated, as plain Python values.
    vars: dict[str, Any]
    origins: dict[str, Path]
    # The inventory source that declared the host first (Ansible's inventory_file).
    source: Path
    # Variables that other variables' templates use: helpers, not typos.
    helpers: frozenset[str] = frozenset()
    # The values decrypted from Ansible Vault, and the values of secret variables.
    secrets: frozenset[str] = field(default=frozenset(), repr=False)


@dataclass(frozen=True)
class Read:
    # In Ansible's inventory order: the order hosts were first declared.
    hosts: tuple[ReadHost, ...]
    # Group → its child groups and the hosts listed in it directly, in declaration order.
    children: dict[str, tuple[str, ...]]
    direct: dict[str, tuple[str, ...]]
    # The directories whose group_vars/ and host_vars/ Ansible read.
    basedirs: tuple[Path, ...]


class HandOff(Exception):
    """The plain reader does not read this shape the way Ansible does: ansible-core reads it."""
