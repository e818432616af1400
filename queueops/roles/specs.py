"""meta/argument_specs.yml and README.md of each role, derived from its defaults/main.yml.

defaults/main.yml stays the one documented source of every variable: its comments become the
descriptions, its values the defaults and types, and the README's table of variables comes
from the spec. `python -m queueops.roles.specs` rewrites both; a unit test fails when a
committed one differs from what this derives, so they cannot drift. Ansible validates a
role's variables against its spec before its first task; queueops' own checks (run by the
converge action) still follow.
"""

from __future__ import annotations

import json
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
COLLECTION = "queueops.laravel"
_KEY = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*|\"[^\"]+\"):")


def comments(text: str) -> dict[tuple[int, str], list[str]]:
    """The comment block right above each key, by (indent, key), without its `#`, as
    paragraphs (a line that is only `#` separates two); keys on consecutive lines under one
    block (`address` and `port`) share it."""
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
            shown = paragraphs(block) or previous
            found.setdefault(key, shown)
            previous = shown
        elif not stripped:
            previous = []
        block = []
    return found


def paragraphs(lines: list[str]) -> list[str]:
    """Comment lines joined into whole paragraphs: a description is never cut mid-sentence."""
    out: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            out.append(" ".join(current))
            current = []
    return out


def summary(text: str, role: str) -> str:
    """The first sentence of the comment that opens the defaults file."""
    lines = []
    for line in text.splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    opening = " ".join(lines).removeprefix(f"Defaults of the {role} role: ")
    sentence = opening.split(". ", 1)[0].rstrip(".")
    return sentence[:1].upper() + sentence[1:] if sentence else role


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
    return {
        "argument_specs": {"main": {"short_description": summary(text, role), "options": options}}
    }


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (and ansible-lint) want them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render(role: str) -> str:
    body = yaml.dump(
        role_spec(role), Dumper=_IndentedDumper, sort_keys=False, width=100, allow_unicode=True
    )
    return "---\n" + HEADER + body


def _cell(value: Any) -> str:
    """A value or text on one line of a Markdown table."""
    text = (value or '""') if isinstance(value, str) else json.dumps(value)
    return " ".join(text.split()).replace("|", "\\|")


def _rows(options: dict[str, Any]) -> list[str]:
    rows = []
    for name, spec in options.items():
        default = f"`{_cell(spec['default'])}`" if "default" in spec else "the defaults'"
        if spec.get("required"):
            default = "required"
        description = " ".join(spec["description"])
        rows.append(f"| `{name}` | {spec['type']} | {default} | {_cell(description)} |")
    return rows


def readme(role: str) -> str:
    """The role's README: what it does, how to use it, and its variables."""
    spec = role_spec(role)["argument_specs"]["main"]
    kind = next(k for k in KINDS if k.role == role)
    lines = [
        f"# {COLLECTION}.{role}",
        "",
        "<!-- Generated from defaults/main.yml by `python -m queueops.roles.specs`. -->",
        "",
        f"{spec['short_description']}.",
        "",
        f"What `invoke {kind.task}` does, as one task: the `{COLLECTION}.converge` action "
        "runs queueops' own facts, plan and apply on the host (one run of the agent module on a "
        "no-op, two on a change), with queueops' checks, templates, backups, host lock and "
        "rollback. queueops must be installed for the Python that runs ansible-playbook.",
        "",
        "## Use",
        "",
        "```yaml",
        f"- name: {kind.help.rstrip('.')}",
        "  hosts: all",
        "  gather_facts: false",
        "  become: true",
        "  roles:",
        f"    - {COLLECTION}.{role}",
        "```",
        "",
        "## Variables",
        "",
        "| variable | type | default | description |",
        "| --- | --- | --- | --- |",
        *_rows(spec["options"]),
    ]
    for name, option_spec in spec["options"].items():
        if "options" in option_spec:
            lines += [
                "",
                f"### Each element of `{name}`",
                "",
                "| field | type | default | description |",
                "| --- | --- | --- | --- |",
                *_rows(option_spec["options"]),
            ]
    return "\n".join(lines) + "\n"


def spec_path(role: str) -> Path:
    return ROLES_DIR / role / "meta" / "argument_specs.yml"


def readme_path(role: str) -> Path:
    return ROLES_DIR / role / "README.md"


def main() -> None:
    for role in ROLES:
        for path, text in ((spec_path(role), render(role)), (readme_path(role), readme(role))):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(path.relative_to(ROLES_DIR.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
