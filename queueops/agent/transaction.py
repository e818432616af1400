"""Changing a host's files all or nothing: the host lock, preconditions, backups, atomic
writes, and the rollback that puts files and supervisord's programs back."""

from __future__ import annotations

import contextlib
import os

from queueops.agent.common import AgentError, sha256_file
from queueops.agent.safe_files import (
    UnsafePath,
    open_directory,
    read_file,
    remove_file,
    write_file,
)
from queueops.agent.supervisor import apply_update, supervisor_proxy, wait_running

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Backups kept per file when the inventory does not say (queueops_backups_keep).
BACKUPS_KEPT = 5


def require_unchanged(path: str, planned_sha256: str | None) -> None:
    """The file must still be what the plan saw (None: absent), or nothing is written."""
    if sha256_file(path) != planned_sha256:
        raise AgentError(f"{path} changed since the plan was made; run the task again")


def write_changes(
    changes: list[dict[str, Any]], backup_dir: str, keep: int = BACKUPS_KEPT
) -> list[dict[str, Any]]:
    """Back up, then atomically write (or delete) each change, keeping an existing file's owner.

    Each change is {path, before (sha256 or None), after (text or None: delete)} with an
    optional mode and owner for a new file, and follow_link: a link at the path (a shared
    .env) is kept and the file it names written, where agent/safe_files allows it. Backups
    are root's alone, the last `keep` of each file kept. On a failure it restores what it had
    done before raising, so callers see all or nothing.
    """
    written: list[dict[str, Any]] = []
    try:
        for change in changes:
            path = change["path"]
            follow = bool(change.get("follow_link"))
            owner = None
            if change["before"] is not None:
                found = read_file(path, follow)
                if found is None:
                    raise FileNotFoundError(f"{path} is gone")
                data, st = found
                backup = backup_dir + path
                write_backup(backup_dir, path, data, keep)
                change["backup"] = backup
                owner = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
                change["kept"] = list(owner)
            written.append(change)
            if change["after"] is None:
                remove_file(path)
            elif owner is None:
                write_file(path, change["after"].encode(), change.get("mode", 0o644),
                           change.get("owner"), follow, create=0o755)  # fmt: skip
            else:
                write_file(path, change["after"].encode(), owner[2], owner[:2], follow)
    except UnsafePath as exc:
        restore_changes(written)
        raise AgentError(str(exc)) from None
    except OSError:
        restore_changes(written)
        raise
    return written


def write_backup(backup_dir: str, path: str, data: bytes, keep: int) -> None:
    """A 0600 copy of `path` under `backup_dir`, in directories only root can enter; then
    the copies of `path` beyond the newest `keep` are removed: they hold copies of .env."""
    root = open_directory(os.path.dirname(backup_dir), create=0o700)
    try:
        os.fchmod(root.fd, 0o700)
    finally:
        root.close()
    write_file(backup_dir + path, data, 0o600, create=0o700)
    prune_backups(os.path.dirname(backup_dir), path, keep)


def prune_backups(root: str, path: str, keep: int) -> None:
    """Remove all but the newest `keep` backups of `path` (run directories are named by
    time), and the directories that leaves empty. Safe by path: `root` is root's, 0700."""
    runs = sorted((r for r in os.listdir(root) if os.path.isfile(root + "/" + r + path)),
                  reverse=True)  # fmt: skip
    for run in runs[max(keep, 1) :]:
        os.remove(root + "/" + run + path)
        parent = os.path.dirname(root + "/" + run + path)
        with contextlib.suppress(OSError):
            while parent != root:
                os.rmdir(parent)
                parent = os.path.dirname(parent)


def restore_changes(written: list[dict[str, Any]]) -> None:
    """Undo write_changes, last change first: backups written back (the owner and mode the
    file had), created files removed."""
    for change in reversed(written):
        path = change["path"]
        backup = change.get("backup")
        if backup:
            found = read_file(backup)
            if found is None:
                raise AgentError(f"backup {backup} of {path} is gone")
            uid, gid, mode = change["kept"]
            write_file(path, found[0], mode, (uid, gid), bool(change.get("follow_link")))
        else:
            # Its directory may be what failed to be made.
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                remove_file(path)


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
