"""Loading Ansible-style inventories: precedence, file layouts, errors, host selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from queueops.errors import InventoryError, UsageError
from queueops.inventory.ansible_core import read_with_ansible
from queueops.inventory.loader import (
    Inventory,
    load_inventory,
    load_role_defaults,
    resolve_inventory_path,
)
from queueops.inventory.plain import read_plain
from queueops.inventory.vault import NO_VAULT
from queueops.inventory.yamlfile import read_yaml

from ..trees import ROLES_DIR, write_file, write_inventory

# Ansible's documented order, lowest first (see queueops/inventory.py).
LAYERS = (
    "role",
    "all_inline",
    "parent_inline",
    "child_inline",
    "all_file",
    "parent_file",
    "child_file",
    "host_inline",
    "host_file",
)


def _upto(level: int) -> dict[str, str]:
    """demo_upto_N for every N >= level: each layer sets the keys it may still win."""
    return {f"demo_upto_{n}": LAYERS[level] for n in range(level, len(LAYERS))}


@pytest.fixture
def layered(tmp_path: Path) -> tuple[Inventory, Path]:
    roles = tmp_path / "roles"
    write_file(roles / "demo" / "defaults" / "main.yml", _upto(0))
    hosts = {
        "all": {
            "vars": _upto(1),
            "children": {
                "parent": {
                    "vars": _upto(2),
                    "children": {"child": {"vars": _upto(3), "hosts": {"web1": _upto(7)}}},
                }
            },
        }
    }
    inv = write_inventory(
        tmp_path / "inv",
        hosts,
        group_vars={"all": _upto(4), "parent": _upto(5), "child": _upto(6)},
        host_vars={"web1": _upto(8)},
    )
    return load_inventory(inv, roles), tmp_path


def test_precedence_follows_ansibles_documented_order(layered: tuple[Inventory, Path]) -> None:
    inventory, _ = layered
    host = inventory.hosts["web1"]
    for level, name in enumerate(LAYERS):
        assert host.vars[f"demo_upto_{level}"] == name


def test_group_vars_all_file_beats_a_child_groups_inline_vars(
    layered: tuple[Inventory, Path],
) -> None:
    # Ansible loads every inline group var before any group_vars file.
    inventory, _ = layered
    assert inventory.hosts["web1"].vars["demo_upto_4"] == "all_file"


def test_origins_name_the_file_of_the_winning_layer(layered: tuple[Inventory, Path]) -> None:
    inventory, root = layered
    origins = inventory.hosts["web1"].origins
    inv = root / "inv"
    assert origins["demo_upto_0"] == root / "roles" / "demo" / "defaults" / "main.yml"
    assert origins["demo_upto_3"] == inv / "hosts.yml"
    assert origins["demo_upto_4"] == inv / "group_vars" / "all.yml"
    assert origins["demo_upto_6"] == inv / "group_vars" / "child.yml"
    assert origins["demo_upto_7"] == inv / "hosts.yml"
    assert origins["demo_upto_8"] == inv / "host_vars" / "web1.yml"


def test_host_groups_include_every_ancestor_in_merge_order(
    layered: tuple[Inventory, Path],
) -> None:
    inventory, _ = layered
    assert inventory.hosts["web1"].groups == ("all", "parent", "child")
    assert inventory.groups["parent"] == ("web1",)


def test_same_depth_groups_merge_alphabetically(tmp_path: Path) -> None:
    hosts = {
        "all": {
            "children": {
                "beta": {"hosts": {"web1": None}, "vars": {"demo_x": "beta"}},
                "alpha": {"hosts": {"web1": None}, "vars": {"demo_x": "alpha"}},
            }
        }
    }
    roles = tmp_path / "roles"
    write_file(roles / "demo" / "defaults" / "main.yml", {"demo_x": "role"})
    inventory = load_inventory(write_inventory(tmp_path / "inv", hosts), roles)
    assert inventory.hosts["web1"].vars["demo_x"] == "beta"


def test_depth_beats_alphabetical_order(tmp_path: Path) -> None:
    hosts = {
        "all": {
            "children": {
                "zzz_parent": {
                    "vars": {"demo_x": "parent"},
                    "children": {"aaa_child": {"hosts": {"web1": None}}},
                }
            }
        }
    }
    roles = tmp_path / "roles"
    write_file(roles / "demo" / "defaults" / "main.yml", {"demo_x": "role"})
    inv = write_inventory(tmp_path / "inv", hosts, group_vars={"aaa_child": {"demo_x": "child"}})
    host = load_inventory(inv, roles).hosts["web1"]
    assert host.vars["demo_x"] == "child"
    assert host.groups == ("all", "zzz_parent", "aaa_child")


def test_dicts_are_replaced_not_merged(tmp_path: Path) -> None:
    inv = write_inventory(
        tmp_path,
        group_vars={"all": {"queue_worker_program_defaults": {"sleep": 1, "tries": 2}}},
        host_vars={"web1": {"queue_worker_program_defaults": {"sleep": 9}}},
    )
    host = load_inventory(inv, ROLES_DIR).hosts["web1"]
    assert host.vars["queue_worker_program_defaults"] == {"sleep": 9}


def test_a_vars_directory_is_read_level_by_level_and_alone(tmp_path: Path) -> None:
    # Ansible reads the first of NAME, NAME.yml, NAME.yaml and NAME.json that exists (a
    # directory NAME/ first), and the files of a directory level by level, sorted by name.
    inv = write_inventory(
        tmp_path,
        group_vars={
            "workers.yaml": {"queue_worker_php": "from-yaml-file", "queue_worker_user": "a"},
            "workers/10-first.yml": {"queue_worker_php": "from-dir-10"},
            "workers/20-second.yaml": {"queue_worker_log_dir": "/srv/logs"},
            "workers/a/x.yml": {"queue_worker_retry_after": 60},
            "workers/a-b.yml": {"queue_worker_retry_after": 30},
        },
        host_vars={"web1/main.yml": {"ansible_port": 2222}},
    )
    (inv / "group_vars" / "workers" / "README.md").write_text("not variables\n")
    host = load_inventory(inv, ROLES_DIR).hosts["web1"]
    assert host.vars["queue_worker_php"] == "from-dir-10"
    assert host.vars["queue_worker_user"] == ""  # workers.yaml is not read
    assert host.vars["queue_worker_log_dir"] == "/srv/logs"
    # "a" sorts before "a-b", whose file is read after the directory's.
    assert host.vars["queue_worker_retry_after"] == 30
    assert host.vars["ansible_port"] == 2222
    assert host.origins["queue_worker_php"] == inv / "group_vars" / "workers" / "10-first.yml"


def test_role_defaults_are_the_base_layer(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path), ROLES_DIR)
    host = inventory.hosts["web1"]
    assert host.vars["queue_worker_app_path"] == "/var/www/app"
    assert host.origins["queue_worker_app_path"] == ROLES_DIR / "queue_worker/defaults/main.yml"
    assert "queue_worker_programs" in inventory.role_keys


def test_empty_files_are_fine(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, group_vars={"all": ""}, host_vars={"web1": "---\n"})
    host = load_inventory(inv, ROLES_DIR).hosts["web1"]
    assert host.vars["queue_worker_php"] == "php"


def test_inline_host_vars_merge_over_several_declarations(tmp_path: Path) -> None:
    hosts = {
        "all": {
            "children": {
                "a": {"hosts": {"web1": {"queue_worker_php": "php8.1"}}},
                "b": {"hosts": {"web1": {"queue_worker_user": "deploy"}}},
            }
        }
    }
    host = load_inventory(write_inventory(tmp_path, hosts), ROLES_DIR).hosts["web1"]
    assert (host.vars["queue_worker_php"], host.vars["queue_worker_user"]) == ("php8.1", "deploy")


def test_hosts_outside_any_group_are_ungrouped(tmp_path: Path) -> None:
    hosts = {"all": {"hosts": {"lonely": None}, "children": {"workers": {"hosts": {"web1": None}}}}}
    inventory = load_inventory(write_inventory(tmp_path, hosts), ROLES_DIR)
    assert inventory.groups["ungrouped"] == ("lonely",)
    assert inventory.hosts["lonely"].groups == ("all", "ungrouped")


def test_a_hosts_file_path_works_like_its_directory(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, host_vars={"web1": {"queue_worker_php": "php8.2"}})
    host = load_inventory(inv / "hosts.yml", ROLES_DIR).hosts["web1"]
    assert host.vars["queue_worker_php"] == "php8.2"


MALFORMED = """\
queue_worker_programs:
  - name: a
   queues: [x]
