"""Changing a host's files all or nothing: the host lock, preconditions, backups, atomic
writes, and the rollback that puts files and supervisord's programs back."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

from queueops.agent.common import AgentError, sha256_file
from queueops.agent.supervisor import apply_update, supervisor_proxy, wait_running

LOCK_PATH = "/run/lock/queueops.lock"


def _holder(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    return holder if isinstance(holder, dict) else {"task": "unknown", "raw": text[:200]}


def lock_holder() -> dict[str, Any] | None:
    """Who holds the host lock now (None: nobody); takes nothing."""
    try:
        with open(LOCK_PATH, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                return _holder(handle.read())
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def locked_message(other: dict[str, Any], then: str) -> str:
    return (
        f"locked by another queueops run: {other.get('task', '?')} by "
        f"{other.get('operator', '?')} (pid {other.get('pid', '?')}, since "
        f"{other.get('since', '?')}); {then}"
    )


@contextlib.contextmanager
def host_lock(holder: dict[str, Any]) -> Iterator[None]:
    """A non-blocking flock on LOCK_PATH with the holder written into it, for the run's span."""
    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    with open(LOCK_PATH, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            raise AgentError(
                locked_message(
                    _holder(handle.read()), "wait for it to finish or check that it is still alive"
                )
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**holder, "pid": os.getpid()}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def require_unchanged(path: str, planned_sha256: str | None) -> None:
    """The file must still be what the plan saw (None: absent), or nothing is written."""
    if sha256_file(path) != planned_sha256:
        raise AgentError(f"{path} changed since the plan was made; run the task again")


def atomic_write(path: str, content: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.queueops-tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)


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
    try:
        proxy = supervisor_proxy(config)
        apply_update(proxy, groups)
        problems = wait_running(proxy, previous, timeout)
    except (OSError, xmlrpc.client.Error, AgentError) as exc:
        return f"files rolled back, but supervisord could not reload them: {exc}"
    if problems:
        return "files rolled back; previous programs not all RUNNING: " + "; ".join(
            f"{g}: {d}" for g, d in problems.items()
        )
    return "rolled back: previous files restored and their programs RUNNING"
