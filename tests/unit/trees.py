"""Build small inventory directories on disk, the way operators lay them out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from queueops.errors import InventoryError
from queueops.inventory.loader import Host, load_inventory
from queueops.inventory.yamlfile import read_yaml
from queueops.kinds import host_settings

REPO = Path(__file__).resolve().parents[2]
ROLES_DIR = REPO / "roles"
EXAMPLE_INVENTORY = REPO / "inventories" / "example"

# One host in one group: what most cases need.
ONE_WORKER: dict[str, object] = {"all": {"children": {"workers": {"hosts": {"web1": None}}}}}

Content = str | Mapping[str, object] | None


def write_file(path: Path, content: Content) -> None:
    """Mappings are dumped as YAML; strings are written as they are (for malformed files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = yaml.safe_dump(dict(content), sort_keys=False)
    path.write_text(text, encoding="utf-8")


def write_inventory(
    root: Path,
    hosts: Content = None,
    group_vars: Mapping[str, Content] | None = None,
    host_vars: Mapping[str, Content] | None = None,
) -> Path:
    """hosts.yml plus group_vars/NAME.yml and host_vars/NAME.yml; NAME may hold a subpath."""
    write_file(root / "hosts.yml", ONE_WORKER if hosts is None else hosts)
    for kind, files in (("group_vars", group_vars), ("host_vars", host_vars)):
        for name, content in (files or {}).items():
            relative = name if name.endswith((".yml", ".yaml")) else f"{name}.yml"
            write_file(root / kind / relative, content)
    return root


def load_web1(
    root: Path,
    hosts: Content = None,
    group_vars: Mapping[str, Content] | None = None,
    host_vars: Content = None,
    roles: Path = ROLES_DIR,
) -> tuple[Host, frozenset[str]]:
    """Host web1 of an inventory written under `root`, and the role keys to validate it."""
    inventory = load_inventory(
        write_inventory(
            root, hosts, group_vars, None if host_vars is None else {"web1": host_vars}
        ),
        roles,
    )
    return inventory.hosts["web1"], inventory.role_keys


def cases(directory: Path) -> list[Any]:
    """Every YAML case file of a folder, as pytest params named by file."""
    return [pytest.param(read_yaml(p), id=p.stem) for p in sorted(directory.glob("*.yml"))]


def case_host(root: Path, case: dict[str, Any]) -> tuple[Host, frozenset[str]]:
    """Host web1 of a case (its hosts, group_vars and host_vars keys)."""
    return load_web1(root, case.get("hosts"), case.get("group_vars"), case.get("host_vars"))


def assert_refused(root: Path, case: dict[str, Any]) -> None:
    """The case's variables raise the InventoryError its `error` names a part of."""
    host, role_keys = case_host(root, case)
    with pytest.raises(InventoryError) as caught:
        host_settings(host, role_keys)
    assert case["error"] in str(caught.value)
