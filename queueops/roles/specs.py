"""meta/argument_specs.yml of each role, derived from its defaults/main.yml.

defaults/main.yml stays the one documented source of every variable: its comments become the
descriptions, its values the defaults and types. `python -m queueops.roles.specs` rewrites
the specs; a unit test fails when a committed spec differs from what this derives, so the
two cannot drift. Ansible validates a role's variables against its spec before its first
task; queueops' own checks (run by the roles' filters) still follow.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from queueops.kinds import KINDS
from queueops.kinds.base import RoleElements
from queueops.resources import ROLES_DIR

ROLES = tuple(kind.role for kind in KINDS)
HEADER = (
    "# Generated from defaults/main.yml by `python -m queueops.roles.specs`: edit the defaults\n"
    "# (values and comments), then run it; a unit test fails when this file is stale.\n"
)
_KEY = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*|\"[^\"]+\"):")


def comments(text: str) -> dict[tuple[int, str], list[str]]:
    """The comment block right above each key, by (indent, key), without its `#`; keys on
    consecutive lines under one block (`address` and `port`) share it."""
    found: dict[tuple[int, str], list[str]] = {}
    block: list[str] = []
    previous: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if match:
            key = (len(match.group(1)), match.group(2).strip('"'))
            shown = [b for b in block if b] or previous
            found.setdefault(key, shown)
            previous = shown
        elif not stripped:
            previous = []
        block = []
    return found


def option(
    name: str, value: Any, notes: dict[tuple[int, str], list[str]], indent: int
) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": notes.get((indent, name)) or [name]}
    if isinstance(value, bool):
        spec["type"] = "bool"
    elif isinstance(value, int):
        spec["type"] = "int"
    elif isinstance(value, str):
        spec["type"] = "str"
    elif isinstance(value, list):
        spec["type"] = "list"
    elif isinstance(value, dict):
        spec["type"] = "dict"
    else:
        # null: "unset", or a value of a type the role's checks decide (queueops validates it).
        spec["type"] = "raw"
    spec["default"] = value
    return spec


def elements(role: str) -> RoleElements:
    """The role's list options whose elements take a mapping default's fields (its kind's)."""
    return next(kind.role_elements for kind in KINDS if kind.role == role)


def role_spec(role: str) -> dict[str, Any]:
    defaults_file = ROLES_DIR / role / "defaults" / "main.yml"
    text = defaults_file.read_text()
    defaults: dict[str, Any] = yaml.safe_load(text) or {}
    notes = comments(text)
    options: dict[str, Any] = {}
    for name, value in defaults.items():
        spec = option(name, value, notes, 0)
        if name in elements(role):
            fields_from, own = elements(role)[name]
            fields = {k: option(k, v, notes, 2) for k, v in defaults[fields_from].items()}
            for field in fields.values():
                field.pop("default")  # a program's unset field takes the mapping's value
            spec["elements"] = "dict"
            spec["options"] = {**own, **fields}
        options[name] = spec
    summary = next((line for line in text.splitlines() if line.startswith("# Defaults")), role)
    return {
        "argument_specs": {
            "main": {
                "short_description": summary.lstrip("# ").rstrip("."),
                "options": options,
            }
        }
    }


def render(role: str) -> str:
    body = yaml.safe_dump(role_spec(role), sort_keys=False, width=100, allow_unicode=True)
    return "---\n" + HEADER + body


def spec_path(role: str) -> Path:
    return ROLES_DIR / role / "meta" / "argument_specs.yml"


def main() -> None:
    for role in ROLES:
        path = spec_path(role)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(role))
        print(path.relative_to(ROLES_DIR.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
