"""Static checks of an inventory: settings that validation accepts but that lose or duplicate jobs.

Pure: nothing here contacts a host. Every host is validated first with the same functions the
tasks use (a host that fails validation raises InventoryError, as any task would); the rules
then look at what validation lets through. Rules never repeat a refusal of validation: where
validation already refuses the hard case (a Horizon timeout at or above retry_after, an
evicting Redis policy without a reason, workers as root), the rule only reports what is left
(a thin margin, an accepted reason, the rendered files).

Rules that guard an invariant of templates/ (autorestart, process_num, user) check the
files as rendered, so a template edit that breaks them is caught (queueops/supervisor/lint.py
for program files). docs/lint.md describes every rule; each kind's lint.py holds the rules on
its own settings and files, and queueops/kinds/hosts.py runs them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host
from queueops.platforms import PLATFORMS, Platform

Severity = Literal["error", "warning"]

# Seconds a timeout should stay below retry_after, and stopwaitsecs above a timeout, before
# the gap is too thin to be safe: a job finishing right at its timeout, or a worker taking a
# moment to exit after it, must not reach the other limit.
MARGIN = 5

# Rules no single kind owns: id → title (docs/lint.md explains each). Each kind declares its
# own (Kind.rules), and the supervisor unit those on rendered program files.
VALIDATION = "QO100"
RULES: dict[str, str] = {
    VALIDATION: "values the inventory's validation refuses",
    "QO101": "job timeout below the connection's retry_after",
    "QO102": "stopwaitsecs above the job timeout",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    host: str
    # The inventory file the offending key came from (a template for template invariants).
    file: str
    key: str
    # Why the setting loses or duplicates jobs.
    message: str
    # What to change.
    fix: str


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def _count(findings: Sequence[Finding]) -> tuple[int, int]:
    errors = sum(1 for f in findings if f.severity == "error")
    return errors, len(findings) - errors


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_findings(findings: Sequence[Finding]) -> str:
    """One block per finding, a blank line between blocks, then `N errors, M warnings`."""
    blocks = [
        f"{f.severity.upper()} {f.rule} {f.file} host {f.host} {f.key}: {f.message}\n  Fix: {f.fix}"
        for f in findings
    ]
    errors, warnings = _count(findings)
    blocks.append(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    return "\n\n".join(blocks)


def findings_json(findings: Sequence[Finding]) -> str:
    errors, warnings = _count(findings)
    return json.dumps(
        {"findings": [asdict(f) for f in findings], "errors": errors, "warnings": warnings},
        indent=2,
    )


# --- where a value came from -------------------------------------------------------------


class Blame:
    """Key paths and their files for one host, preferring keys set in the inventory."""

    def __init__(self, host: Host, base: Path) -> None:
        self.host = host
        self.base = base

    def file(self, key: str) -> Path:
        top = key.split(".", 1)[0].split("[", 1)[0]
        return self.host.origins.get(top, self.host.source)

    def in_inventory(self, key: str) -> bool:
        return self.file(key).is_relative_to(self.base)

    def pick(self, *keys: str) -> str:
        """The first key the inventory sets; the first key when only role defaults set them."""
        return next((k for k in keys if self.in_inventory(k)), keys[0])


class Collector:
    """One host's findings, with the host's validated settings and where its values came from."""

    def __init__(self, host: Host, settings: HostSettings, base: Path) -> None:
        self.blame = Blame(host, base)
        self.host = host
        self.settings = settings
        self.findings: list[Finding] = []

    def add(self, rule: str, severity: Severity, key: str, message: str, fix: str) -> None:
        self.findings.append(
            Finding(
                rule=rule,
                severity=severity,
                host=self.blame.host.name,
                file=str(self.blame.file(key)),
                key=key,
                message=message,
                fix=fix,
            )
        )


def platforms_of(settings: HostSettings) -> list[Platform]:
    """The platforms a host's files may be rendered for: its os_family's, or every one."""
    if settings.os_family is not None:
        return [PLATFORMS[settings.os_family]]
    return list(PLATFORMS.values())


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule, host, file and key (templates render once per platform)."""
    seen: set[tuple[str, str, str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.rule, f.host, f.file, f.key)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
