"""scale: change a process count in the inventory file that defines it, then apply it.

The YAML file is edited in place at the value's own position (found with PyYAML's node
marks), so comments, order and quoting elsewhere in the file stay as they were.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from queueops.errors import UsageError
from queueops.inventory.loader import Host, Inventory

Step = str | tuple[str, str]


@dataclass(frozen=True)
class Edit:
    path: Path
    before: str
    after: str

    @property
    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (before)",
                tofile=f"{self.path} (scaled)",
            )
        )


def _get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _walk(root: yaml.Node, steps: Sequence[Step], where: str) -> yaml.Node:
    node = root
    for step in steps:
        if isinstance(step, tuple):
            key, wanted = step
            items = node.value if isinstance(node, yaml.SequenceNode) else []
            match = [i for i in items if (kv := _get(i, key)) and kv[1].value == wanted]
            if not match:
                raise UsageError(f"{where}: no entry with {key}: {wanted}")
            node = match[0]
        else:
            found = _get(node, step)
            if found is None:
                raise UsageError(f"{where}: no key {step}")
            node = found[1]
    return node


def set_value(text: str, steps: Sequence[Step], key: str, value: int, where: str) -> str:
    """`text` with `key: value` set in the mapping at `steps` (replaced, or a line added)."""
    # Inventories are read as Ansible reads them: the value may come from an INI or a vault
    # file, which this YAML edit cannot change.
    if text.startswith("$ANSIBLE_VAULT"):
        raise UsageError(
            f"{where} is encrypted with Ansible Vault: change it with ansible-vault edit"
        )
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: scale edits YAML files, and this is not one ({exc})") from None
    if root is None:
        raise UsageError(f"{where} is empty")
    mapping = _walk(root, steps, where)
    if not isinstance(mapping, yaml.MappingNode):
        raise UsageError(f"{where}: {'.'.join(map(str, steps))} is not a mapping")
    found = _get(mapping, key)
    if found is not None:
        node = found[1]
        if not isinstance(node, yaml.ScalarNode):
            raise UsageError(f"{where}: {key} is not a plain value")
        start, end = int(node.start_mark.index), int(node.end_mark.index)
        return text[:start] + str(value) + text[end:]
    if mapping.flow_style or not mapping.value:
        raise UsageError(f"{where}: cannot add {key} to a flow-style mapping; edit it by hand")
    first = mapping.value[0][0]
    at = int(first.start_mark.index)
    indent = " " * int(first.start_mark.column)
    return text[:at] + f"{key}: {value}\n" + indent + text[at:]


def _origin(host: Host, key: str, inv: Inventory) -> Path:
    path = host.origins.get(key)
    base = inv.path if inv.path.is_dir() else inv.path.parent
    if path is None or base.resolve() not in path.resolve().parents:
        raise UsageError(
            f"{host.name}: {key} comes from its role's defaults, not from the inventory; "
            "define it in group_vars or host_vars first"
        )
    return path


def _whole_file(inv: Inventory, selected: Sequence[Host], key: str, path: Path) -> None:
    """Refuse to change hosts the operator did not select through a shared file."""
    names = {h.name for h in selected}
    others = sorted(
        h.name
        for h in inv.select(None, None, True)
        if h.name not in names and h.origins.get(key) == path
    )
    if others:
        raise UsageError(
            f"{path} sets {key} for {', '.join(others)} too: select them as well "
            "(--group or --all), or move the value to host_vars"
        )


def plan_scale(
    inv: Inventory,
    selected: Sequence[Host],
    program: str,
    processes: int,
    supervisor: bool,
) -> list[Edit]:
    """The file edits that set the program's processes (or the Horizon supervisor's
    maxProcesses) for the selected hosts."""
    if processes < 1:
        raise UsageError(f"--processes must be at least 1, got {processes}")
    key = "horizon_environments" if supervisor else "queue_worker_programs"
    files: dict[Path, list[Host]] = {}
    for host in selected:
        files.setdefault(_origin(host, key, inv), []).append(host)
    edits = []
    for path, hosts in sorted(files.items()):
        _whole_file(inv, selected, key, path)
        before = path.read_text(encoding="utf-8")
        after = before
        if supervisor:
            environments = hosts[0].vars.get(key) or {}
            names = [env for env, sups in environments.items() if program in (sups or {})]
            if not names:
                raise UsageError(f"{path}: no Horizon supervisor {program} in {key}")
            for env in names:
                after = set_value(after, [key, env, program], "maxProcesses", processes, str(path))
        else:
            after = set_value(after, [key, ("name", program)], "processes", processes, str(path))
        if after != before:
            yaml.safe_load(after)  # still YAML
            edits.append(Edit(path, before, after))
    return edits


def write_edits(edits: Sequence[Edit]) -> None:
    for edit in edits:
        edit.path.write_text(edit.after, encoding="utf-8")


def undo_edits(edits: Sequence[Edit]) -> None:
    for edit in edits:
        edit.path.write_text(edit.before, encoding="utf-8")
