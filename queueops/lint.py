"""Static checks of an inventory: settings that validation accepts but that lose or duplicate jobs.

Pure: nothing here contacts a host. Every host is validated first with the same functions the
tasks use (a host that fails validation raises InventoryError, as any task would); the rules
then look at what validation lets through. Rules never repeat a refusal of validation: where
validation already refuses the hard case (a Horizon timeout at or above retry_after, an
evicting Redis policy without a reason, workers as root), the rule only reports what is left
(a thin margin, an accepted reason, the rendered files).

Rules that guard an invariant of templates/ (autorestart, process_num, user) check the
files as rendered, so a template edit that breaks them is caught; lint_program_file() is
the entry point for those. docs/lint.md describes every rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from queueops.horizon_plan import HORIZON_PROGRAM_TEMPLATE, render_program
from queueops.horizon_settings import HorizonSettings, horizon_settings
from queueops.inventory import Host, Inventory
from queueops.platforms import PLATFORMS, Platform
from queueops.redis_settings import REDIS_GROUP, RedisSettings, redis_settings
from queueops.render import PROGRAM_TEMPLATE, render_programs
from queueops.settings import HostSettings, WorkerSettings, host_settings

Severity = Literal["error", "warning"]

# Seconds a timeout should stay below retry_after, and stopwaitsecs above a timeout, before
# the gap is too thin to be safe: a job finishing right at its timeout, or a worker taking a
# moment to exit after it, must not reach the other limit.
MARGIN = 5

# Stable rule ids → one-line titles (docs/lint.md explains each).
RULES: dict[str, str] = {
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

# Laravel's stock queue connections that are not Redis (config/queue.php).
NON_REDIS_CONNECTIONS = ("sync", "database", "beanstalkd", "sqs", "null")
# Pins under which a worker never runs a queued job: sync runs jobs inline while they are
# dispatched, null throws them away.
NO_QUEUE_CONNECTIONS = {
    "sync": "runs every job inline while it is dispatched, so nothing is ever queued",
    "null": "discards every job dispatched to it",
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


class _Blame:
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


class _Collector:
    def __init__(self, host: Host, base: Path) -> None:
        self.blame = _Blame(host, base)
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


# --- rules on settings -------------------------------------------------------------------


def _worker_rules(out: _Collector, worker: WorkerSettings) -> None:
    blame = out.blame
    retry_after = worker.retry_after
    first_pin: tuple[int, str] | None = None
    for index, program in enumerate(worker.programs):
        timeout_key = blame.program_key(index, "timeout")
        label = f"program {program.name}"
        gap = retry_after - program.timeout
        # QO101: validation does not compare worker timeouts with retry_after.
        if gap <= 0:
            out.add(
                "QO101",
                "error",
                blame.pick(timeout_key, "queue_worker_retry_after"),
                f"{label}: --timeout={program.timeout} s is not below the connection's "
                f"retry_after (queue_worker_retry_after = {retry_after} s): a job still "
                "running after retry_after is handed to a second worker and runs twice",
                f"lower the timeout to at most {retry_after - MARGIN} s, or raise "
                f"retry_after in config/queue.php and queue_worker_retry_after to at least "
                f"{program.timeout + MARGIN} s",
            )
        elif gap < MARGIN:
            out.add(
                "QO101",
                "warning",
                blame.pick(timeout_key, "queue_worker_retry_after"),
                f"{label}: --timeout={program.timeout} s is only {gap} s below retry_after "
                f"({retry_after} s): a job that runs to its timeout, plus the worker's own "
                "overhead, can outlive retry_after and run a second time",
                f"keep the timeout at least {MARGIN} s below retry_after: at most "
                f"{retry_after - MARGIN} s, or raise retry_after to {program.timeout + MARGIN} s",
            )
        # QO102: validation fills a missing stopwaitsecs with timeout + 15 but does not
        # check one that is set.
        stop_key = blame.program_key(index, "stopwaitsecs")
        stop_gap = program.stopwaitsecs - program.timeout
        if stop_gap <= 0:
            out.add(
                "QO102",
                "error",
                blame.pick(stop_key, timeout_key),
                f"{label}: stopwaitsecs={program.stopwaitsecs} s is not above --timeout="
                f"{program.timeout} s: on every stop, deploy or restart supervisor SIGKILLs a "
                "job still running, which is then retried from the start after retry_after",
                f"set stopwaitsecs to at least {program.timeout + MARGIN} s, or remove it "
                "(the default is timeout + 15)",
            )
        elif stop_gap < MARGIN:
            out.add(
                "QO102",
                "warning",
                blame.pick(stop_key, timeout_key),
                f"{label}: stopwaitsecs={program.stopwaitsecs} s is only {stop_gap} s above "
                f"--timeout={program.timeout} s: a job that runs to its timeout leaves the "
                "worker no time to exit before supervisor SIGKILLs it",
                f"set stopwaitsecs to at least {program.timeout + MARGIN} s, or remove it "
                "(the default is timeout + 15)",
            )
        # QO107
        if program.max_time == 0 and program.memory is None:
            out.add(
                "QO107",
                "warning",
                blame.pick(
                    blame.program_key(index, "max_time"), blame.program_key(index, "memory")
                ),
                f"{label}: neither --max-time (max_time is 0) nor --memory is set: only "
                "Laravel's default 128 MB limit ever recycles a worker, so leaks of anything "
                "else (connections, file handles, static state) grow until the worker fails "
                "mid-job, and that job is retried or lost",
                "set max_time (e.g. 3600) so each worker exits between jobs and supervisor "
                "starts a fresh one; set memory too if the jobs are memory-hungry",
            )
        # QO109
        if program.connection is None:
            continue
        connection_key = blame.program_key(index, "connection")
        if program.connection in NO_QUEUE_CONNECTIONS:
            out.add(
                "QO109",
                "error",
                connection_key,
                f"{label}: pinned to the {program.connection} connection, which "
                f"{NO_QUEUE_CONNECTIONS[program.connection]}: the worker never runs a job",
                "pin the connection the app dispatches to (e.g. redis or database), or "
                "leave connection null so the app's .env decides",
            )
        elif first_pin is None:
            first_pin = (index, program.connection)
        elif program.connection != first_pin[1]:
            other = worker.programs[first_pin[0]]
            out.add(
                "QO109",
                "warning",
                connection_key,
                f"{label}: pinned to {program.connection!r} while program {other.name} on the "
                f"same app ({worker.app_path}) is pinned to {first_pin[1]!r}: the app's .env "
                "names one QUEUE_CONNECTION, so at most one of them matches it; the other "
                "waits on a connection the app may not dispatch to (setup-worker refuses a "
                "pin that disagrees with the .env)",
                "pin every program of the host to the app's QUEUE_CONNECTION, or leave "
                "connection null so the .env decides",
            )


def _horizon_rules(out: _Collector, horizon: HorizonSettings, retry_after: int) -> None:
    blame = out.blame
    for env, supervisors in horizon.environments:
        for sup in supervisors:
            label = f"Horizon supervisor {sup.name} ({env})"
            # QO101: validation refuses timeout >= retry_after; only the margin is left.
            gap = retry_after - sup.timeout
            if gap < MARGIN:
                out.add(
                    "QO101",
                    "warning",
                    blame.pick(
                        blame.supervisor_key(env, sup.name, "timeout"),
                        "queue_worker_retry_after",
                    ),
                    f"{label}: timeout {sup.timeout} s is only {gap} s below retry_after "
                    f"({retry_after} s): a job that runs to its timeout can outlive "
                    "retry_after and run a second time",
                    f"keep the timeout at least {MARGIN} s below retry_after: at most "
                    f"{retry_after - MARGIN} s, or raise retry_after (config/queue.php and "
                    f"queue_worker_retry_after) to {sup.timeout + MARGIN} s",
                )
            # QO108
            if sup.connection != "redis":
                key = blame.supervisor_key(env, sup.name, "connection")
                if sup.connection in NON_REDIS_CONNECTIONS:
                    out.add(
                        "QO108",
                        "error",
                        key,
                        f"{label}: connection {sup.connection!r} is not a Redis connection: "
                        "Horizon only runs jobs from Redis queues, so jobs dispatched to "
                        f"{sup.connection} pile up with no worker",
                        "set connection: redis (a connection with the redis driver); run "
                        "plain queue:work programs (queue_worker_programs) for other "
                        "connections",
                    )
                else:
                    out.add(
                        "QO108",
                        "warning",
                        key,
                        f"{label}: connection {sup.connection!r} is not `redis`, and Horizon "
                        "works only on connections with the redis driver (not Redis Cluster); "
                        "queueops cannot see config/queue.php to tell",
                        f"check that {sup.connection} uses the redis driver in "
                        "config/queue.php, or set connection: redis",
                    )
    # QO102: validation refuses stopwaitsecs <= the longest timeout; only the margin is left.
    if horizon.configured and horizon.stopwaitsecs - horizon.longest_timeout < MARGIN:
        longest = horizon.longest_timeout
        out.add(
            "QO102",
            "warning",
            "horizon_stopwaitsecs",
            f"horizon_stopwaitsecs {horizon.stopwaitsecs} s is only "
            f"{horizon.stopwaitsecs - longest} s above the longest supervisor timeout "
            f"({longest} s): a job that runs to its timeout leaves Horizon no time to exit "
            "before supervisor SIGKILLs it and its running jobs",
            f"set horizon_stopwaitsecs to at least {longest + MARGIN} s, or null (the longest "
            "timeout + 15)",
        )


def _redis_rules(out: _Collector, host: Host, redis: RedisSettings) -> None:
    # QO104: validation refuses an evicting policy without a reason; only the accepted
    # reason is left to report. Hosts outside the redis group are never tuned.
    if REDIS_GROUP in host.groups and redis.eviction_reason:
        policy = dict(redis.values)["maxmemory-policy"]
        out.add(
            "QO104",
            "warning",
            "redis_queue_maxmemory_policy",
            f"maxmemory-policy {policy} evicts keys, and queue lists have no TTL: when memory "
            "is full Redis drops queued jobs silently. Accepted because "
            f"redis_queue_allow_eviction_reason says: {redis.eviction_reason!r}",
            "use noeviction on the queue Redis and keep cache data on another instance; "
            "keep the reason only if this Redis holds no job that matters",
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


def _platforms(settings: HostSettings) -> list[Platform]:
    if settings.os_family is not None:
        return [PLATFORMS[settings.os_family]]
    return list(PLATFORMS.values())


def _rendered_rules(settings: HostSettings, horizon: HorizonSettings) -> list[Finding]:
    name = settings.name
    # Connections only change the command line; none of these rules read it.
    connections = {p.name: p.connection or "redis" for p in settings.worker.programs}
    found: list[Finding] = []
    for platform in _platforms(settings):
        for path, text in render_programs(settings.worker, platform, connections).items():
            found += lint_program_file(name, PROGRAM_TEMPLATE, path, text)
        if horizon.configured:
            path = platform.program_path(horizon.program_name)
            text = render_program(horizon, platform)
            found += lint_program_file(name, HORIZON_PROGRAM_TEMPLATE, path, text)
    return found


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule, host, file and key (templates render once per platform)."""
    seen: set[tuple[str, str, str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.rule, f.host, f.file, f.key)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _base(inventory: Inventory) -> Path:
    return inventory.path if inventory.path.is_dir() else inventory.path.parent


def lint_host(host: Host, inventory: Inventory) -> list[Finding]:
    """Every finding of one host, validated first (InventoryError when it fails)."""
    settings = host_settings(host, inventory.role_keys)
    horizon = horizon_settings(host)
    redis = redis_settings(host)
    out = _Collector(host, _base(inventory))
    _worker_rules(out, settings.worker)
    _horizon_rules(out, horizon, settings.worker.retry_after)
    _redis_rules(out, host, redis)
    findings = out.findings + _rendered_rules(settings, horizon)
    return sorted(_unique(findings), key=lambda f: f.rule)


def lint_inventory(inventory: Inventory) -> list[Finding]:
    """Findings of every host, in hosts.yml order, each host's by rule id.

    Every host is validated before any rule runs, so an invalid host raises InventoryError
    and no partial list is returned.
    """
    for host in inventory.hosts.values():
        host_settings(host, inventory.role_keys)
        horizon_settings(host)
        redis_settings(host)
    found: list[Finding] = []
    for host in inventory.hosts.values():
        found += lint_host(host, inventory)
    return found
