"""Incident runbooks, local half: pause/continue, terminate, clear with export, restore-jobs.

Each host's change goes through one agent operation (queueops/agent_runbooks.py) that takes
the host's lock and writes the host's audit line; this side asks for confirmation, writes the
operator's local audit line and the export files.
"""

from __future__ import annotations

import collections
import dataclasses
import getpass
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueops.errors import QueueopsError, UsageError
from queueops.fleet_run import HostJob, backup_dir, holder
from queueops.horizon_plan import horizon_user
from queueops.horizon_settings import HorizonSettings
from queueops.plan import facts_request, host_platform, plan_workers, refuse_if_locked
from queueops.remote import HostSession
from queueops.report import HostResult, RunReport
from queueops.settings import HostSettings, Program
from queueops.shell import is_safe_name
from queueops.workers import apply_request


def state_dir() -> Path:
    """Where the operator's audit log and export files live (XDG state directory)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "queueops"


def local_audit_path() -> Path:
    override = os.environ.get("QUEUEOPS_AUDIT_LOG")
    return Path(override) if override else state_dir() / "audit.log"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def audit_entry(task: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """What every host's and the local audit line share; arguments never carry secrets."""
    return {"operator": getpass.getuser(), "task": task, "args": dict(args)}


def write_local_audit(
    task: str, args: Mapping[str, Any], report: RunReport, extra: Mapping[str, Any] | None = None
) -> None:
    if report.check:
        return
    entry = {
        **audit_entry(task, args),
        "time": now(),
        "result": "failed" if report.failed else "ok",
        "hosts": {h.host: h.error or h.status for h in report.hosts},
        **(extra or {}),
    }
    path = local_audit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def confirm(question: str, yes: bool, check: bool) -> None:
    """Destructive runbooks go on only with --yes or an operator typing `yes` at a terminal."""
    if yes or check:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"{question}: refusing without a terminal to confirm on; pass --yes to go on "
            "(nothing was touched)"
        )
    answer = input(f"{question}\nType yes to go on: ")
    if answer.strip().lower() != "yes":
        raise UsageError("not confirmed; nothing was touched")


def _horizon_request(
    horizon: HorizonSettings, settings: HostSettings, facts: Any
) -> dict[str, Any]:
    return {
        "program": horizon.program_name,
        "php": horizon.php,
        "app_path": horizon.app_path,
        "user": horizon_user(horizon, host_platform(settings, facts)),
    }


def _skip(host: str, reason: str) -> HostResult:
    return HostResult(host, "ok", items=[{"item": reason, "action": "skipped:", "status": "ok",
                                          "detail": reason}])  # fmt: skip


# -- pause, continue, terminate ------------------------------------------------------------


def pause_mode(program: Program) -> dict[str, Any]:
    """How a program is paused. Laravel's worker pauses on SIGUSR2, but a paused worker
    started with --max-time exits at once (up to Laravel 10 it compares max-time with the
    machine's uptime while paused) and supervisord starts it again unpaused: such programs
    are stopped gracefully instead, and `continue` starts them."""
    return {
        "name": program.name,
        "mode": "stop" if program.max_time else "signal",
        "sleep": program.sleep,
        "stop_timeout": program.stopwaitsecs + 10,
    }


