"""The host lock: one queueops run changes a host at a time; facts say who holds it.

Light on imports: every run's facts read it (see agent/common.py). The holder is JSON in the
lock file, written by the agent's own encoder; json is imported only to read a holder.

The lock lives in a directory only root reaches (0700): in the world-writable /run/lock any
local user (the app's www-data) could hold it forever or plant a symlink where root writes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from queueops.agent.common import AgentError
from queueops.agent.entry import encoded
from queueops.agent.safe_files import own_directory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

LOCK_PATH = "/run/queueops/queueops.lock"


def _holder(text: str) -> dict[str, Any]:
    import json

    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    return holder if isinstance(holder, dict) else {"task": "unknown", "raw": text[:200]}


def lock_holder() -> dict[str, Any] | None:
    """Who holds the host lock now (None: nobody); takes nothing."""
    try:
        # Never created here: facts change nothing, and a missing lock is held by nobody.
        with os.fdopen(os.open(LOCK_PATH, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                return _holder(handle.read())
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


# What the operator is told to do about another run's lock.
WAIT_FOR_IT = "wait for it to finish or check that it is still alive"


def locked_message(other: dict[str, Any], then: str = WAIT_FOR_IT) -> str:
    return (
        f"locked by another queueops run: {other.get('task', '?')} by "
        f"{other.get('operator', '?')} (pid {other.get('pid', '?')}, since "
        f"{other.get('since', '?')}); {then}"
    )


def _private_directory(path: str) -> None:
    """`path` as a directory of root's that no one else can enter: a looser mode of its own
    repaired; refused when whoever made it could swap the lock under root."""
    found, what = own_directory(path)
    if what:
        raise AgentError(
            f"{path} is {what}, not a directory of uid {os.geteuid()} where the host lock "
            "belongs: remove it and run again"
        )
    if stat.S_IMODE(found.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _open_lock() -> IO[str]:
    _private_directory(os.path.dirname(LOCK_PATH))
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(LOCK_PATH, flags, 0o600)
    except OSError as exc:
        raise AgentError(f"cannot open the host lock {LOCK_PATH}: {exc.strerror}") from None
    if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "r+")


class HostLock:
    """A non-blocking flock on LOCK_PATH with the holder written into it, for the `with`
    block's span (a plain class: contextlib would cost the facts its import)."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        self._handle: IO[str] | None = None

    def __enter__(self) -> None:
        handle = _open_lock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            text = handle.read()
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise AgentError(locked_message(_holder(text))) from None
        handle.seek(0)
        handle.truncate()
        handle.write(encoded({**self.holder, "pid": os.getpid()}))
        handle.flush()
        self._handle = handle

    def __exit__(self, *exc: object) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.close()
