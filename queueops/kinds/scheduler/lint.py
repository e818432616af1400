"""Lint rules of the scheduler kind: the invariants of its rendered cron entry, and of its
schedule:work program (the supervisor programs' rules)."""

from __future__ import annotations

from queueops.kinds.scheduler.plan import (
    CRON_TEMPLATE,
    PROGRAM_TEMPLATE,
    render_cron,
    render_program,
)
from queueops.kinds.scheduler.settings import scheduler_of
from queueops.lint.findings import Collector, Finding, platforms_of
from queueops.supervisor.lint import lint_program_file

SCHEDULER_RULES: dict[str, str] = {
    "QO110": "the cron entry runs schedule:run every minute as a non-root user",
}


def lint_cron_file(host: str, path: str, text: str) -> list[Finding]:
    """QO110 on one rendered cron entry: cron(8) runs the scheduler every minute, as the app's
    user; Laravel's schedule depends on being asked every minute, and the app's code must
    never run as root."""
    file = f"templates/{CRON_TEMPLATE}"
    entries = [
        line.split(None, 6)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]
    ]
    problems = []
    if len(entries) != 1 or len(entries[0]) != 7:
        problems.append(f"{path}: expected exactly one cron entry, found {len(entries)}")
    else:
        *when, user, command = entries[0]
        if when != ["*"] * 5:
            problems.append(f"{path}: runs at {' '.join(when)}, not every minute")
        if user == "root":
            problems.append(f"{path}: runs as root")
        if "schedule:run" not in command:
            problems.append(f"{path}: does not run schedule:run")
    return [
        Finding("QO110", "error", host, file, "schedule", problem,
                f"render one `* * * * * USER ... schedule:run` line in {file}")
        for problem in problems
    ]  # fmt: skip


def lint(out: Collector) -> None:
    scheduler = scheduler_of(out.settings)
    if not scheduler.configured:
        return
    for platform in platforms_of(out.settings):
        if scheduler.mode == "cron":
            text = render_cron(scheduler, platform)
            out.findings += lint_cron_file(out.settings.name, f"/etc/cron.d/{scheduler.name}", text)
        else:
            path = platform.program_path(scheduler.name)
            text = render_program(scheduler, platform)
            out.findings += lint_program_file(out.settings.name, PROGRAM_TEMPLATE, path, text)