def signal_job(
    task: str,
    action: str,
    check: bool,
    horizons: Mapping[str, HorizonSettings],
    args: Mapping[str, Any],
    supervisor_name: str | None = None,
) -> HostJob:
    """pause/continue (all managed workers and Horizon), or one Horizon supervisor."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizons.get(settings.name)
        has_horizon = horizon is not None and horizon.configured
        programs = [] if supervisor_name else [pause_mode(p) for p in settings.worker.programs]
        if not programs and not has_horizon:
            return _skip(settings.name, "no managed worker program and no Horizon here")
        facts = session.agent(facts_request(settings))
        refuse_if_locked(settings.name, facts)
        if not facts["supervisor"]["running"]:
            raise QueueopsError(f"{settings.name}: supervisord is not running: run setup-worker")
        request = {
            "op": "runbook_signal",
            "action": action,
            "check": check,
            "holder": holder(task),
            "audit": audit_entry(task, args),
            "supervisor_config": facts["supervisor"]["config"],
            "programs": programs,
            "horizon": _horizon_request(horizon, settings, facts)
            if horizon and has_horizon
            else None,
            "supervisor_name": supervisor_name,
        }
        answer = session.agent(request)
        return HostResult(settings.name, "changed", items=answer["items"])

    return job


def terminate_job(
    check: bool, horizons: Mapping[str, HorizonSettings], args: Mapping[str, Any]
) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizons.get(settings.name)
        if horizon is None or not horizon.configured:
            return _skip(settings.name, "no Horizon here")
        facts = session.agent(facts_request(settings))
        refuse_if_locked(settings.name, facts)
        if not facts["supervisor"]["running"]:
            raise QueueopsError(f"{settings.name}: supervisord is not running: run setup-horizon")
        timeout = horizon.stopwaitsecs + horizon.status_timeout + 10
        answer = session.agent(
            {
                "op": "runbook_terminate",
                "check": check,
                "holder": holder("terminate"),
                "audit": audit_entry("terminate", args),
                "supervisor_config": facts["supervisor"]["config"],
                "horizon": _horizon_request(horizon, settings, facts),
                "timeout": timeout,
            },
            timeout=timeout + 120,
        )
        return HostResult(settings.name, "changed", items=answer["items"])

    return job


# -- clear and restore-jobs ------------------------------------------------------------------


def check_queue(queue: str, connection: str) -> None:
    if not is_safe_name(queue) or queue.startswith("-"):
        raise UsageError(f"--queue {queue!r} is not a queue name (letters, digits, . _ : -)")
    if connection != "redis":
        raise UsageError(
            f"--connection {connection!r}: clear and restore-jobs work on the redis connection "
            "only (jobs of the database connection are rows of the jobs table)"
        )


def job_uuid(payload: str) -> str | None:
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    value = doc.get("uuid") or doc.get("id") if isinstance(doc, dict) else None
    return str(value) if value else None


@dataclass
class ExportFile:
    """The JSON Lines file of one clear: written and fsynced before anything is deleted."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def new(cls, out_dir: Path, queue: str) -> ExportFile:
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = out_dir / f"clear-{queue}-{stamp}.jsonl"
        suffix = 1
        while path.exists():
            suffix += 1
            path = out_dir / f"clear-{queue}-{stamp}-{suffix}.jsonl"
        path.touch(mode=0o600)
        return cls(path)

    def add(self, host: str, queue: str, read: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Append this host's jobs (removed: null until the delete answers) and fsync."""
        records = [
            {
                "host": host,
                "connection": "redis",
                "queue": queue,
                "endpoint": read["endpoint"],
                "key": read["keys"][0],
                "state": job["state"],
                "score": job["score"],
                "uuid": job_uuid(job["payload"]),
                "payload": job["payload"],
                "removed": None,
            }
            for job in read["jobs"]
        ]
        with self._lock:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in records)
                handle.flush()
                os.fsync(handle.fileno())
            self.records += records
        return records

    def finish(self) -> None:
        """Rewrite the file with each job's `removed` answer (temp file + rename)."""
        with self._lock:
            temp = self.path.with_name(self.path.name + ".tmp")
            with temp.open("w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in self.records)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)


def clear_job(
    queue: str,
    connection: str,
    check: bool,
    export: ExportFile | None,
    args: Mapping[str, Any],
) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        base = {"app_path": settings.worker.app_path, "connection": connection, "queue": queue}
        read = session.agent({"op": "queue_read", **base, "check": check})
        counts = read["counts"]
        total = sum(counts.values())
        detail = ", ".join(f"{n} {state}" for state, n in counts.items())
        if check or total == 0 or export is None:
            return HostResult(
                settings.name,
                "changed" if total else "ok",
                items=[{"item": read["keys"][0], "action": f"export and delete {detail} from",
                        "status": "changed" if total else "ok",
                        "detail": f"{detail} at {read['endpoint']}"}],
            )  # fmt: skip
        records = export.add(settings.name, queue, read)
        jobs = [{"state": r["state"], "payload": r["payload"]} for r in records]
        answer = session.agent(
            {
                **base,
                "op": "queue_delete",
                "jobs": jobs,
                "holder": holder("clear"),
                "audit": audit_entry("clear", {**args, "export": str(export.path)}),
            }
        )
        for record, removed in zip(records, answer["removed"], strict=True):
            record["removed"] = removed
        gone = sum(answer["removed"])
        return HostResult(
            settings.name,
            "changed" if gone else "ok",
            items=[{"item": read["keys"][0],
                    "action": f"exported {detail}, deleted {gone} of them, from",
                    "status": "changed" if gone else "ok",
                    "detail": f"exported {detail}; deleted {gone}; {total - gone} were taken "
                              "meanwhile by a worker or another host (not to restore)"}],
        )  # fmt: skip

    return job


def read_export(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"{path}: no such export file")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{number}: not a JSON line of a queueops export") from None
        if not isinstance(record, dict) or not {"host", "queue", "state", "payload"} <= set(record):
            raise UsageError(f"{path}:{number}: not a record of a queueops export")
        records.append(record)
    return records


def restored_marker(path: Path) -> Path:
    return path.with_name(path.name + ".restored")


def restore_plan(
    records: Sequence[dict[str, Any]],
) -> tuple[dict[str, list[dict[str, Any]]], int, int]:
    """Jobs to push back by host; and how many were not removed / not confirmed removed."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    skipped = unconfirmed = 0
    for record in records:
        if record.get("removed") is True:
            by_host.setdefault(record["host"], []).append(record)
        elif record.get("removed") is False:
            skipped += 1
        else:
            unconfirmed += 1
    return by_host, skipped, unconfirmed


def restore_job(
    by_host: Mapping[str, list[dict[str, Any]]], check: bool, args: Mapping[str, Any]
) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        records = by_host[settings.name]
        queues = {(r["queue"], r.get("connection", "redis")) for r in records}
        results = []
        for queue, connection in sorted(queues):
            check_queue(queue, connection)
            jobs = [
                {"state": r["state"], "payload": r["payload"], "score": r.get("score")}
                for r in records
                if r["queue"] == queue
            ]
            key = f"queues:{queue}"
            if not check:
                answer = session.agent(
                    {
                        "op": "queue_restore",
                        "app_path": settings.worker.app_path,
                        "connection": connection,
                        "queue": queue,
                        "jobs": jobs,
                        "holder": holder("restore-jobs"),
                        "audit": audit_entry("restore-jobs", args),
                    }
                )
                key = answer["keys"][0]
            verb = "would push" if check else "pushed"
            results.append({"item": key, "action": f"{verb} {len(jobs)} jobs back to",
                            "status": "changed",
                            "detail": f"{len(jobs)} jobs pushed back"})  # fmt: skip
        return HostResult(settings.name, "changed", items=results)

    return job


# -- fallback to the database queue and back -------------------------------------------------

DRAIN_TIMEOUT = 600


def horizon_queues(horizon: HorizonSettings) -> list[str]:
    queues: list[str] = []
    for _, supervisors in horizon.environments:
        for sup in supervisors:
            queues += [q for q in sup.queue if q not in queues]
    return queues


def horizon_fallback_program(horizon: HorizonSettings) -> Program:
    """Plain workers for Horizon's queues while Horizon is stopped (it cannot run without
    Redis): as many processes as Horizon's largest environment, on the app's connection."""
    supervisors = [s for _, sups in horizon.environments for s in sups]
    return Program(
        name=f"{horizon.program_name}-fallback",
        queues=tuple(horizon_queues(horizon)),
        connection=None,
        processes=max(sum(s.max_processes for s in sups) for _, sups in horizon.environments),
        sleep=3,
        tries=max(1, *(s.tries for s in supervisors)),
        max_time=0,
        timeout=max(s.timeout for s in supervisors),
        memory=None,
        backoff=(),
        user=horizon.user,
        stopwaitsecs=horizon.stopwaitsecs,
        startsecs=1,
    )


def fallback_job(
    task: str,
    target: str,
    check: bool,
    horizons: Mapping[str, HorizonSettings],
    args: Mapping[str, Any],
) -> HostJob:
    """fallback-to-database (target database) or restore-redis (target redis) on one host."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        horizon = horizons.get(settings.name)
        if horizon is not None and not horizon.configured:
            horizon = None
        worker = settings.worker
        if not worker.programs and horizon is None:
            return _skip(settings.name, "no managed worker program and no Horizon here")
        facts = session.agent(facts_request(settings))
        refuse_if_locked(settings.name, facts)
        platform = host_platform(settings, facts)
        users = sorted({p.user or platform.web_user for p in worker.programs})
        base: dict[str, Any] = {
            "target": target,
            "app_path": worker.app_path,
            "php": worker.php,
            # artisan writes the app's cache and logs: as the workers' user, never as root.
            "user": users[0] if users else horizon_user(horizon, platform) if horizon else "",
            "supervisor_config": facts["supervisor"]["config"] or platform.supervisor_config,
            "horizon": (
                {"program": horizon.program_name, "stop_timeout": horizon.stopwaitsecs + 10}
                if horizon
                else None
            ),
            "holder": holder(task),
            "audit": audit_entry(task, args),
        }
        prepared = session.agent(
            {**base, "op": "fallback_prepare", "check": check, "backup_dir": backup_dir(task)},
            timeout=(horizon.stopwaitsecs if horizon else 0) + 300,
        )
        items: list[dict[str, str]] = prepared["items"]
        # The programs again, rendered on the connection .env names now.
        programs = worker.programs
        if target == "database" and horizon is not None:
            programs = (*programs, horizon_fallback_program(horizon))
        now = dataclasses.replace(settings, worker=dataclasses.replace(worker, programs=programs))
        facts = session.agent(facts_request(now))
        if check:
            # What the apply would see once .env names the target connection.
            wanted = target if target == "database" else "redis"
            cached = facts["app"].get("cached_queue_connection")
            facts["app"] = {**facts["app"], "queue_connection": wanted,
                            "cached_queue_connection": wanted if cached else None}  # fmt: skip
            if horizon is not None and target == "database":
                items.append({"item": f"program {horizon.program_name}", "action": "stop",
                              "status": "changed"})  # fmt: skip
            items += plan_workers(now, facts).items()
            items.append({"item": "the other connection", "action": "queue:restart, drain",
                          "status": "changed"})  # fmt: skip
            return HostResult(settings.name, "changed", items=items)
        plan = plan_workers(now, facts)
        if plan.changed:
            request = apply_request(plan, now)
            request["holder"] = holder(task)
            session.agent(request)
            items += plan.items()
        queues = [q for p in programs for q in p.queues]
        queues += horizon_queues(horizon) if horizon else []
        finished = session.agent(
            {
                **base,
                "op": "fallback_finish",
                "queues": list(dict.fromkeys(queues)),
                "tries": max((p.tries for p in programs), default=3),
                "timeout": max((p.timeout for p in programs), default=60),
                "drain_timeout": DRAIN_TIMEOUT,
            },
            timeout=DRAIN_TIMEOUT + 300,
        )
        return HostResult(settings.name, "changed", items=items + finished["items"])

    return job


