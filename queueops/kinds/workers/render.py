"""The supervisor program files of queue:work workers, rendered from templates/.

Pure functions: settings, platform and resolved queue connections in, {remote path: content}
out. The queue connection is resolved here too, from the app's .env (read on the host) and the
program's pin, because a worker on the wrong connection silently processes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.inventory.loader import Host, is_plain_name
from queueops.kinds.workers.settings import Program, WorkerSettings, worker_of
from queueops.plan.templates import managed_header, offline_platform, render
from queueops.platforms import Platform
from queueops.shell import cmd

PROGRAM_TEMPLATE = "supervisor/program.conf.j2"
PROGRAM_HEADER = managed_header(PROGRAM_TEMPLATE)


class QueueConnectionError(QueueopsError):
    """A worker's queue connection disagrees with the app's .env, or nothing decides it."""


def worker_command(worker: WorkerSettings, program: Program, connection: str) -> str:
    """The queue:work command line; supervisor splits it shell-style, so it is quoted argv."""
    argv = [
        worker.php,
        f"{worker.app_path}/artisan",
        "queue:work",
        connection,
        f"--queue={','.join(program.queues)}",
        f"--sleep={program.sleep}",
        f"--tries={program.tries}",
        f"--max-time={program.max_time}",
        f"--timeout={program.timeout}",
    ]
    if program.memory is not None:
        argv.append(f"--memory={program.memory}")
    if program.backoff:
        argv.append(f"--backoff={','.join(str(s) for s in program.backoff)}")
    return cmd(*argv)


def render_programs(
    settings: WorkerSettings, platform: Platform, connections: Mapping[str, str]
) -> dict[str, str]:
    """One supervisor program file per worker program, keyed by its path on the host.

    `connections` maps each program name to its resolved queue connection
    (see resolve_connection).
    """
    return {
        platform.program_path(program.name): render(
            PROGRAM_TEMPLATE,
            header=PROGRAM_HEADER,
            name=program.name,
            command=worker_command(settings, program, connections[program.name]),
            directory=settings.app_path,
            user=program.user or platform.web_user,
            numprocs=program.processes,
            stdout_logfile=f"{settings.log_dir}/{program.name}.log",
            stopwaitsecs=program.stopwaitsecs,
            startsecs=program.startsecs,
        )
        for program in settings.programs
    }


def resolve_connection(program: Program, env_connection: str | None, env_file: str) -> str:
    """The queue connection a program's workers use.

    `env_connection` is the app's default queue connection as Laravel resolves it from its
    .env (`env_file`), the environment and config/queue.php; None or "" when the app gives
    none (or could not be asked). The app decides; a pin must agree with it and only stands
    alone when the app is silent.
    """
    env_connection = env_connection or None
    if env_connection is not None and not is_plain_name(env_connection):
        raise QueueConnectionError(
            f"program {program.name}: the app resolves QUEUE_CONNECTION={env_connection!r} "
            f"(from {env_file}, the environment and config/queue.php), which is not a safe "
            "connection name"
        )
    if program.connection is None:
        if env_connection is None:
            raise QueueConnectionError(
                f"program {program.name}: no queue connection: the app resolves no "
                f"QUEUE_CONNECTION from {env_file}, the environment and config/queue.php (or "
                "could not be asked) and the program pins no `connection`; set one of them"
            )
        return env_connection
    if env_connection is not None and env_connection != program.connection:
        raise QueueConnectionError(
            f"program {program.name}: pinned connection {program.connection!r} disagrees "
            f"with QUEUE_CONNECTION={env_connection!r} in {env_file} as the app resolves it "
            "(with the environment and config/queue.php); the workers would wait "
            "on a connection the app does not dispatch to. Fix the pin or the .env "
            "(then run config:cache if the app caches its config)"
        )
    return program.connection


def resolve_connections(settings: WorkerSettings, env_connection: str | None) -> dict[str, str]:
    """resolve_connection for every program of a host, by program name."""
    return {
        program.name: resolve_connection(program, env_connection, settings.env_file)
        for program in settings.programs
    }


def pinned_connections(host: Host, worker: WorkerSettings) -> dict[str, str]:
    """Each program's pinned connection, for rendering without the host's .env; refuses a
    program that pins none rather than guess."""
    connections: dict[str, str] = {}
    for index, program in enumerate(worker.programs):
        if program.connection is None:
            raise host.error(
                f"queue_worker_programs[{index}].connection",
                f"program {program.name} pins no connection: rendering without contacting "
                "the host cannot read the app's .env, so pin the connection the app uses "
                "(every converge checks the pin against the .env)",
            )
        connections[program.name] = program.connection
    return connections


def render_offline(host: Host, settings: HostSettings) -> dict[str, str]:
    """What `invoke render` writes without contacting the host.

    The platform comes from `os_family` and each connection from its program's pin; with
    either missing this refuses rather than guess.
    """
    platform = offline_platform(host, settings)
    worker = worker_of(settings)
    return render_programs(worker, platform, pinned_connections(host, worker))
