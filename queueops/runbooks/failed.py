"""failed, retry-failed and flush-failed, the operator half: export files, then the host's
queue.failer forgets exactly the exported ids."""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import artisan_user, worker_of
from queueops.plan.changes import host_platform, refuse_if_locked
from queueops.plan.report import HostResult, Status
from queueops.protocol import AppTarget
from queueops.runbooks import host_failed
from queueops.runbooks.audit import audit_entry, audit_warning, write_private
from queueops.runbooks.protocol import FailedRequest
from queueops.transport.agent import holder
from queueops.transport.fleet import HostJob
from queueops.transport.session import HostSession


def app_target(session: HostSession, settings: HostSettings) -> AppTarget:
    """What the agent needs to run the app's PHP as the workers' user."""
    worker = worker_of(settings)
    facts = session.facts(facts_request(worker))
    refuse_if_locked(settings.name, facts)
    platform = host_platform(settings, facts)
    return {
        "app_path": worker.app_path,
        "php": worker.php,
        "user": artisan_user(worker.programs, platform),
    }


class Stores:
    """Which host acts for each failed-job store. Hosts of one app usually share one database,
    so its failed jobs are listed, exported, retried and forgotten once, by the first host
    that reaches it, never once per host (a retry on every host would push each job twice)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, store: Mapping[str, str], host: str) -> str:
        """The host that acts for `store`: `host` if it is the first to ask."""
        with self._lock:
            return self._owners.setdefault(store["id"], host)


def shared(host: str, owner: str, store: Mapping[str, str]) -> HostResult:
    return HostResult(
        host,
        "ok",
        items=[{"item": store["name"], "action": f"shared with {owner}:", "status": "ok",
                "detail": f"{owner} acts for this failed-job store"}],
    )  # fmt: skip


def counted(host: str, count: int, item: str, action: str) -> HostResult:
    """A host's one-row result: changed when `count` jobs were (or would be) acted on."""
    status: Status = "changed" if count else "ok"
    return HostResult(host, status, items=[{"item": item, "action": action, "status": status}])


def _list(session: HostSession, settings: HostSettings) -> FailedRequest:
    app = app_target(session, settings)
    return {"op": "failed_list", "app_path": app["app_path"], "php": app["php"],
            "user": app["user"]}  # fmt: skip


def claim_store(
    session: HostSession, settings: HostSettings, stores: Stores
) -> tuple[FailedRequest, HostResult | None]:
    """The host's request, and its result when another host acts for its failed-job store.
    The store is asked for with the cheap failed_store op, so a host that does not act for it
    never reads its rows."""
    request = _list(session, settings)
    asked: FailedRequest = {**request, "op": "failed_store"}
    store = session.call(host_failed.failed_store_op, asked)["store"]
    owner = stores.claim(store, settings.name)
    return request, None if owner == settings.name else shared(settings.name, owner, store)


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
    write_private(path, [json.dumps(r) + "\n" for r in records])


def failed_list_job(found: dict[str, list[dict[str, Any]]], stores: Stores) -> HostJob:
    """Read every failed job of each host's failed-job store into `found` (read only); a
    store shared by several hosts is read once."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request, other = claim_store(session, settings, stores)
        if other:
            return other
        rows = session.call(host_failed.failed_list, request)["rows"]
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
    out_dir: Path, check: bool, args: Mapping[str, Any], exports: dict[str, Path], stores: Stores
) -> HostJob:
    """Export each failed-job store's jobs to its own file, then forget exactly those."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request, other = claim_store(session, settings, stores)
        if other:
            return other
        rows = session.call(host_failed.failed_list, request)["rows"]
        records = failed_records(settings.name, rows)
        if check or not records:
            return counted(settings.name, len(records), "failed jobs",
                           f"export and forget {len(records)}")  # fmt: skip
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = out_dir / f"failed-{settings.name}-{stamp}.jsonl"
        write_jsonl(path, records)
        exports[settings.name] = path
        forget: FailedRequest = {
            **request,
            "op": "failed_forget",
            "ids": [r["id"] for r in records],
            "holder": holder("flush-failed"),
            "audit": audit_entry("flush-failed", {**args, "export": str(path)}),
        }
        answer = session.call(host_failed.failed_forget, forget)
        gone = len(answer["forgotten"])
        return HostResult(
            settings.name,
            "changed",
            items=[{"item": str(path), "action": f"exported {len(records)}, forgot {gone}, to",
                    "status": "changed"}, *audit_warning(answer, settings.name)],
        )  # fmt: skip

    return job


def retry_failed_job(
    ids: Sequence[str], check: bool, args: Mapping[str, Any], stores: Stores
) -> HostJob:
    """queue:retry once per failed-job store, by the first host that reaches it."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        request, other = claim_store(session, settings, stores)
        if other:
            return other
        if check:
            rows = session.call(host_failed.failed_list, request)["rows"]
            wanted = [r for r in failed_records(settings.name, rows) if not ids or r["id"] in ids]
            return counted(settings.name, len(wanted), "failed jobs", f"queue:retry {len(wanted)}")
        retry: FailedRequest = {
            **request,
            "op": "failed_retry",
            "ids": list(ids),
            "holder": holder("retry-failed"),
            "audit": audit_entry("retry-failed", args),
        }
        answer = session.call(host_failed.failed_retry, retry)
        pushed = answer["pushed"]
        result = counted(
            settings.name, pushed, "back onto their queues", f"pushed {pushed} failed jobs"
        )
        result.items += audit_warning(answer, settings.name)
        return result

    return job
