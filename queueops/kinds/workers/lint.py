"""Lint rules of the workers kind: timeouts against retry_after and stopwaitsecs, recycling,
connection pins, and the template invariants of the rendered program files."""

from __future__ import annotations

from queueops.kinds.workers.render import PROGRAM_TEMPLATE, render_programs
from queueops.kinds.workers.settings import WorkerSettings, worker_of
from queueops.lint.findings import MARGIN, RULES, Blame, Collector, platforms_of
from queueops.supervisor.lint import lint_program_file

# The rules this kind reports (QO101 and QO102 are shared with Horizon).
WORKER_RULES: dict[str, str] = {
    "QO101": RULES["QO101"],
    "QO102": RULES["QO102"],
    "QO107": "workers are recycled (--max-time or --memory)",
    "QO109": "one usable queue connection per host",
}

# Pins under which a worker never runs a queued job: sync runs jobs inline while they are
# dispatched, null throws them away.
NO_QUEUE_CONNECTIONS = {
    "sync": "runs every job inline while it is dispatched, so nothing is ever queued",
    "null": "discards every job dispatched to it",
}


def program_key(blame: Blame, index: int, field: str) -> str:
    """Where program `index` takes `field` from: its own entry or the program defaults."""
    raw = blame.host.vars.get("queue_worker_programs")
    entry = raw[index] if isinstance(raw, list) and index < len(raw) else {}
    defaults = blame.host.vars.get("queue_worker_program_defaults") or {}
    if field not in entry and field in defaults:
        return f"queue_worker_program_defaults.{field}"
    return f"queue_worker_programs[{index}].{field}"


def _settings_rules(out: Collector, worker: WorkerSettings) -> None:
    blame = out.blame
    retry_after = worker.retry_after
    first_pin: tuple[int, str] | None = None
    for index, program in enumerate(worker.programs):
        timeout_key = program_key(blame, index, "timeout")
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
        stop_key = program_key(blame, index, "stopwaitsecs")
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
                    program_key(blame, index, "max_time"), program_key(blame, index, "memory")
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
        connection_key = program_key(blame, index, "connection")
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


def lint(out: Collector) -> None:
    worker = worker_of(out.settings)
    _settings_rules(out, worker)
    # Connections only change the command line; none of the file rules read it.
    connections = {p.name: p.connection or "redis" for p in worker.programs}
    for platform in platforms_of(out.settings):
        for path, text in render_programs(worker, platform, connections).items():
            out.findings += lint_program_file(out.settings.name, PROGRAM_TEMPLATE, path, text)
