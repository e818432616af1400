"""Static checks of an inventory: settings that validation accepts but that lose or duplicate jobs.

Pure: nothing here contacts a host. Every host is validated first with the same functions the
tasks use (a host that fails validation raises InventoryError, as any task would); the rules
then look at what validation lets through. Rules never repeat a refusal of validation: where
validation already refuses the hard case (a Horizon timeout at or above retry_after, an
evicting Redis policy without a reason, workers as root), the rule only reports what is left
(a thin margin, an accepted reason, the rendered files).

Rules that guard an invariant of templates/ (autorestart, process_num, user) check the
files as rendered, so a template edit that breaks them is caught; lint_program_file() is
the entry point for those. docs/lint.md describes every rule; each kind's lint.py holds the
rules on its own settings and files (queueops/lint/run.py runs them all).
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

# Stable rule ids → one-line titles (docs/lint.md explains each).
RULES: dict[str, str] = {
    "QO100": "values the inventory's validation refuses",
    "QO101": "job timeout below the connection's retry_after",
    "QO102": "stopwaitsecs above the job timeout",
    "QO103": "autorestart=true in every rendered program",
    "QO104": "no evicting maxmemory-policy on a queue Redis",
    "QO105": "numprocs > 1 needs %(process_num) in process_name",
    "QO106": "rendered programs run as a non-root user",
    "QO107": "workers are recycled (--max-time or --memory)",
    "QO108": "Horizon supervisors use the redis connection",
    "QO109": "one usable queue connection per host",
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

    def program_key(self, index: int, field: str) -> str:
        """Where program `index` takes `field` from: its own entry or the program defaults."""
        raw = self.host.vars.get("queue_worker_programs")
        entry = raw[index] if isinstance(raw, list) and index < len(raw) else {}
        defaults = self.host.vars.get("queue_worker_program_defaults") or {}
        if field not in entry and field in defaults:
            return f"queue_worker_program_defaults.{field}"
        return f"queue_worker_programs[{index}].{field}"

    def supervisor_key(self, env: str, name: str, field: str) -> str:
        envs = self.host.vars.get("horizon_environments") or {}
        entry = (envs.get(env) or {}).get(name) or {}
        if field not in entry:
            return f"horizon_supervisor_defaults.{field}"
        return f"horizon_environments.{env}.{name}.{field}"


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


# --- rules on rendered files (template invariants) ----------------------------------------


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """The [program:…] sections of a supervisor file: (name, {key: value})."""
    sections: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            header = stripped[1:-1].strip()
            if header.startswith("program:"):
                current = {}
                sections.append((header.removeprefix("program:"), current))
            else:
                current = None
        elif current is not None and "=" in stripped:
            key, value = stripped.split("=", 1)
            current[key.strip()] = value.strip()
    return sections


def lint_program_file(host: str, template: str, path: str, text: str) -> list[Finding]:
    """QO103, QO105, QO106 on one rendered supervisor program file.

    `template` is the template it was rendered from (templates/…), which is what to fix;
    `path` is where the file goes on the host.
    """
    findings: list[Finding] = []
    file = f"templates/{template}"

    def add(rule: str, name: str, key: str, message: str, fix: str) -> None:
        findings.append(Finding(rule, "error", host, file, f"[program:{name}].{key}", message, fix))

    for name, values in _sections(text):
        where = f"{path}: [program:{name}]"
        autorestart = values.get("autorestart")
        if autorestart is None or autorestart.lower() != "true":
            shown = "is not set" if autorestart is None else f"is {autorestart}"
            add(
                "QO103",
                name,
                "autorestart",
                f"{where}: autorestart {shown}: since Supervisor 4.0 the default is "
                "`unexpected` with exitcodes 0, so a worker that exits 0 after queue:restart, "
                "--max-time or horizon:terminate is never started again and its queues stop",
                f"render autorestart=true in {file}",
            )
        numprocs = values.get("numprocs", "1")
        process_name = values.get("process_name", "%(program_name)s")
        if numprocs.isdigit() and int(numprocs) > 1 and "%(process_num)" not in process_name:
            add(
                "QO105",
                name,
                "process_name",
                f"{where}: numprocs={numprocs} but process_name={process_name} has no "
                "%(process_num): supervisor refuses the program, so none of its workers run",
                f"render process_name=%(program_name)s_%(process_num)02d in {file}",
            )
        user = values.get("user")
        if user is None or user == "root":
            shown = "is not set (supervisord's own user, root)" if user is None else "is root"
            add(
                "QO106",
                name,
                "user",
                f"{where}: user {shown}: jobs run as root, and files they create "
                "(logs, cache, storage) become unwritable for the web user, so later jobs "
                "and requests fail",
                f"render user= with the validated user or the platform's web user in {file}",
            )
    return findings


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
