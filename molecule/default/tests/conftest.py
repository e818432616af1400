"""Molecule's testinfra verifier, wired as `invoke verify` wires its checks: each host of
Molecule's selection (--hosts) is reached over queueops' own ssh_config (the inventory's
keys, known_hosts and bastions, resolved as every queueops task resolves them; testinfra's
ansible backend does not expand `{{ inventory_dir }}`), and `target` is the inventory's
settings of that host with one observation by the queueops agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import testinfra

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import load_inventory
from queueops.kinds import host_settings
from queueops.observe.verify.runner import ssh_config
from queueops.observe.verify.target import Target, observe_target
from queueops.resources import ROLES_DIR


@pytest.fixture(scope="session")
def queueops_hosts(request: pytest.FixtureRequest) -> dict[str, HostSettings]:
    inventory = load_inventory(Path(request.config.option.ansible_inventory), ROLES_DIR)
    return {n: host_settings(h, inventory.role_keys) for n, h in inventory.hosts.items()}


@pytest.fixture(scope="session")
def queueops_ssh_config(
    queueops_hosts: dict[str, HostSettings], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return ssh_config(list(queueops_hosts.values()), tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def host(_testinfra_host: Any, queueops_ssh_config: Path) -> Any:
    """The host Molecule selected, over queueops' ssh_config."""
    name = _testinfra_host.backend.get_hostname()
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(queueops_ssh_config))


@pytest.fixture(scope="module")
def target(host: Any, queueops_hosts: dict[str, HostSettings], queueops_ssh_config: Path) -> Target:
    name = host.backend.get_hostname()
    found = Target(name, queueops_hosts[name], queueops_ssh_config)
    found.observation = observe_target(found)
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hosts that --hosts does not match would skip every check: that is a failure here."""
    if not any(hasattr(item, "callspec") for item in items):
        raise pytest.UsageError("--hosts selects no host of the inventory: nothing to check")
