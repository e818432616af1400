"""Host selection refuses an inventory with lint errors before any host is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from queueops.errors import InventoryError
from queueops.kinds.hosts import select_hosts
from queueops.kinds.workers.settings import worker_of

from ..trees import write_inventory

RISKY = {
    "queue_worker_retry_after": 60,
    "queue_worker_programs": [{"name": "mail", "queues": ["mail"], "timeout": 90}],
}


def test_lint_errors_refuse_the_run_naming_rule_file_and_key(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, group_vars={"workers": RISKY})
    with pytest.raises(InventoryError) as caught:
        select_hosts(str(inv), None, "web1", None, False)
    message = str(caught.value)
    assert "lint errors; nothing was touched" in message
    assert "QO101" in message
    assert "group_vars/workers.yml" in message
    assert "queue_worker_programs[0].timeout" in message or "queue_worker_retry_after" in message
    assert caught.value.exit_code == 2


def test_without_the_lint_gate_the_same_hosts_are_selected(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, group_vars={"workers": RISKY})
    [(host, settings)] = select_hosts(str(inv), None, "web1", None, False, lint=False)
    assert host.name == "web1"
    assert worker_of(settings).programs[0].timeout == 90


def test_warnings_do_not_stop_a_run(tmp_path: Path) -> None:
    leaky = {"queue_worker_programs": [{"name": "mail", "queues": ["mail"], "max_time": 0}]}
    inv = write_inventory(tmp_path, group_vars={"workers": leaky})
    [(host, _)] = select_hosts(str(inv), None, "web1", None, False)
    assert host.name == "web1"
