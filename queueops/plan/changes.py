"""Desired files against a host's facts: the changes to make, and the refusals every plan shares.

Pure: nothing here touches a host.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.platforms import Platform, detect_family, platform_for
from queueops.protocol import FileChangeRequest, ReportItem

Action = Literal["create", "update", "delete"]


class HostLockedError(QueueopsError):
    """Another queueops run holds the host's lock."""


@dataclass(frozen=True)
class FileChange:
    path: str
    action: Action
    before_sha: str | None
    before: str | None
    after: str | None

    @property
    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            fromfile=f"{self.path} (on host)" if self.before is not None else "/dev/null",
            tofile=f"{self.path} (queueops)" if self.after is not None else "/dev/null",
        )
        return "".join(lines)

    def request(self) -> FileChangeRequest:
        """The change as the host's file transaction takes it (see agent.transaction)."""
        return {"path": self.path, "action": self.action, "before": self.before_sha,
                "after": self.after}  # fmt: skip


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def file_changes(
    desired: Mapping[str, str],
    on_host: Mapping[str, Mapping[str, Any] | None],
    managed: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[FileChange]:
    """Create or update each desired file that differs from what the host has (`on_host`:
    path → facts' file info, None when absent); delete each `managed` file no longer desired.

    Sorted by path, deletions last, as the host applies them.
    """
    changes: list[FileChange] = []
    for path, content in sorted(desired.items()):
        info = on_host.get(path)
        if info is None:
            changes.append(FileChange(path, "create", None, None, content))
        elif info["sha256"] != sha256(content):
            changes.append(FileChange(path, "update", info["sha256"], info["content"], content))
    for path, info in sorted((managed or {}).items()):
        if path not in desired:
            changes.append(FileChange(path, "delete", info["sha256"], info["content"], None))
    return changes


def change_items(notes: Iterable[str], changes: Iterable[FileChange]) -> list[ReportItem]:
    """Report rows: each note ("install supervisor") and each file change, all `changed`."""
    out: list[ReportItem] = [
        {"item": n.split(" ", 1)[1], "action": n.split(" ", 1)[0], "status": "changed"}
        for n in notes
    ]
    return out + [{"item": c.path, "action": c.action, "status": "changed"} for c in changes]


def refuse_if_locked(host: str, facts: Mapping[str, Any]) -> None:
    """Facts saw another run's lock: say whose, before planning anything."""
    holder = facts.get("lock")
    if holder:
        raise HostLockedError(
            f"{host}: locked by another queueops run: {holder.get('task', '?')} by "
            f"{holder.get('operator', '?')} since {holder.get('since', '?')}"
        )


def host_platform(settings: HostSettings, facts: Mapping[str, Any]) -> Platform:
    """The host's own os-release decides; an inventory `os_family` that disagrees is an error."""
    family = detect_family(facts["os_release"])
    if settings.os_family is not None and settings.os_family != family:
        raise QueueopsError(
            f"{settings.name}: inventory says os_family={settings.os_family} but the host's "
            f"/etc/os-release is {family}; fix os_family in the inventory"
        )
    return platform_for(family)


def supervisor_notes(platform: Platform, supervisor: Mapping[str, Any]) -> list[str]:
    """What the host's supervisor needs before any program can run there."""
    notes = []
    if not supervisor["installed"]:
        notes.append("install supervisor")
    if not supervisor["running"]:
        notes.append(f"start {platform.service}")
    return notes
