"""Per-host results of a run: the summary table, unified diffs and the --json document."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from queueops.protocol import ReportItem

Status = Literal["ok", "changed", "failed"]


class Planned(Protocol):
    """A kind's plan for one host, as its report row shows it."""

    @property
    def changed(self) -> bool: ...

    def items(self) -> list[ReportItem]: ...

    def diffs(self) -> list[str]: ...


@dataclass
class HostResult:
    host: str
    status: Status = "ok"
    items: list[ReportItem] = field(default_factory=list)
    error: str | None = None
    diffs: list[str] = field(default_factory=list)
    connections: int = 0
    commands: int = 0
    # Connection attempts (more than 1: the host refused or reset and was tried again).
    attempts: int = 0

    @property
    def changed(self) -> int:
        return sum(1 for item in self.items if item.get("status") == "changed")

    @classmethod
    def of(cls, host: str, plan: Planned) -> HostResult:
        """The row of a host whose plan was made: changed when the plan changes anything."""
        return cls(host, "changed" if plan.changed else "ok", plan.items(), diffs=plan.diffs())


@dataclass
class RunReport:
    task: str
    hosts: list[HostResult]
    check: bool = False

    @property
    def failed(self) -> bool:
        return any(h.status == "failed" for h in self.hosts)

    def summary(self) -> dict[str, int]:
        counts = {"ok": 0, "changed": 0, "failed": 0}
        for h in self.hosts:
            counts[h.status] += 1
        return counts

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "task": self.task,
            "check": self.check,
            "hosts": {
                h.host: {
                    "status": h.status,
                    "changed": h.changed,
                    "items": h.items,
                    "error": h.error,
                    "diff": "".join(h.diffs),
                    "connections": h.connections,
                    "commands": h.commands,
                    "attempts": h.attempts,
                }
                for h in self.hosts
            },
            "summary": self.summary(),
        }
        return json.dumps(doc, indent=2)

    def to_text(self, show_diff: bool = False) -> str:
        lines: list[str] = []
        if show_diff:
            for h in self.hosts:
                lines += [d.rstrip("\n") for d in h.diffs]
        mode = " (check: nothing was changed)" if self.check else ""
        lines.append(f"{self.task}{mode}")
        width = max([len(h.host) for h in self.hosts] + [4])
        lines.append(f"  {'host':<{width}}  {'status':<7}  {'changed':>7}  detail")
        for h in self.hosts:
            detail = h.error or ", ".join(f"{i['action']} {i['item']}" for i in h.items) or "-"
            if h.attempts > 1 and not h.error:
                detail += f" (connected on attempt {h.attempts})"
            lines.append(f"  {h.host:<{width}}  {h.status:<7}  {h.changed:>7}  {detail}")
        s = self.summary()
        lines.append(f"ok={s['ok']} changed={s['changed']} failed={s['failed']}")
        return "\n".join(lines)
