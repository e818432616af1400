"""templates/: the one source of every file queueops writes on a host."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from queueops.errors import UsageError
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.platforms import Platform, platform_for
from queueops.resources import TEMPLATES_DIR


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        # Supervisor files are not HTML: escaping would corrupt quotes in commands.
        autoescape=False,
        keep_trailing_newline=True,
    )


def managed_header(template: str, comment: str = ";") -> str:
    """First line of every file queueops writes."""
    return f"{comment} Managed by queueops: edits are overwritten. Source: templates/{template}"


def render(template: str, **values: Any) -> str:
    """A template of templates/ rendered; one that is missing, unreadable or broken is the
    installation's fault, named with its path (exit 2), never a traceback."""
    try:
        return environment().get_template(template).render(**values)
    except (TemplateError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{TEMPLATES_DIR / template}: cannot render: {exc}") from None


def offline_platform(host: Host, settings: HostSettings) -> Platform:
    """The platform `invoke render` renders a host's files for: its os_family, never a guess."""
    if settings.os_family is None:
        raise host.error(
            "os_family",
            "is not set: rendering without contacting the host needs os_family "
            "(debian or redhat) in host_vars or group_vars",
        )
    return platform_for(settings.os_family)


def write_tree(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write each remote file under `out_dir` at its path on the host; returns what was written.

    Every path is checked before anything is written, so a bad one leaves no partial tree.
    """
    targets: dict[Path, str] = {}
    for remote, content in sorted(files.items()):
        path = PurePosixPath(remote)
        if not path.is_absolute() or ".." in path.parts:
            raise ValueError(f"not an absolute, normalised remote path: {remote!r}")
        targets[out_dir.joinpath(*path.parts[1:])] = content
    for target, content in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8", newline="")
    return list(targets)
