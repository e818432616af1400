"""scale: the inventory edit, in place, comments kept, refused where it would reach too far."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from queueops.errors import UsageError
from queueops.kinds.hosts import load
from queueops.runbooks.scale import plan_scale, set_value, write_edits

WORKERS = """\
# Workers of the shop.
queue_worker_app_path: /var/www/app
queue_worker_programs:
  - name: mail      # outgoing mail
    queues: [mail]
    processes: 2
  - name: reports
    queues: [reports]
horizon_environments:
  production:
    supervisor-1:
      queue: [default]
      maxProcesses: 4   # peak
"""


def inventory(tmp: Path) -> Path:
    inv = tmp / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "host_vars").mkdir()
    hosts = {"web1": None, "web2": None}
    groups = {"workers": {"hosts": hosts}, "solo": {"hosts": {"web3": None}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (inv / "group_vars" / "workers.yml").write_text(WORKERS)
    (inv / "host_vars" / "web3.yml").write_text(
        "queue_worker_programs:\n  - {name: mail, queues: [mail]}\n"
    )
    return inv


def test_set_value_replaces_in_place_and_keeps_comments() -> None:
    after = set_value(WORKERS, ["queue_worker_programs", ("name", "mail")], "processes", 6, "f")
    assert after == WORKERS.replace("processes: 2", "processes: 6")
    after = set_value(WORKERS, ["queue_worker_programs", ("name", "reports")], "processes", 3, "f")
    assert "  - processes: 3\n    name: reports\n" in after
    assert yaml.safe_load(after)["queue_worker_programs"][1]["processes"] == 3
    steps = ["horizon_environments", "production", "supervisor-1"]
    after = set_value(WORKERS, steps, "maxProcesses", 8, "f")
    assert "maxProcesses: 8   # peak" in after
    with pytest.raises(UsageError, match="no entry with name: nope"):
        set_value(WORKERS, ["queue_worker_programs", ("name", "nope")], "processes", 1, "f")


def test_plan_scale_edits_the_file_that_defines_the_programs(tmp_path: Path) -> None:
    inv = load(str(inventory(tmp_path)), None)
    edits = plan_scale(inv, inv.select(None, "workers", False), "mail", 5, False)
    assert [e.path.name for e in edits] == ["workers.yml"]
    assert "-    processes: 2\n+    processes: 5\n" in edits[0].diff
    write_edits(edits)
    again = load(str(tmp_path / "inv"), None)
    assert again.select("web1", None, False)[0].vars["queue_worker_programs"][0]["processes"] == 5
    assert plan_scale(again, again.select(None, "workers", False), "mail", 5, False) == []
    sup = plan_scale(again, again.select(None, "workers", False), "supervisor-1", 2, True)
    assert "+      maxProcesses: 2   # peak\n" in sup[0].diff


def test_plan_scale_refuses_what_it_cannot_or_should_not_change(tmp_path: Path) -> None:
    inv = load(str(inventory(tmp_path)), None)
    with pytest.raises(UsageError, match="sets queue_worker_programs for web2 too"):
        plan_scale(inv, inv.select("web1", None, False), "mail", 5, False)
    with pytest.raises(UsageError, match="flow-style"):
        plan_scale(inv, inv.select("web3", None, False), "mail", 5, False)
    with pytest.raises(UsageError, match="at least 1"):
        plan_scale(inv, inv.select(None, "workers", False), "mail", 0, False)


def test_scale_refuses_files_it_cannot_edit_as_yaml(tmp_path: Path) -> None:
    # Inventories are read as Ansible reads them: a value may come from INI or a vault file.
    ini = "[workers]\nweb1 queue_worker_retry_after=90\n"
    with pytest.raises(UsageError, match=r"hosts\.ini: scale edits YAML files, and this is not"):
        set_value(ini, ["queue_worker_programs", ("name", "mail")], "processes", 2, "hosts.ini")
    vaulted = "$ANSIBLE_VAULT;1.1;AES256\n6134\n"
    with pytest.raises(UsageError, match=r"vault\.yml is encrypted with Ansible Vault"):
        set_value(vaulted, ["queue_worker_programs"], "processes", 2, "vault.yml")
