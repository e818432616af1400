"""The host's audit log: one line per runbook step that changed something, under the lock."""

from __future__ import annotations

import os
import time

from queueops.agent.common import AgentError
from queueops.agent.entry import encoded
from queueops.agent.hostlock import HostLock, lock_holder, locked_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from queueops.runbooks.protocol import Audited, AuditedAnswer

    Answer = TypeVar("Answer", bound=AuditedAnswer)

AUDIT_LOG = "/var/log/queueops/audit.log"


def audit_write(entry: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(AUDIT_LOG), exist_ok=True)
    fd = os.open(AUDIT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(encoded(entry, sort_keys=True) + "\n")


def audited(request: Audited, work: Callable[[], Answer]) -> Answer:
    """Run `work` under the host lock and audit its result; a check runs it without either,
    but is refused as the run would be while another run holds the lock."""
    if request.get("check"):
        other = lock_holder()
        if other:
            raise AgentError(locked_message(other))
        return work()
    entry = {
        **request["audit"],
        "host": os.uname().nodename,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with HostLock(dict(request["holder"])):
        try:
            answer = work()
        except (AgentError, OSError) as exc:
            reason = str(exc)
            unwritten = audit_failure({**entry, "result": "failed", "error": reason})
            raise AgentError(f"{reason} ({unwritten})" if unwritten else reason) from None
        # What was done is done: a log that cannot be written (a full /var/log) is reported
        # beside it, never as the step's failure (a rerun would do it twice).
        unwritten = audit_failure({**entry, "result": "ok", "summary": answer.get("summary", "")})
        if unwritten:
            answer["audit_warning"] = unwritten
            items = answer.get("items")
            if isinstance(items, list):
                items.append({"item": AUDIT_LOG, "action": "warning:", "status": "ok",
                              "detail": unwritten})  # fmt: skip
    return answer


def audit_failure(entry: dict[str, Any]) -> str | None:
    """Write the audit line; what went wrong when it could not be written."""
    try:
        audit_write(entry)
    except OSError as exc:
        return f"the audit line was not written to {AUDIT_LOG}: {exc.strerror or exc}"
    return None
