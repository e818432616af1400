"""clear and restore-jobs, the operator half: the export file is written and fsynced before
anything is deleted, and restore pushes back exactly what the clear removed."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueops.errors import UsageError
from queueops.inventory.host import HostSettings
from queueops.kinds.workers.settings import app_users_of, worker_of
from queueops.plan.report import HostResult, Status
from queueops.protocol import ReportItem
from queueops.runbooks import host_queue_jobs
from queueops.runbooks.audit import audit_entry, audit_warning, now, write_private
from queueops.runbooks.protocol import QueueJob, QueueRequest
from queueops.shell import is_safe_name
from queueops.transport.agent import holder
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession


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
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
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
            write_private(self.path, [json.dumps(r) + "\n" for r in self.records])


def clear_job(
    queue: str,
    connection: str,
    check: bool,
    export: ExportFile | None,
    args: Mapping[str, Any],
) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        worker = worker_of(settings)
        read_request: QueueRequest = {"op": "queue_read", "app_path": worker.app_path,
                                      "php": worker.php, "app_users": app_users_of(worker),
                                      "connection": connection,
                                      "queue": queue, "check": check}  # fmt: skip
        read = session.call(host_queue_jobs.queue_read, read_request)
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
        jobs: list[QueueJob] = [{"state": r["state"], "payload": r["payload"]} for r in records]
        delete: QueueRequest = {
            **read_request,
            "op": "queue_delete",
            "check": False,
            "jobs": jobs,
            "holder": holder("clear"),
            "audit": audit_entry("clear", {**args, "export": str(export.path)}),
        }
        answer = session.call(host_queue_jobs.queue_delete, delete)
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
                              "meanwhile by a worker or another host (not to restore)"},
                   *audit_warning(answer, settings.name)],
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


@dataclass
class RestoredRecord:
    """FILE.restored: which host pushed which queue's jobs back, written (0600, whole) as each
    host answers, so a rerun after a failure pushes only what is left. A record of an older
    queueops (one line of text) says the whole file was restored."""

    path: Path
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    whole: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, export: Path) -> RestoredRecord:
        path = restored_marker(export)
        if not path.exists():
            return cls(path)
        text = path.read_text(encoding="utf-8")
        try:
            doc = json.loads(text)
        except ValueError:
            return cls(path, whole=text.strip())
        if not isinstance(doc, dict) or not isinstance(doc.get("restored"), dict):
            raise UsageError(f"{path}: not a queueops restore record; move it away to go on")
        return cls(path, dict(doc["restored"]))

    def has(self, host: str, queue: str) -> bool:
        return self.whole is not None or queue in self.done.get(host, {})

    def add(self, host: str, queue: str, entry: Mapping[str, Any]) -> None:
        with self._lock:
            self.done.setdefault(host, {})[queue] = dict(entry)
            doc = {"restored": self.done}
            write_private(self.path, [json.dumps(doc, indent=2, sort_keys=True) + "\n"])


def restore_id(host: str, queue: str, jobs: Sequence[QueueJob]) -> str:
    """The key of a restore's marker in Redis: the same export's jobs, whatever copy of the
    file or operator's machine pushes them, get the same one."""
    digest = hashlib.sha256(f"{host}\0{queue}\0".encode())
    for job in jobs:
        digest.update(f"{job['state']}\0{job['payload']}\0".encode())
    return digest.hexdigest()


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
    by_host: Mapping[str, list[dict[str, Any]]],
    check: bool,
    args: Mapping[str, Any],
    record: RestoredRecord,
    again: bool,
) -> HostJob:
    """Each host pushes back its queues' jobs (`by_host`: what FILE.restored does not name yet),
    recording each queue in it as it answers; Redis refuses a second push of the same jobs
    (restore_id) unless --again."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        records = by_host[settings.name]
        queues = {(r["queue"], r.get("connection", "redis")) for r in records}
        results: list[ReportItem] = []
        for queue, connection in sorted(queues):
            check_queue(queue, connection)
            key = f"queues:{queue}"
            jobs: list[QueueJob] = [
                {"state": r["state"], "payload": r["payload"], "score": r.get("score")}
                for r in records
                if r["queue"] == queue
            ]
            if check:
                results.append({"item": key, "action": f"would push {len(jobs)} jobs back to",
                                "status": "changed", "detail": ""})  # fmt: skip
                continue
            worker = worker_of(settings)
            request: QueueRequest = {
                "op": "queue_restore",
                "app_path": worker.app_path,
                "php": worker.php,
                "app_users": app_users_of(worker),
                "connection": connection,
                "queue": queue,
                "jobs": jobs,
                "restore_id": restore_id(settings.name, queue, jobs),
                "force": again,
                "holder": holder("restore-jobs"),
                "audit": audit_entry("restore-jobs", args),
            }
            answer = session.call(host_queue_jobs.queue_restore, request)
            key = answer["keys"][0]
            record.add(settings.name, queue, {"jobs": len(jobs), "pushed": answer["pushed"],
                                              "at": now(), "key": key})  # fmt: skip
            if answer["already"]:
                results.append({"item": key, "action": "already pushed back to", "status": "ok",
                                "detail": answer["summary"]})  # fmt: skip
            else:
                results.append({"item": key, "action": f"pushed {len(jobs)} jobs back to",
                                "status": "changed",
                                "detail": f"{len(jobs)} jobs pushed back"})  # fmt: skip
            results += audit_warning(answer, settings.name)
        status: Status = "changed" if any(r["status"] == "changed" for r in results) else "ok"
        return HostResult(settings.name, status, items=results)

    return job
