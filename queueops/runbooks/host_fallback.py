"""fallback-to-database and restore-redis on the host: the .env switch, config:cache, Horizon
stopped and started, and the other connection drained by a --stop-when-empty worker."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time

from queueops.agent.common import AgentError, atomic_write, read_text, sha256
from queueops.agent.laravel import (
    app_connections,
    artisan,
    artisan_ok,
    as_app_user,
    config_cache_path,
    set_env,
)
from queueops.agent.redis_client import app_redis
from queueops.agent.safe_files import UnsafePath, own_directory, read_file
from queueops.agent.supervisor import start_group, supervisor_proxy, wait_stopped
from queueops.agent.supervisor_state import STOPPED_STATES
from queueops.agent.transaction import restore_changes, write_changes
from queueops.runbooks.host_audit import audited
from queueops.runbooks.protocol import FALLBACK_STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.protocol import ReportItem
    from queueops.runbooks.protocol import FallbackPrepared, FallbackRequest, RunbookAnswer

SQLITE_WARNING = (
    "concurrent workers get 'database is locked'; a job whose row a worker could not delete "
    "after running it is run again after retry_after"
)


# A missing table, as each server reports it: SQLite's words, and the SQLSTATE of MySQL and
# MariaDB (42S02) and of PostgreSQL (42P01).
MISSING_TABLE = ("nosuchtable", "SQLSTATE[42S02]", "SQLSTATE[42P01]")


def missing_table(output: str) -> bool:
    """Whether artisan's error says a table is missing. Its error box is wrapped at 80
    columns, mid-word too (MariaDB's "doesn'" and "t exist" on two lines), so the output
    is read with every space and line break taken out."""
    joined = "".join(output.split())
    return any(sign in joined for sign in MISSING_TABLE)


def jobs_table_check(request: FallbackRequest) -> None:
    """`queue:monitor database:default` counts rows of the jobs table: it fails without it."""
    code, out = artisan(request, "queue:monitor", "database:default", timeout=60)
    if code != 0:
        reason = " ".join(out.split())[-300:]
        if missing_table(out):
            reason = "the jobs table is missing"
        raise AgentError(
            f"the database queue cannot work here: {reason}; run `php artisan queue:table && "
            "php artisan migrate --force` (make:queue-table on Laravel 11+) in the app, then "
            "try again — nothing was changed"
        )


def fallback_marker(path: str = FALLBACK_STATE) -> dict[str, Any] | None:
    """The fallback marker (None: no fallback); one that cannot be read counts as active."""
    text = read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"active": True, "path": path, "raw": text[:200]}
    state = data if isinstance(data, dict) else {"value": data}
    return {"active": bool(state.get("active", True)), "path": path, **state}


def intended(
    request: FallbackRequest, state: dict[str, Any] | None, current: str | None, cached: bool
) -> dict[str, Any]:
    """The fallback's record: what the app had before the first try (its connection, whether
    its config was cached), kept as it is by every later try."""
    if state is not None:
        if "from" not in state:
            raise AgentError(
                f"{state['path']} does not say which connection the app had before the "
                'fallback: fix it ("from": "redis") or remove it, then run again'
            )
        return {k: v for k, v in state.items() if k != "path"}
    return {
        "active": True,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "operator": request["audit"]["operator"],
        "from": current,
        "config_cached": cached,
        "horizon_stopped": False,
    }


def write_marker(record: dict[str, Any]) -> dict[str, Any]:
    """Write the fallback marker where only root can write (0600 in a 0700 directory)."""
    directory = os.path.dirname(FALLBACK_STATE)
    found, what = own_directory(directory)
    if what or found.st_mode & 0o022:
        raise AgentError(
            f"{directory} is not a directory only root can write to: fix its owner and "
            "mode (root, 0700) before queueops records a fallback in it"
        )
    atomic_write(FALLBACK_STATE, json.dumps(record, indent=2) + "\n", 0o600)
    return {**record, "path": FALLBACK_STATE}


def fallback_prepare(request: FallbackRequest) -> FallbackPrepared:
    """Preflight, then QUEUE_CONNECTION in .env (backed up), config:cache, Horizon stopped."""
    target = request["target"]
    env_path = os.path.join(request["app_path"], ".env")

    def work() -> FallbackPrepared:
        items: list[ReportItem] = []
        # Read as it is written: a FIFO, a device or a hard link the app's user planted as
        # .env is refused, not read by root.
        try:
            found_env = read_file(env_path, follow_link=True)
        except UnsafePath as exc:
            raise AgentError(str(exc)) from None
        if found_env is None:
            raise AgentError(f"cannot read {env_path}")
        env_bytes = found_env[0]
        env_text = env_bytes.decode(errors="replace")
        current, database_driver = app_connections(request)
        state = found = fallback_marker()
        if target == "database":
            jobs_table_check(request)
            if database_driver == "sqlite":
                items.append({"item": "the database queue is on SQLite", "action": "warning:",
                              "status": "ok", "detail": SQLITE_WARNING})  # fmt: skip
        else:
            client, public = app_redis(request["app_path"], request["php"], request["user"])
            client.close()
            items.append({"item": public["endpoint"], "action": "reached Redis at",
                          "status": "ok", "detail": ""})  # fmt: skip
        wanted = target if target == "database" else (state or {}).get("from") or "redis"
        cache = config_cache_path(request["app_path"])
        cached = os.path.exists(cache)
        if request.get("check"):
            items.append({"item": env_path, "action": f"set QUEUE_CONNECTION={wanted} in",
                          "status": "changed", "detail": f"now {current}"})  # fmt: skip
            return {"items": items, "summary": ""}
        if target == "database":
            # The intent, before anything changes: a rerun or restore-redis after a step
            # failed reads what the app had before the first try, not a half-switched state.
            state = write_marker(intended(request, state, current, cached))
        if current != wanted:
            after = set_env(env_text, "QUEUE_CONNECTION", wanted)
            change = {"path": env_path, "before": sha256(env_bytes).hexdigest(), "after": after,
                      "follow_link": True}  # fmt: skip
            written = write_changes([change], request["backup_dir"], request["backups_keep"])
            # An app whose config/queue.php reads another variable ignores the edit: its jobs
            # would go on to the old connection while the workers leave it.
            resolved = app_connections(request)[0]
            if resolved != wanted:
                restore_changes(written)
                if found is None and target == "database":
                    os.remove(FALLBACK_STATE)
                raise AgentError(
                    f"{env_path}: with QUEUE_CONNECTION={wanted} the app still resolves its "
                    f"queue connection to {resolved!r} (its config/queue.php does not read "
                    "QUEUE_CONNECTION); .env put back, nothing changed: set the variable "
                    "config/queue.php reads instead"
                )
            action = f"QUEUE_CONNECTION {current} -> {wanted} in"
            detail = f"backup {change.get('backup')}"
            items.append({"item": env_path, "action": action, "status": "changed",
                          "detail": detail})  # fmt: skip
        # A config:cache that failed half-way leaves no cache: the marker says there was one.
        if cached or (state or {}).get("config_cached"):
            artisan_ok(request, "config:cache")
            items.append({"item": "config cache", "action": "rebuilt", "status": "changed",
                          "detail": ""})  # fmt: skip
        horizon = request.get("horizon")
        if target == "database" and horizon:
            proxy = supervisor_proxy(request["supervisor_config"])
            info = [i for i in proxy.supervisor.getAllProcessInfo()
                    if i["group"] == horizon["program"]]  # fmt: skip
            running = bool(info) and info[0]["statename"] not in STOPPED_STATES
            if running and state and not state.get("horizon_stopped"):
                # Recorded before the stop: restore-redis starts Horizon again even when the
                # stop itself was cut off.
                state = write_marker({**state, "horizon_stopped": True})
            if running:
                proxy.supervisor.stopProcessGroup(horizon["program"], False)
                wait_stopped(proxy, horizon["program"], horizon["stop_timeout"])
                items.append({"item": f"program {horizon['program']}",
                              "action": "stopped Horizon", "status": "changed",
                              "detail": "it needs Redis"})  # fmt: skip
        summary = "; ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary, "state": found}

    return audited(request, work)


def drain(request: FallbackRequest, connection: str) -> ReportItem:
    """A `queue:work CONNECTION --stop-when-empty` worker over the host's queues; on timeout it
    gets SIGTERM (it finishes its job and exits), and what is left stays queued."""
    as_user, env = as_app_user(request["user"], request["app_path"])
    argv = [
        *as_user, request["php"],
        os.path.join(request["app_path"], "artisan"), "queue:work", connection,
        "--queue=" + ",".join(request["queues"]), "--stop-when-empty", "--sleep=0",
        f"--tries={request['tries']}", f"--timeout={request['timeout']}",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=request["app_path"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _, err = proc.communicate(timeout=request["drain_timeout"])
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate(timeout=request["timeout"] + 15)
        raise AgentError(
            f"draining {connection} did not finish in {request['drain_timeout']} s; the rest "
            "stays queued (run the runbook again to drain it)"
        ) from None
    if proc.returncode != 0:
        raise AgentError(f"draining {connection} exited {proc.returncode}: {err.decode()[-300:]}")
    took = time.monotonic() - start
    return {"item": f"{connection} queues {','.join(request['queues'])}",
            "action": "drained", "status": "changed", "detail": f"{took:.1f} s"}  # fmt: skip


LEFT_NOTE = (
    "reserved rows the drain cannot take: jobs a worker is running or stopped in, or ran but "
    "could not delete (see the app's log); each is run again after retry_after by a database "
    "worker"
)


def database_left(request: FallbackRequest) -> int:
    """Rows still in the jobs table for the host's queues (`queue:monitor` counts them all)."""
    queues = ",".join(f"database:{q}" for q in request["queues"])
    code, out = artisan(request, "queue:monitor", queues, timeout=120)
    if code != 0:
        return 0
    total = 0
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] == "database" and cells[2].isdigit():
            total += int(cells[2])
    return total


