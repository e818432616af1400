"""The files a host should have, rendered from templates/ and validated settings.

Pure functions: settings, platform and resolved queue connections in, {remote path: content}
out. The queue connection is resolved here too, from the app's .env (read elsewhere) and the
program's pin, because a worker on the wrong connection silently processes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from queueops.errors import QueueopsError
from queueops.inventory import Host, is_plain_name
from queueops.platforms import Platform, platform_for
from queueops.settings import HostSettings, Program, WorkerSettings
from queueops.shell import cmd

# Operators clone the repository, so the templates sit beside the package, not inside it.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
PROGRAM_TEMPLATE = "supervisor/program.conf.j2"


class QueueConnectionError(QueueopsError):
    """A worker's queue connection disagrees with the app's .env, or nothing decides it."""


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        # Supervisor files are not HTML: escaping would corrupt quotes in commands.
        autoescape=False,
        keep_trailing_newline=True,
    )


def managed_header(template: str, comment: str = ";") -> str:
    """First line of every file queueops writes."""
    return f"{comment} Managed by queueops: edits are overwritten. Source: templates/{template}"


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
    template = _environment().get_template(PROGRAM_TEMPLATE)
    files: dict[str, str] = {}
    for program in settings.programs:
        files[platform.program_path(program.name)] = template.render(
            header=managed_header(PROGRAM_TEMPLATE),
            name=program.name,
            command=worker_command(settings, program, connections[program.name]),
            directory=settings.app_path,
            user=program.user or platform.web_user,
            numprocs=program.processes,
            stdout_logfile=f"{settings.log_dir}/{program.name}.log",
            stopwaitsecs=program.stopwaitsecs,
            startsecs=program.startsecs,
        )
    return files


def resolve_connection(program: Program, env_connection: str | None, env_file: str) -> str:
    """The queue connection a program's workers use.

    `env_connection` is QUEUE_CONNECTION from the app's .env (`env_file`); None or "" when unset.
    The .env decides; a pin must agree with it and only stands alone when the .env is silent.
    """
    env_connection = env_connection or None
    if env_connection is not None and not is_plain_name(env_connection):
        raise QueueConnectionError(
            f"program {program.name}: {env_file} sets QUEUE_CONNECTION={env_connection!r}, "
            "which is not a safe connection name"
        )
    if program.connection is None:
        if env_connection is None:
            raise QueueConnectionError(
                f"program {program.name}: no queue connection: {env_file} sets no "
                "QUEUE_CONNECTION and the program pins no `connection`; set one of them"
            )
        return env_connection
    if env_connection is not None and env_connection != program.connection:
        raise QueueConnectionError(
            f"program {program.name}: pinned connection {program.connection!r} disagrees "
            f"with QUEUE_CONNECTION={env_connection!r} in {env_file}; the workers would wait "
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


def render_offline(host: Host, settings: HostSettings) -> dict[str, str]:
    """What `invoke render` writes without contacting the host.

    The platform comes from `os_family` and each connection from its program's pin; with
    either missing this refuses rather than guess.
    """
    if settings.os_family is None:
        raise host.error(
            "os_family",
            "is not set: rendering without contacting the host needs os_family "
            "(debian or redhat) in host_vars or group_vars",
        )
    connections: dict[str, str] = {}
    for index, program in enumerate(settings.worker.programs):
        if program.connection is None:
            raise host.error(
                f"queue_worker_programs[{index}].connection",
                f"program {program.name} pins no connection: rendering without contacting "
                "the host cannot read the app's .env, so pin the connection the app uses "
                "(every converge checks the pin against the .env)",
            )
        connections[program.name] = program.connection
    return render_programs(settings.worker, platform_for(settings.os_family), connections)


def write_tree(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write each remote file under `out_dir` at its path on the host; returns what was written.

    Every path is checked before anything is written, so a bad one leaves no partial tree.
    """
    targets: dict[Path, str] = {}
    for remote, content in sorted(files.items()):
        path = PurePosixPath(remote)
        if not path.is_absolute() or ".." in path.parts:
            raise ValueError(f"not an absolute, normalised remote path: {remote!r}")
        targets[out_dir.joinpath(*path.parts[1:])] = content
    for target, content in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8", newline="")
    return list(targets)
