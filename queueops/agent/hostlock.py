"""The host lock: one queueops run changes a host at a time; facts say who holds it.

Light on imports: every run's facts read it (see agent/facts.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from typing import Any

from queueops.agent.common import AgentError

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