def fallback_finish(request: FallbackRequest) -> RunbookAnswer:
    """queue:restart, Horizon back after a fallback, and the other connection drained."""
    target = request["target"]

    def work() -> RunbookAnswer:
        items: list[ReportItem] = []
        artisan_ok(request, "queue:restart")
        items.append({"item": "workers", "action": "queue:restart", "status": "changed",
                      "detail": ""})  # fmt: skip
        horizon = request.get("horizon")
        state = fallback_marker() or {}
        if target == "redis" and horizon and state.get("horizon_stopped"):
            proxy = supervisor_proxy(request["supervisor_config"])
            start_group(proxy, horizon["program"])
            items.append({"item": f"program {horizon['program']}", "action": "started Horizon",
                          "status": "changed", "detail": ""})  # fmt: skip
        if target == "database":
            try:
                client, _ = app_redis(request["app_path"], request["php"], request["user"])
                client.close()
                reachable = True
            except AgentError as exc:
                reachable = False
                items.append({"item": "redis", "action": "not drained:", "status": "ok",
                              "detail": str(exc)})  # fmt: skip
            if reachable:
                items.append(drain(request, "redis"))
        else:
            items.append(drain(request, "database"))
            left = database_left(request)
            if left:
                items.append({"item": f"{left} rows in the jobs table", "action": "left:",
                              "status": "ok", "detail": LEFT_NOTE})  # fmt: skip
            with contextlib.suppress(FileNotFoundError):
                os.remove(FALLBACK_STATE)
        summary = "; ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary}

    return audited(request, work)


OPERATIONS: dict[str, Operation] = {
    "fallback_prepare": fallback_prepare,
    "fallback_finish": fallback_finish,
}
