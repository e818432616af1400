"""Every registered kind implements the whole Kind protocol, and what it declares exists: its
host half, its checks, its role, its lint rules in docs/lint.md, its template paths."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from queueops.kinds import KINDS, host_settings
from queueops.kinds.base import Kind
from queueops.kinds.hosts import all_rules, load
from queueops.observe.protocol import Observation

from ..trees import EXAMPLE_INVENTORY, REPO, ROLES_DIR

IDS = [kind.name for kind in KINDS]
ATTRIBUTES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "role": str,
    "task": str,
    "help": str,
    "needs": tuple,
    "rules": dict,
    "host_module": str,
    "checks": (str, type(None)),
    "observation": (str, type(None)),
    "status_column": (str, type(None)),
    "role_elements": dict,
}


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_kind_implements_every_hook_and_declares_every_attribute(
    kind: Kind[Any, Any, Any],
) -> None:
    assert isinstance(kind, Kind)
    assert not inspect.isabstract(type(kind))
    for hook in Kind.__abstractmethods__:
        assert getattr(type(kind), hook) is not getattr(Kind, hook), hook
    for attribute, types in ATTRIBUTES.items():
        assert isinstance(getattr(kind, attribute), types), attribute
    assert kind.help.endswith(".") and len(kind.help) < 100
    assert set(kind.needs) <= set(IDS) - {kind.name}


def test_kinds_differ_in_everything_that_names_them() -> None:
    for attribute in ("name", "role", "task", "host_module"):
        values = [getattr(kind, attribute) for kind in KINDS]
        assert len(set(values)) == len(values), attribute
    keys = [kind.observation for kind in KINDS if kind.observation]
    assert len(set(keys)) == len(keys)
    # A kind's part of an observation sits under "kinds"; status --json shows it under its key,
    # beside the observation's own keys, which it must not shadow.
    assert not set(keys) & (set(Observation.__annotations__) | {"health", "programs"})


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_its_host_half_serves_its_operations_and_its_observation(
    kind: Kind[Any, Any, Any],
) -> None:
    module = importlib.import_module(kind.host_module)
    assert module.OPERATIONS
    if kind.observation is not None:
        assert callable(module.observe) and callable(module.metric_samples)
        assert all(len(spec) == 2 for spec in module.METRICS.values())
    if kind.checks is not None:
        checks = importlib.import_module(kind.checks)
        assert [name for name in vars(checks) if name.startswith("test_")]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_its_role_is_a_role_of_this_repository(kind: Kind[Any, Any, Any]) -> None:
    role = ROLES_DIR / kind.role
    assert (role / "defaults" / "main.yml").is_file()
    assert (role / "tasks" / "main.yml").is_file()
    assert (role / "README.md").is_file()


def test_every_lint_rule_has_one_title_and_is_documented() -> None:
    rules = all_rules()
    for kind in KINDS:
        for rule, title in kind.rules.items():
            assert rules[rule] == title, (kind.name, rule)
    docs = (REPO / "docs" / "lint.md").read_text()
    for rule in rules:
        assert f"\n### {rule} " in docs, f"docs/lint.md has no section for {rule}"


def test_every_kind_validates_the_example_inventory() -> None:
    inventory = load(str(EXAMPLE_INVENTORY), None)
    for host in inventory.hosts.values():
        settings = host_settings(host, inventory.role_keys)
        assert set(settings.kinds) == set(IDS)
        for kind in KINDS:
            assert kind.of(settings) is settings.kinds[kind.name]
