"""Data-file cases, collected automatically: add a YAML file under cases/ to add a test.

cases/refusals/*.yml: inventory variables → the InventoryError they must raise.
  hosts:       optional hosts.yml content (default: web1 in group workers)
  group_vars:  optional {group: variables}
  host_vars:   optional variables of web1 (host_vars/web1.yml)
  error:       a substring of the message (file, host, key path and reason)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from queueops.errors import InventoryError
from queueops.inventory import read_yaml
from queueops.settings import host_settings
from tests.unit.trees import load_web1

CASES = Path(__file__).parent / "cases"


def _cases(kind: str) -> list[Any]:
    return [pytest.param(read_yaml(p), id=p.stem) for p in sorted((CASES / kind).glob("*.yml"))]


@pytest.mark.parametrize("kind", ["refusals"])
def test_case_directories_hold_cases(kind: str) -> None:
    assert len(_cases(kind)) >= 5


@pytest.mark.parametrize("case", _cases("refusals"))
def test_refusal(tmp_path: Path, case: dict[str, Any]) -> None:
    host, role_keys = load_web1(
        tmp_path, case.get("hosts"), case.get("group_vars"), case.get("host_vars")
    )
    with pytest.raises(InventoryError) as caught:
        host_settings(host, role_keys)
    assert case["error"] in str(caught.value)
