"""Supervisor program files against a host's facts: the files to write, and what supervisord
must then do (reload changed groups, load files it never read, start stopped programs,
install or start itself) so that every program runs its expected processes.

Pure: nothing here touches a host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from queueops.agent.supervisor_state import group_status
from queueops.plan.changes import FileChange, change_items, file_changes, supervisor_notes
from queueops.platforms import Platform, platform_for, supervisor_spec
from queueops.protocol import ProgramsSpec, ReportItem

# Facts probe every family's paths, so one round trip works before the host's OS is known.
FAMILIES = [platform_for(family) for family in ("debian", "redhat")]
SUPERVISOR_CONFIGS = [p.supervisor_config for p in FAMILIES]
PROGRAM_DIRS = [[p.program_dir, p.program_ext] for p in FAMILIES]


def program_paths(name: str) -> list[str]:
    """Where program `name`'s file lives on either family (facts look at both)."""
    return [p.program_path(name) for p in FAMILIES]


def program_name(platform: Platform, path: str) -> str:
    return path[len(platform.program_dir) + 1 : -len(platform.program_ext)]


@dataclass(frozen=True)
class ProgramsPlan:
    host: str
    platform: Platform
    changes: tuple[FileChange, ...]
    # Supervisor groups whose configuration changed, appeared or went away.
    groups: tuple[str, ...]
    # Programs queueops manages here, with their process counts, after / before this run.
    expected: Mapping[str, int]
    previous: Mapping[str, int]
    # Programs whose files are right but which supervisord never loaded, or does not run.
    load: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.load or self.start or self.notes)

    def diffs(self) -> list[str]:
        return [c.diff for c in self.changes]

    def items(self) -> list[ReportItem]:
        out = change_items(self.notes, self.changes)
        for action, names in (("load", self.load), ("start", self.start)):
            out += [{"item": f"program {n}", "action": action, "status": "changed"} for n in names]
        return out

    def spec(self, timeout: float) -> ProgramsSpec:
        """What the host's programs transaction needs besides the files (see
        agent/programs.py)."""
        return {
            **supervisor_spec(self.platform),
            "groups": list(self.groups),
            "expected": dict(self.expected),
            "previous": dict(self.previous),
            "start": list(self.start),
            "timeout": timeout,
        }


def plan_programs(
    host: str,
    platform: Platform,
    desired: Mapping[str, str],
    header: str,
    facts: Mapping[str, Any],
    expected: Mapping[str, int],
) -> ProgramsPlan:
    """The plan for the programs whose files start with `header`: `desired` (path → text)
    written, every other file of that header deleted, and supervisord brought to `expected`
    (program → process count)."""
    current: dict[str, dict[str, Any]] = {
        path: info
        for path, info in facts["files"].items()
        if info is not None and info["header"] == header
    }
    changes = file_changes(desired, facts["files"], current)
    supervisor = facts["supervisor"]
    loaded = {p["group"] for p in supervisor["processes"]}
    previous: dict[str, int] = {}
    for process in supervisor["processes"]:
        if platform.program_path(process["group"]) in current:
            previous[process["group"]] = previous.get(process["group"], 0) + 1
    file_groups = {program_name(platform, c.path) for c in changes}
    # A file already right that supervisord never loaded (hand-copied, no update) still needs one.
    # With supervisord stopped, starting it loads every file: nothing is "unloaded" then.
    load = set()
    if supervisor["running"]:
        load = {name for name in expected if name not in loaded} - file_groups
    groups = tuple(sorted(file_groups | load))
    start = tuple(
        sorted(
            name
            for name, status in group_status(supervisor["processes"], expected).items()
            if name in loaded and name not in groups and not status["ok"]
        )
    )
    # A host with no programs, now or before, needs no supervisor at all.
    notes = supervisor_notes(platform, supervisor) if expected or changes else []
    return ProgramsPlan(
        host,
        platform,
        tuple(changes),
        groups,
        dict(expected),
        previous,
        tuple(sorted(load)),
        start,
        tuple(notes),
    )