# -- failed jobs -----------------------------------------------------------------------------


def _app_request(session: HostSession, settings: HostSettings) -> dict[str, Any]:
    """What the agent needs to run the app's PHP as the workers' user."""
    facts = session.agent(facts_request(settings))
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    users = sorted({p.user or platform.web_user for p in settings.worker.programs})
    return {
        "app_path": settings.worker.app_path,
        "php": settings.worker.php,
        "user": users[0] if users else platform.web_user,
    }


def failed_class(row: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(row.get("payload") or "{}").get("displayName", "?"))
    except ValueError:
        return "?"


def failed_records(host: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "host": host,
            "id": str(row.get("uuid") or row.get("id")),
            "connection": row.get("connection"),
            "queue": row.get("queue"),
            "class": failed_class(row),
            "failed_at": row.get("failed_at"),
            "payload": row.get("payload"),
            "exception": row.get("exception"),
        }
        for row in rows
    ]


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Write (temp file + fsync + rename, mode 0600): the file is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def failed_list_job(found: dict[str, list[dict[str, Any]]]) -> HostJob:
    """Read every failed job of each host's app into `found` (read only)."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request = _app_request(session, settings)
        rows = session.agent({**request, "op": "failed_list"})["rows"]
        found[settings.name] = failed_records(settings.name, rows)
        queues = collections.Counter(str(r["queue"]) for r in found[settings.name])
        detail = ", ".join(f"{n} on {q}" for q, n in sorted(queues.items())) or "none"
        return HostResult(
            settings.name,
            "ok",
            items=[{"item": detail, "action": f"{len(rows)} failed jobs:", "status": "ok"}],
        )

    return job


def flush_failed_job(
    out_dir: Path, check: bool, args: Mapping[str, Any], exports: dict[str, Path]
) -> HostJob:
    """Export each host's failed jobs to its own file, then forget exactly those."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request = _app_request(session, settings)
        rows = session.agent({**request, "op": "failed_list"})["rows"]
        records = failed_records(settings.name, rows)
        if check or not records:
            return HostResult(
                settings.name,
                "changed" if records else "ok",
                items=[{"item": "failed jobs", "action": f"export and forget {len(records)}",
                        "status": "changed" if records else "ok"}],
            )  # fmt: skip
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = out_dir / f"failed-{settings.name}-{stamp}.jsonl"
        write_jsonl(path, records)
        exports[settings.name] = path
        answer = session.agent(
            {
                **request,
                "op": "failed_forget",
                "ids": [r["id"] for r in records],
                "holder": holder("flush-failed"),
                "audit": audit_entry("flush-failed", {**args, "export": str(path)}),
            }
        )
        gone = len(answer["forgotten"])
        return HostResult(
            settings.name,
            "changed",
            items=[{"item": str(path), "action": f"exported {len(records)}, forgot {gone}, to",
                    "status": "changed"}],
        )  # fmt: skip

    return job


def retry_failed_job(ids: Sequence[str], check: bool, args: Mapping[str, Any]) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request = _app_request(session, settings)
        if check:
            rows = session.agent({**request, "op": "failed_list"})["rows"]
            wanted = [r for r in failed_records(settings.name, rows) if not ids or r["id"] in ids]
            return HostResult(
                settings.name,
                "changed" if wanted else "ok",
                items=[{"item": "failed jobs", "action": f"queue:retry {len(wanted)}",
                        "status": "changed" if wanted else "ok"}],
            )  # fmt: skip
        answer = session.agent(
            {
                **request,
                "op": "failed_retry",
                "ids": list(ids),
                "holder": holder("retry-failed"),
                "audit": audit_entry("retry-failed", args),
            }
        )
        pushed = answer["pushed"]
        return HostResult(
            settings.name,
            "changed" if pushed else "ok",
            items=[{"item": "back onto their queues", "action": f"pushed {pushed} failed jobs",
                    "status": "changed" if pushed else "ok"}],
        )  # fmt: skip

    return job
