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

Refusals of what every host has (connection variables, os_family, unknown keys) are under
tests/unit/inventory/cases/refusals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.kinds import host_settings
from queueops.kinds.workers.render import render_programs, resolve_connections
from queueops.kinds.workers.settings import worker_of
from queueops.platforms import detect_family, platform_for

from ...trees import assert_refused, case_host, cases

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize("kind", ["render", "refusals"])
def test_case_directories_hold_cases(kind: str) -> None:
    assert len(cases(CASES / kind)) >= 5


@pytest.mark.parametrize("case", cases(CASES / "render"))
def test_render(tmp_path: Path, case: dict[str, Any]) -> None:
    host, role_keys = case_host(tmp_path, case)
    worker = worker_of(host_settings(host, role_keys))
    connections = resolve_connections(worker, case["facts"]["queue_connection"])
    for os_id, expected in case["expected"].items():
        platform = platform_for(detect_family(f"ID={os_id}\n"))
        assert render_programs(worker, platform, connections) == expected, os_id


@pytest.mark.parametrize("case", cases(CASES / "refusals"))
def test_refusal(tmp_path: Path, case: dict[str, Any]) -> None:
    assert_refused(tmp_path, case)
