"""setup-scheduler's host half: its facts (cron's state), the transaction that installs the
cron entry or the schedule:work program (with cron installed and started where the entry
needs it), and what an observation sees of the scheduler."""

from __future__ import annotations

import os
import time

from queueops.agent.common import AgentError, read_text
from queueops.agent.facts import gather_facts
from queueops.agent.laravel import BOOT_PHP, MARKER, run_as
from queueops.agent.programs import apply_programs
from queueops.agent.services import install_package, start_service
from queueops.agent.supervisor_state import RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.kinds.scheduler.protocol import (
        CronFacts,
        CronSpec,
        SchedulerApplyRequest,
        SchedulerFacts,
        SchedulerFactsRequest,
        SchedulerObserved,
        SchedulerProbe,
    )
    from queueops.protocol import Facts, ItemsAnswer

# How long a started cron daemon gets to show up among the processes.
START_TIMEOUT = 10


def running(names: set[str]) -> bool:
    """Whether a process of one of these names (/proc/PID/comm) runs."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() in names:
                        return True
            except OSError:
                continue
    return False


def cron_facts(specs: list[CronSpec]) -> CronFacts:
    return {
        "installed": any(os.path.exists(spec["binary"]) for spec in specs),
        "running": running({spec["process"] for spec in specs}),
    }


def scheduler_facts(request: SchedulerFactsRequest) -> SchedulerFacts:
    facts = gather_facts(request)
    return {**facts, "cron": cron_facts(request["cron"])}


def ensure_cron(spec: CronSpec) -> list[str]:
    """cron installed and running; what was done."""
    done = []
    if not os.path.exists(spec["binary"]):
        install_package(spec["package"], spec["install"])
        done.append(f"installed {spec['package']}")
    if not running({spec["process"]}):
        start_service(spec["service"], os.path.isdir("/run/systemd/system"))
        deadline = time.monotonic() + START_TIMEOUT
        while not running({spec["process"]}):
            if time.monotonic() > deadline:
                raise AgentError(f"{spec['service']} did not start within {START_TIMEOUT} s")
            time.sleep(0.1)
        done.append(f"started {spec['service']}")
    return done


def scheduler_apply(request: SchedulerApplyRequest) -> ItemsAnswer:
    cron = request["cron"]
    if cron is None:
        return apply_programs(request)

    def cron_runs() -> None:
        # The entry is only as good as the daemon that reads it.
        if not running({cron["process"]}):
            raise AgentError(f"{cron['service']} is not running: nothing would read the entry")

    return apply_programs(request, before=lambda: ensure_cron(cron), after=cron_runs)


def _changed_at(path: str) -> float | None:
    try:
        # The file itself, never what a link there points to: the log is in the app's
        # directory, which its user may have replaced with anything.
        return os.lstat(path).st_mtime
    except OSError:
        return None


# Asks the app what it schedules and whether it has Horizon; run as the app's user.
SCHEDULE_PHP = r"""
$schedule = $app->make(Illuminate\Console\Scheduling\Schedule::class);
$scheduled = [];
foreach ($schedule->events() as $event) {
    $scheduled[] = (string) ($event->command ?? $event->description ?? '');
}
$commands = array_keys($app->make(Illuminate\Contracts\Console\Kernel::class)->all());
echo "\n", $argv[1], json_encode([
    'scheduled' => $scheduled,
    'horizon' => in_array('horizon:snapshot', $commands, true),
]), "\n";
"""


def entry_path(request: SchedulerProbe) -> str:
    """The file of the scheduler's entry: its cron.d file, or its program file."""
    if request["mode"] == "cron":
        return request["cron_path"]
    there = [p for p in request["program_paths"] if os.path.lexists(p)]
    return there[0] if there else request["program_paths"][0]


def entry_user(request: SchedulerProbe) -> str | None:
    """The user the scheduler runs as, from its own entry: the cron line's user field, or the
    program's `user=` (the app's code runs as that user, never as root)."""
    if request["mode"] == "cron":
        for line in (read_text(request["cron_path"]) or "").splitlines():
            fields = line.split()
            if len(fields) > 6 and not line.startswith("#") and "=" not in fields[0]:
                return fields[5]
        return None
    for line in (read_text(entry_path(request)) or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "user":
            return value.strip()
    return None


def schedule_of(request: SchedulerProbe) -> tuple[list[str] | None, bool | None, str | None]:
    """What the app schedules, whether it has Horizon, or why it did not say."""
    import json

    user = entry_user(request)
    if user is None or user == "root":
        return None, None, "no scheduler entry of queueops says which user runs the app"
    app, php = request["app_path"], request["php"]
    try:
        code, out, err = run_as(user, app, [php, "-r", BOOT_PHP + SCHEDULE_PHP, MARKER], 60)
    except AgentError as exc:  # its entry's user is gone, or is root under another name
        return None, None, str(exc)
    answer = [line for line in out.splitlines() if line.startswith(MARKER)]
    if code != 0 or not answer:
        tail = " ".join((out + err).split())[-300:]
        return None, None, f"the app did not say what it schedules ({php} exited {code}): {tail}"
    found = json.loads(answer[-1][len(MARKER) :])
    return [str(c) for c in found["scheduled"]], bool(found["horizon"]), None


def observe(request: SchedulerProbe, facts: Facts) -> SchedulerObserved:
    path = entry_path(request)
    if request["mode"] == "cron":
        now_running = running({spec["process"] for spec in request["cron"]})
    else:
        procs = [p for p in facts["supervisor"]["processes"] if p["group"] == request["name"]]
        now_running = bool(procs) and all(p["state"] == RUNNING for p in procs)
    since = _changed_at(path)
    scheduled = horizon = error = None
    if request["deep"] and since is not None:
        scheduled, horizon, error = schedule_of(request)
    return {
        "mode": request["mode"],
        "entry": since is not None,
        "entry_since": since,
        "running": now_running,
        "last_run": _changed_at(request["log_file"]),
        "now": time.time(),
        "scheduled": scheduled,
        "horizon_installed": horizon,
        "error": error,
    }


# Its figures in `invoke metrics`: name → (type, help).
METRICS = {
    "scheduler_up": (
        "gauge",
        "1 when the scheduler's cron entry is there and cron runs (cron mode), or its "
        "schedule:work program runs (work mode).",
    ),
    "scheduler_last_run_timestamp_seconds": (
        "gauge",
        "When the scheduler last ran (its output last changed), where it has run.",
    ),
}


def metric_samples(observed: SchedulerObserved, base: dict[str, str]) -> list[Any]:
    up = observed["entry"] and observed["running"]
    samples: list[Any] = [("scheduler_up", base, 1 if up else 0)]
    if observed["last_run"] is not None:
        samples.append(("scheduler_last_run_timestamp_seconds", base, observed["last_run"]))
    return samples


OPERATIONS: dict[str, Operation] = {
    "scheduler_facts": scheduler_facts,
    "scheduler_apply": scheduler_apply,
}
