"""What every runbook shares at the operator: confirmation, the local audit log, skipped hosts."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from queueops.errors import UsageError
from queueops.plan.report import HostResult, RunReport
from queueops.protocol import ReportItem


def state_dir() -> Path:
    """Where the operator's audit log and export files live (XDG state directory)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "queueops"


def local_audit_path() -> Path:
    override = os.environ.get("QUEUEOPS_AUDIT_LOG")
    return Path(override) if override else state_dir() / "audit.log"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def audit_entry(task: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """What every host's and the local audit line share; arguments never carry secrets."""
    return {"operator": getpass.getuser(), "task": task, "args": dict(args)}


def write_local_audit(
    task: str, args: Mapping[str, Any], report: RunReport, extra: Mapping[str, Any] | None = None
) -> None:
    if report.check:
        return
    entry = {
        **audit_entry(task, args),
        "time": now(),
        "result": "failed" if report.failed else "ok",
        "hosts": {h.host: h.error or h.status for h in report.hosts},
        **(extra or {}),
    }
    path = local_audit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600 from its creation: it names hosts, queues and export files.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def audit_warning(answer: Mapping[str, Any], host: str) -> list[ReportItem]:
    """The host's audit log could not be written: the step was done, and says so."""
    warning = answer.get("audit_warning")
    if not warning:
        return []
    return [{"item": f"{host}'s audit log", "action": "warning:", "status": "ok",
             "detail": str(warning)}]  # fmt: skip


def write_private(path: Path, lines: Sequence[str]) -> None:
    """Write a file only its owner can read (jobs and failed jobs carry the app's data):
    created 0600, fsynced, renamed into place, so it is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def confirm(question: str, yes: bool, check: bool) -> None:
    """Destructive runbooks go on only with --yes or an operator typing `yes` at a terminal."""
    if yes or check:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"{question}: refusing without a terminal to confirm on; pass --yes to go on "
            "(nothing was touched)"
        )
    answer = input(f"{question}\nType yes to go on: ")
    if answer.strip().lower() != "yes":
        raise UsageError("not confirmed; nothing was touched")


def skip(host: str, reason: str) -> HostResult:
    return HostResult(host, "ok", items=[{"item": reason, "action": "skipped:", "status": "ok",
                                          "detail": reason}])  # fmt: skip
