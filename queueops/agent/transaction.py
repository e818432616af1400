"""Changing a host's files all or nothing: the host lock, preconditions, backups, atomic
writes, and the rollback that puts files and supervisord's programs back."""

from __future__ import annotations

import os
import shutil

from queueops.agent.common import AgentError, atomic_write, sha256_file
from queueops.agent.supervisor import apply_update, supervisor_proxy, wait_running

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def require_unchanged(path: str, planned_sha256: str | None) -> None:
    """The file must still be what the plan saw (None: absent), or nothing is written."""
    if sha256_file(path) != planned_sha256:
        raise AgentError(f"{path} changed since the plan was made; run the task again")


def write_changes(changes: list[dict[str, Any]], backup_dir: str) -> list[dict[str, Any]]:
    """Back up, then atomically write (or delete) each change, keeping an existing file's owner.

    Each change is {path, before (sha256 or None), after (text or None: delete)} with an
    optional mode and owner for a new file. On a failure it restores what it had done before
    raising, so callers see all or nothing.
    """
    written: list[dict[str, Any]] = []
    try:
        for change in changes:
            path = change["path"]
            owner = None
            if change["before"] is not None:
                backup = backup_dir + path
                os.makedirs(os.path.dirname(backup), exist_ok=True)
                shutil.copy2(path, backup)
                change["backup"] = backup
                st = os.stat(path)
                owner = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
            written.append(change)
            if change["after"] is None:
                os.remove(path)
            elif owner is None:
                atomic_write(path, change["after"], change.get("mode", 0o644))
                if change.get("owner"):
                    os.chown(path, *change["owner"])
            else:
                atomic_write(path, change["after"], owner[2])
                os.chown(path, owner[0], owner[1])
    except OSError:
        restore_changes(written)
        raise
    return written


def restore_changes(written: list[dict[str, Any]]) -> None:
    """Undo write_changes, last change first: backups copied back, created files removed."""
    for change in reversed(written):
        path = change["path"]
        backup = change.get("backup")
        if backup:
            shutil.copy2(backup, path)
        elif os.path.exists(path):
            os.remove(path)


def rollback_programs(
    written: list[dict[str, Any]],
    config: str,
    groups: set[str],
    previous: dict[str, int],
    timeout: float,
) -> str:
    """Put back every file this run touched and let supervisord return to the old programs;
    says what came of it, for the host's error."""
    restore_changes(written)
    if not written:
        return "nothing had been written"
    if not groups and not previous:
        return "rolled back: previous files restored"
    try:
        proxy = supervisor_proxy(config)
        apply_update(proxy, groups)
        problems = wait_running(proxy, previous, timeout)
    except (OSError, AgentError) as exc:
        return f"files rolled back, but supervisord could not reload them: {exc}"
    if problems:
        return "files rolled back; previous programs not all RUNNING: " + "; ".join(
            f"{g}: {d}" for g, d in problems.items()
        )
    return "rolled back: previous files restored and their programs RUNNING"
