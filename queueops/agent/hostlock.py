"""The host lock: one queueops run changes a host at a time; facts say who holds it.

Light on imports: every run's facts read it (see agent/common.py). The holder is JSON in the
lock file, written by the agent's own encoder; json is imported only to read a holder.
"""

from __future__ import annotations

import errno
import fcntl
import os

from queueops.agent.common import AgentError
from queueops.agent.entry import encoded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

LOCK_PATH = "/run/lock/queueops.lock"


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


# What the operator is told to do about another run's lock.
WAIT_FOR_IT = "wait for it to finish or check that it is still alive"


def locked_message(other: dict[str, Any], then: str = WAIT_FOR_IT) -> str:
    return (
        f"locked by another queueops run: {other.get('task', '?')} by "
        f"{other.get('operator', '?')} (pid {other.get('pid', '?')}, since "
        f"{other.get('since', '?')}); {then}"
    )


class HostLock:
    """A non-blocking flock on LOCK_PATH with the holder written into it, for the `with`
    block's span (a plain class: contextlib would cost the facts its import)."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        self._handle: IO[str] | None = None

    def __enter__(self) -> None:
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        handle = open(LOCK_PATH, "a+")
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
