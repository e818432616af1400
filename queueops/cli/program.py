"""The `queueops` command: an Invoke Program over the operator's tasks, as Fabric's `fab` is
over its own. The same tasks, options, output and exit codes as `invoke` in a checkout, plus
--version; its defaults come from queueops.yaml in the working directory, as Ansible reads
ansible.cfg there."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from invoke.program import Program

from queueops import __version__
from queueops.cli.collection import collection
from queueops.cli.executor import ExitWhenDone
from queueops.errors import QueueopsError, UsageError

SETTINGS_FILE = "queueops.yaml"
HOST_KEY_CHECKING = ("strict", "accept-new")


def read_settings(directory: Path) -> dict[str, Any]:
    """queueops.yaml of `directory` (none: no defaults): `inventory` (relative to the file),
    `forks`, `host_key_checking`; anything else is refused, naming the file and the key."""
    path = directory / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: must be a mapping of settings (inventory, forks, ...)")
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key == "inventory" and _paths(value):
            settings[key] = [str(directory / v) for v in _paths(value)]
        elif (key == "forks" and type(value) is int and value >= 1) or (
            key == "host_key_checking" and value in HOST_KEY_CHECKING
        ):
            settings[key] = value
        elif key in ("inventory", "forks", "host_key_checking"):
            wanted = {"inventory": "a path or a list of paths", "forks": "a whole number >= 1",
                      "host_key_checking": " or ".join(HOST_KEY_CHECKING)}[key]  # fmt: skip
            raise UsageError(f"{path}: {key}: must be {wanted}, got {value!r}")
        else:
            raise UsageError(
                f"{path}: {key!r} is not a setting: queueops.yaml takes inventory, forks and "
                "host_key_checking"
            )
    return settings


def _paths(value: object) -> list[str]:
    """An inventory setting as its sources: one path, or a list of them ([] when it is neither)."""
    values = value if isinstance(value, list) else [value]
    paths = [v for v in values if isinstance(v, str) and v]
    return paths if paths and len(paths) == len(values) else []


class Queueops(Program):
    def print_version(self) -> None:
        print(f"queueops {__version__}")
        for dependency in ("Fabric", "Invoke", "Paramiko"):
            print(f"{dependency} {version(dependency.lower())}")


def program(settings: dict[str, Any]) -> Queueops:
    namespace = collection()
    namespace.configure({"queueops": settings})
    return Queueops(
        version=__version__,
        namespace=namespace,
        name="queueops",
        binary="queueops",
        binary_names=["queueops"],
        executor_class=ExitWhenDone,
    )


def main() -> None:
    try:
        settings = read_settings(Path.cwd())
    except QueueopsError as exc:
        print(f"queueops: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    try:
        program(settings).run()
    except BrokenPipeError:
        # The reader went away (`queueops --list | head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
