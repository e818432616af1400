"""Refusal cases of what every host has: connection variables, os_family, unknown keys.

Same format as tests/unit/kinds/workers/cases/refusals (see its test_cases.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..trees import assert_refused, cases

CASES = Path(__file__).parent / "cases" / "refusals"


def test_case_directory_holds_cases() -> None:
    assert len(cases(CASES)) >= 5


@pytest.mark.parametrize("case", cases(CASES))
def test_refusal(tmp_path: Path, case: dict[str, Any]) -> None:
    assert_refused(tmp_path, case)