"""


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, host_vars={"web1": MALFORMED})
    with pytest.raises(InventoryError, match=r"host_vars/web1\.yml:3:\d+: YAML parsing failed: "):
        load_inventory(inv, ROLES_DIR)


def test_duplicate_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yml"
    path.write_text("a: 1\nb: 2\na: 3\n", encoding="utf-8")
    with pytest.raises(InventoryError, match=r"dup\.yml:3:1: invalid YAML: duplicate key 'a'"):
        read_yaml(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "merge.yml"
    path.write_text("base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  x: 3\n", encoding="utf-8")
    assert read_yaml(path)["mine"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (
            "- just\n- a list\n",
            "Ansible cannot read it: yaml plugin: YAML inventory has invalid structure, it "
            "should be a dictionary",
        ),
        (
            {"all": {"hostz": {"web1": None}}},
            "Ansible skips part of it: Skipping unexpected key (hostz) in group (all)",
        ),
        ({"all": {"hosts": {"-oProxyCommand=x": None}}}, "host names may only use"),
        ({"all": {"vars": ["a"]}}, 'Invalid "vars" entry for "all" group, requires a dictionary'),
        (
            {"a": {"children": {"b": {"children": {"a": None}}}}},
            "Adding group 'b' as child to 'a' creates a recursive dependency loop",
        ),
    ],
)
def test_malformed_hosts_files_are_refused(
    tmp_path: Path, hosts: str | dict[str, object], message: str
) -> None:
    inv = write_inventory(tmp_path, hosts)
    with pytest.raises(InventoryError, match=r"hosts\.yml: ") as caught:
        load_inventory(inv, ROLES_DIR)
    assert message in str(caught.value)


def test_vars_file_for_an_unknown_group_is_a_typo(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, group_vars={"worker": {"queue_worker_php": "php"}})
    with pytest.raises(InventoryError) as caught:
        load_inventory(inv, ROLES_DIR)
    message = str(caught.value)
    assert "group_vars/worker.yml: no group named 'worker'" in message
    assert "did you mean 'workers'?" in message


def test_role_defaults_must_carry_the_role_prefix(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    write_file(roles / "horizon" / "defaults" / "main.yml", {"queue_worker_php": "php"})
    with pytest.raises(InventoryError, match="queue_worker_php: role defaults must start with"):
        load_inventory(write_inventory(tmp_path / "inv"), roles)


def test_missing_inventory_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / "nope", ROLES_DIR)
    assert str(caught.value) == f"{tmp_path / 'nope'}: inventory not found"


@pytest.fixture
def fleet(tmp_path: Path) -> Inventory:
    hosts = {
        "all": {
            "children": {
                "workers": {
                    "hosts": {"api1": None},
                    "children": {"sync": {"hosts": {"sync1": None}}},
                },
                "redis": {"hosts": {"redis1": None}},
                "horizon": None,
            }
        }
    }
    return load_inventory(write_inventory(tmp_path, hosts), ROLES_DIR)


def test_select_by_group_includes_child_groups(fleet: Inventory) -> None:
    assert [h.name for h in fleet.select(None, "workers", False)] == ["api1", "sync1"]


def test_select_all_and_one_host(fleet: Inventory) -> None:
    assert [h.name for h in fleet.select(None, None, True)] == ["api1", "sync1", "redis1"]
    assert [h.name for h in fleet.select("redis1", None, False)] == ["redis1"]


def test_select_unknown_host_names_inventory_known_hosts_and_closest(fleet: Inventory) -> None:
    with pytest.raises(InventoryError) as caught:
        fleet.select("api2", None, False)
    message = str(caught.value)
    assert message.startswith(f"{fleet.path}: no host 'api2' (did you mean 'api1'?)")
    assert "known hosts: api1, redis1, sync1" in message


def test_select_unknown_group_names_known_groups(fleet: Inventory) -> None:
    with pytest.raises(InventoryError) as caught:
        fleet.select(None, "worker", False)
    assert "no group 'worker' (did you mean 'workers'?)" in str(caught.value)
    assert "known groups: all, horizon, redis, sync, ungrouped, workers" in str(caught.value)


def test_select_empty_group_is_refused(fleet: Inventory) -> None:
    with pytest.raises(InventoryError, match="horizon has no hosts"):
        fleet.select(None, "horizon", False)


@pytest.mark.parametrize(
    ("host", "group", "all_hosts"),
    [(None, None, False), ("api1", "workers", False), ("api1", None, True)],
)
def test_select_needs_exactly_one_selector(
    fleet: Inventory, host: str | None, group: str | None, all_hosts: bool
) -> None:
    with pytest.raises(UsageError, match="choose exactly one of --host, --group or --all"):
        fleet.select(host, group, all_hosts)


def test_inventory_option_beats_env_beats_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUEOPS_INVENTORY", "from-env")
    assert resolve_inventory_path("from-option", "from-config") == Path("from-option")
    assert resolve_inventory_path(None, "from-config") == Path("from-env")
    monkeypatch.delenv("QUEUEOPS_INVENTORY")
    assert resolve_inventory_path(None, "from-config") == Path("from-config")


def test_no_inventory_anywhere_explains_the_three_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUEUEOPS_INVENTORY", raising=False)
    with pytest.raises(UsageError) as caught:
        resolve_inventory_path(None, None)
    message = str(caught.value)
    assert "-i/--inventory" in message
    assert "QUEUEOPS_INVENTORY" in message
    assert "invoke.yaml" in message


def test_the_operators_verify_checks_are_not_an_inventory_source(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv")
    marker = tmp_path / "ran"
    check = inv / "verify.d" / "test_site.py"
    write_file(check, f"#!/bin/sh\ntouch {marker}\n")
    check.chmod(0o755)
    defaults = load_role_defaults(ROLES_DIR)
    plain = read_plain([str(inv)], defaults)
    # ansible-core too, which would run an executable file of the directory as a script.
    assert read_with_ansible([str(inv)], [p for _, p in defaults], NO_VAULT) == plain
    assert [h.name for h in plain.hosts] == ["web1"]
    assert not marker.exists()
