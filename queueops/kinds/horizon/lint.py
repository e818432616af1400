"""Lint rules of the Horizon kind: margins validation leaves, the Redis connection, and the
template invariants of the rendered Horizon program."""

from __future__ import annotations

from queueops.kinds.horizon.plan import HORIZON_PROGRAM_TEMPLATE, render_program
from queueops.kinds.horizon.settings import HorizonSettings, horizon_of
from queueops.kinds.workers.settings import worker_of
from queueops.lint.findings import MARGIN, RULES, Blame, Collector, platforms_of
from queueops.supervisor.lint import lint_program_file

# The rules this kind reports (QO101 and QO102 are shared with the workers).
HORIZON_RULES: dict[str, str] = {
    "QO101": RULES["QO101"],
    "QO102": RULES["QO102"],
    "QO108": "Horizon supervisors use the redis connection",
}

# Laravel's stock queue connections that are not Redis (config/queue.php).
NON_REDIS_CONNECTIONS = ("sync", "database", "beanstalkd", "sqs", "null")


def supervisor_key(blame: Blame, env: str, name: str, field: str) -> str:
    """Where Horizon supervisor `name` of `env` takes `field` from: its own entry or the
    supervisor defaults."""
    envs = blame.host.vars.get("horizon_environments") or {}
    entry = (envs.get(env) or {}).get(name) or {}
    if field not in entry:
        return f"horizon_supervisor_defaults.{field}"
    return f"horizon_environments.{env}.{name}.{field}"


def _settings_rules(out: Collector, horizon: HorizonSettings, retry_after: int) -> None:
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
                        supervisor_key(blame, env, sup.name, "timeout"),
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
                key = supervisor_key(blame, env, sup.name, "connection")
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


def lint(out: Collector) -> None:
    horizon = horizon_of(out.settings)
    _settings_rules(out, horizon, worker_of(out.settings).retry_after)
    if not horizon.configured:
        return
    for platform in platforms_of(out.settings):
        path = platform.program_path(horizon.program_name)
        text = render_program(horizon, platform)
        out.findings += lint_program_file(out.settings.name, HORIZON_PROGRAM_TEMPLATE, path, text)
