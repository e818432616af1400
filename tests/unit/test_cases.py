"""Data-file cases, collected automatically: add a YAML file under cases/ to add a test.

Both kinds take the inventory of host web1 (group workers) from:
  hosts:       optional hosts.yml content
  group_vars:  optional {group: variables}
  host_vars:   optional variables of web1 (host_vars/web1.yml)

cases/render/*.yml: → the program files the host should have, per OS.
  facts:       queue_connection: QUEUE_CONNECTION in the app's .env (null: unset)
  expected:    {os-release ID: {remote path: full content}}

cases/refusals/*.yml: → the InventoryError the variables must raise.
  error:       a substring of the message (file, host, key path and reason)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError
from queueops.inventory import Host, read_yaml
from queueops.platforms import detect_family, platform_for
from queueops.render import render_programs, resolve_connections
from queueops.settings import host_settings

from .trees import load_web1

CASES = Path(__file__).parent / "cases"


def _cases(kind: str) -> list[Any]:
    return [pytest.param(read_yaml(p), id=p.stem) for p in sorted((CASES / kind).glob("*.yml"))]


@pytest.mark.parametrize("kind", ["render", "refusals"])
def test_case_directories_hold_cases(kind: str) -> None:
    assert len(_cases(kind)) >= 5


def _web1(root: Path, case: dict[str, Any]) -> tuple[Host, frozenset[str]]:
    return load_web1(root, case.get("hosts"), case.get("group_vars"), case.get("host_vars"))


@pytest.mark.parametrize("case", _cases("render"))
def test_render(tmp_path: Path, case: dict[str, Any]) -> None:
    host, role_keys = _web1(tmp_path, case)
    worker = host_settings(host, role_keys).worker
    connections = resolve_connections(worker, case["facts"]["queue_connection"])
    for os_id, expected in case["expected"].items():
        platform = platform_for(detect_family(f"ID={os_id}\n"))
        assert render_programs(worker, platform, connections) == expected, os_id


@pytest.mark.parametrize("case", _cases("refusals"))
def test_refusal(tmp_path: Path, case: dict[str, Any]) -> None:
    host, role_keys = _web1(tmp_path, case)
    with pytest.raises(InventoryError) as caught:
        host_settings(host, role_keys)
    assert case["error"] in str(caught.value)
