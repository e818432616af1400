"""The host side of the incident runbooks: pause/continue, terminate, and a queue's jobs in Redis.

Every operation that changes something takes the host's lock and appends one audit line to
AUDIT_LOG on the host (operator, time, task, arguments, result). `check` requests only look.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from queueops.agent import (
    OPERATIONS,
    RUNNING,
    AgentError,
    RedisClient,
    RedisReply,
    artisan,
    atomic_write,
    env_value,
    host_lock,
    lock_holder,
    read_text,
    running_pid,
    sha256_file,
    start_group,
    supervisor_proxy,
    write_changes,
)

# -- sent to hosts from here --

AUDIT_LOG = "/var/log/queueops/audit.log"
SIGNALS = {"pause": "USR2", "continue": "CONT"}


def audit_write(entry: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(AUDIT_LOG), exist_ok=True)
    fd = os.open(AUDIT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def audited(request: dict[str, Any], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` under the host lock and audit its result; a check runs it without either."""
    if request.get("check"):
        return work()
    entry = {
        **request["audit"],
        "host": socket.gethostname(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with host_lock(request["holder"]):
        try:
            answer = work()
        except (AgentError, OSError, RedisReply, xmlrpc.client.Error) as exc:
            reason = exc.faultString if isinstance(exc, xmlrpc.client.Fault) else str(exc)
            audit_write({**entry, "result": "failed", "error": reason})
            raise AgentError(reason) from None
        audit_write({**entry, "result": "ok", "summary": answer.get("summary", "")})
    return answer


# -- pause, continue, terminate -------------------------------------------------------------


STOPPED_STATES = ("STOPPED", "EXITED", "FATAL")


def _wait_stopped(proxy: Any, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        procs = [i for i in proxy.supervisor.getAllProcessInfo() if i["group"] == name]
        if all(p["statename"] in STOPPED_STATES for p in procs):
            return
        if time.monotonic() > deadline:
            raise AgentError(f"program {name} did not stop within {timeout:.0f} s")
        time.sleep(0.2)


def _pause_program(proxy: Any, program: dict[str, Any], procs: list[dict[str, Any]]) -> str:
    """SIGUSR2, then proof the workers are still the same processes; or a graceful stop."""
    name = program["name"]
    if program["mode"] == "stop":
        proxy.supervisor.stopProcessGroup(name, False)
        _wait_stopped(proxy, name, program["stop_timeout"])
        return "stopped (each worker finished its job)"
    before = {p["name"]: p["pid"] for p in procs if p["statename"] == RUNNING}
    proxy.supervisor.signalProcessGroup(name, "USR2")
    # A worker reads the flag after its current job or its empty-queue sleep.
    time.sleep(program["sleep"] + 1.5)
    after = {
        i["name"]: i["pid"] for i in proxy.supervisor.getAllProcessInfo() if i["group"] == name
    }
    gone = sorted(n for n, pid in before.items() if after.get(n) != pid)
    if gone:
        raise AgentError(
            f"program {name}: {', '.join(gone)} exited on SIGUSR2 instead of pausing, and "
            "supervisord started it again unpaused"
        )
    return f"SIGUSR2 to {len(before)} workers, still the same pids"


def runbook_signal(request: dict[str, Any]) -> dict[str, Any]:
    """Pause or continue managed worker programs through supervisord (SIGUSR2/SIGCONT, or a
    graceful stop/start where a paused worker would exit); horizon:pause/continue (or the
    -supervisor variants) on a Horizon host."""
    action = request["action"]
    check = bool(request.get("check"))

    def work() -> dict[str, Any]:
        items: list[dict[str, str]] = []
        proxy = supervisor_proxy(request["supervisor_config"])
        infos = proxy.supervisor.getAllProcessInfo()
        for program in request["programs"]:
            name = program["name"]
            procs = [i for i in infos if i["group"] == name]
            if not procs:
                raise AgentError(f"program {name} is not loaded in supervisord: run setup-worker")
            stopped = all(p["statename"] in STOPPED_STATES for p in procs)
            if action == "pause":
                how = "stop" if program["mode"] == "stop" else "SIGUSR2"
                detail = "already stopped" if stopped else ""
                if not check and not stopped:
                    detail = _pause_program(proxy, program, procs)
            else:
                how = "start" if stopped else "SIGCONT"
                detail = f"{len(procs)} processes"
                if not check and stopped:
                    start_group(proxy, name)
                elif not check:
                    proxy.supervisor.signalProcessGroup(name, "CONT")
            items.append(
                {"item": f"program {name}", "action": how, "status": "changed", "detail": detail}
            )
        horizon = request.get("horizon")
        if horizon:
            if running_pid(proxy, horizon["program"]) is None:
                raise AgentError(
                    f"Horizon (program {horizon['program']}) is not running: nothing to {action}"
                )
            args = [f"horizon:{action}"]
            if request.get("supervisor_name"):
                args = [f"horizon:{action}-supervisor", request["supervisor_name"]]
            detail = ""
            if not check:
                code, output = artisan(horizon, *args, timeout=60)
                if code != 0:
                    raise AgentError(f"{' '.join(args)} exited {code}: {output[-300:]}")
                detail = " ".join(output.split())[-120:]
            items.append(
                {"item": "horizon", "action": " ".join(args), "status": "changed",
                 "detail": detail}
            )  # fmt: skip
        summary = ", ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary}

    return audited(request, work)


def runbook_terminate(request: dict[str, Any]) -> dict[str, Any]:
    """horizon:terminate, then proof: supervisord runs a new master and horizon:status agrees."""
    horizon = request["horizon"]

    def work() -> dict[str, Any]:
        proxy = supervisor_proxy(request["supervisor_config"])
        old = running_pid(proxy, horizon["program"])
        if old is None:
            raise AgentError(f"Horizon (program {horizon['program']}) is not running")
        if request.get("check"):
            return {"items": [{"item": "horizon", "action": "terminate", "status": "changed",
                               "detail": f"master pid {old}"}], "summary": ""}  # fmt: skip
        code, output = artisan(horizon, "horizon:terminate", timeout=60)
        if code != 0:
            raise AgentError(f"horizon:terminate exited {code}: {output[-300:]}")
        deadline = time.monotonic() + request["timeout"]
        last = "the old master is still finishing its jobs"
        while True:
            pid = running_pid(proxy, horizon["program"])
            if pid is not None and pid != old:
                code, status = artisan(horizon, "horizon:status", timeout=60)
                if code == 0:
                    break
                last = f"horizon:status says: {' '.join(status.split())[-200:]}"
            if time.monotonic() > deadline:
                raise AgentError(
                    f"supervisord did not bring Horizon back within {request['timeout']} s: {last}"
                )
            time.sleep(0.3)
        detail = f"master pid {old} -> {pid}"
        return {
            "items": [
                {"item": "horizon", "action": "terminate", "status": "changed", "detail": detail}
            ],
            "summary": detail,
        }

    return audited(request, work)


# -- a queue's jobs in Redis ----------------------------------------------------------------

READ_SCRIPT = """
return {redis.call('lrange', KEYS[1], 0, -1),
        redis.call('zrange', KEYS[2], 0, -1, 'WITHSCORES'),
        redis.call('zrange', KEYS[3], 0, -1, 'WITHSCORES')}
"""
# ARGV: state, payload pairs. Removes exactly these members; 1/0 for each.
DELETE_SCRIPT = """
local out = {}
for i = 1, #ARGV, 2 do
  local state, payload = ARGV[i], ARGV[i + 1]
  local n = 0
  if state == 'ready' then
    n = redis.call('lrem', KEYS[1], 1, payload)
    if n > 0 then redis.call('lpop', KEYS[4]) end
  elseif state == 'delayed' then
    n = redis.call('zrem', KEYS[2], payload)
  else
    n = redis.call('zrem', KEYS[3], payload)
  end
  out[#out + 1] = n
end
return out
"""
# ARGV: state, payload, score triples. As Laravel pushes: list + notify, or the delayed set.
RESTORE_SCRIPT = """
local n = 0
for i = 1, #ARGV, 3 do
  if ARGV[i] == 'delayed' then
    redis.call('zadd', KEYS[2], ARGV[i + 2], ARGV[i + 1])
  else
    redis.call('rpush', KEYS[1], ARGV[i + 1])
    redis.call('rpush', KEYS[4], 1)
  end
  n = n + 1
end
return n
"""


def laravel_slug(text: str, separator: str = "_") -> str:
    """Str::slug for ASCII names, as Laravel derives the Redis prefix from APP_NAME."""
    flip = "_" if separator == "-" else "-"
    text = text.replace(flip, separator).replace("@", separator + "at" + separator).lower()
    kept = "".join(
        c for c in text if c == separator or c.isspace() or (c.isascii() and c.isalnum())
    )
    out: list[str] = []
    for char in kept:
        if char == separator or char.isspace():
            if out and out[-1] != separator:
                out.append(separator)
        else:
            out.append(char)
    return "".join(out).strip(separator)


def redis_settings_from_env(env_text: str) -> dict[str, Any]:
    """The app's `default` Redis connection as config/database.php reads it from .env."""

    def value(key: str) -> str | None:
        found = env_value(env_text, key)
        return None if found is None or found.lower() in ("null", "(null)") else found

    prefix = env_value(env_text, "REDIS_PREFIX")
    if prefix is None:
        prefix = laravel_slug(value("APP_NAME") or "laravel") + "_database_"
    return {
        "host": value("REDIS_HOST") or "127.0.0.1",
        "port": int(value("REDIS_PORT") or "6379"),
        "db": value("REDIS_DB") or "0",
        "password": value("REDIS_PASSWORD") or None,
        "username": value("REDIS_USERNAME") or None,
        "prefix": prefix,
    }


def queue_keys(prefix: str, queue: str) -> list[str]:
    base = f"{prefix}queues:{queue}"
    return [base, f"{base}:delayed", f"{base}:reserved", f"{base}:notify"]


def app_redis(request: dict[str, Any]) -> tuple[RedisClient, dict[str, Any]]:
    """A connection to the app's queue Redis, authenticated with the .env password (which is
    never returned, logged or put on a command line)."""
    if request["connection"] != "redis":
        raise AgentError(
            f"only the redis queue connection is supported, not {request['connection']}"
        )
    env_path = os.path.join(request["app_path"], ".env")
    env_text = read_text(env_path)
    if env_text is None:
        raise AgentError(f"cannot read {env_path}")
    conf = redis_settings_from_env(env_text)
    where = f"{conf['host']}:{conf['port']}/{conf['db']}"
    try:
        client = RedisClient(conf["host"], conf["port"])
    except OSError as exc:
        raise AgentError(f"cannot reach Redis at {where}: {exc.strerror or exc}") from None
    try:
        if conf["password"] is not None:
            user = [conf["username"]] if conf["username"] else []
            client.call("AUTH", *user, conf["password"])
        client.call("SELECT", conf["db"])
    except RedisReply as exc:
        client.close()
        raise AgentError(f"Redis at {where} refused REDIS_PASSWORD of {env_path}: {exc}") from None
    except OSError as exc:
        client.close()
        raise AgentError(f"cannot talk to Redis at {where}: {exc.strerror or exc}") from None
    public = {"endpoint": where, "prefix": conf["prefix"]}
    public["keys"] = queue_keys(conf["prefix"], request["queue"])
    return client, public


def _pairs(flat: list[str]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def queue_read(request: dict[str, Any]) -> dict[str, Any]:
    """Every job of the queue (ready list, delayed and reserved sets) in one atomic read."""
    other = None if request.get("check") else lock_holder()
    if other:
        # Refused before anything is exported: the delete that follows would be refused too.
        raise AgentError(
            f"locked by another queueops run: {other.get('task', '?')} by "
            f"{other.get('operator', '?')} since {other.get('since', '?')}; nothing was exported"
        )
    client, public = app_redis(request)
    try:
        ready, delayed, reserved = client.call("EVAL", READ_SCRIPT, "3", *public["keys"][:3])
    except (RedisReply, OSError) as exc:
        raise AgentError(f"Redis at {public['endpoint']}: {exc}") from None
    finally:
        client.close()
    jobs = [{"state": "ready", "payload": p, "score": None} for p in ready]
    jobs += [{"state": "delayed", "payload": p, "score": s} for p, s in _pairs(delayed)]
    jobs += [{"state": "reserved", "payload": p, "score": s} for p, s in _pairs(reserved)]
    counts = {"ready": len(ready), "delayed": len(delayed) // 2, "reserved": len(reserved) // 2}
    if request.get("check"):
        jobs = []
    return {**public, "jobs": jobs, "counts": counts}


def queue_delete(request: dict[str, Any]) -> dict[str, Any]:
    """Remove exactly the exported members, atomically; a job pushed since stays."""

    def work() -> dict[str, Any]:
        client, public = app_redis(request)
        try:
            args = [x for job in request["jobs"] for x in (job["state"], job["payload"])]
            removed = (
                client.call("EVAL", DELETE_SCRIPT, "4", *public["keys"], *args) if args else []
            )
        finally:
            client.close()
        flags = [bool(n) for n in removed]
        summary = f"removed {sum(flags)} of {len(flags)} exported jobs from {public['keys'][0]}"
        return {**public, "removed": flags, "summary": summary}

    return audited(request, work)


def queue_restore(request: dict[str, Any]) -> dict[str, Any]:
    """Push jobs back as Laravel does: ready and reserved ones to the list, delayed to the set."""

    def work() -> dict[str, Any]:
        client, public = app_redis(request)
        try:
            args = [
                x
                for job in request["jobs"]
                for x in (job["state"], job["payload"], str(job.get("score") or 0))
            ]
            pushed = client.call("EVAL", RESTORE_SCRIPT, "4", *public["keys"], *args) if args else 0
        finally:
            client.close()
        summary = f"pushed {pushed} jobs back to {public['keys'][0]}"
        return {**public, "pushed": pushed, "summary": summary}

    return audited(request, work)


OPERATIONS["runbook_signal"] = runbook_signal
OPERATIONS["runbook_terminate"] = runbook_terminate
OPERATIONS["queue_read"] = queue_read
OPERATIONS["queue_delete"] = queue_delete
OPERATIONS["queue_restore"] = queue_restore


# -- fallback to the database queue and back -------------------------------------------------

FALLBACK_STATE = "/var/lib/queueops/fallback.json"
SQLITE_WARNING = (
    "concurrent workers get 'database is locked'; a job whose row a worker could not delete "
    "after running it is run again after retry_after"
)


def set_env(text: str, key: str, value: str) -> str:
    """.env text with KEY=value: its last assignment replaced, or a line appended."""
    lines = text.splitlines()
    found = [
        i
        for i, raw in enumerate(lines)
        if raw.strip().removeprefix("export ").lstrip().split("=", 1)[0].strip() == key
        and "=" in raw
    ]
    if found:
        lines[found[-1]] = f"{key}={value}"
    else:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def as_user(request: dict[str, Any], argv: list[str], timeout: float) -> tuple[int, str]:
    result = subprocess.run(
        ["runuser", "-u", request["user"], "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=request["app_path"],
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def jobs_table_check(request: dict[str, Any]) -> None:
    """`queue:monitor database:default` counts rows of the jobs table: it fails without it."""
    artisan_path = os.path.join(request["app_path"], "artisan")
    code, out = as_user(
        request, [request["php"], artisan_path, "queue:monitor", "database:default"], timeout=60
    )
    if code != 0:
        reason = " ".join(out.split())[-300:]
        if "no such table" in out or "doesn't exist" in out or "does not exist" in out:
            reason = "the jobs table is missing"
        raise AgentError(
            f"the database queue cannot work here: {reason}; run `php artisan queue:table && "
            "php artisan migrate --force` (make:queue-table on Laravel 11+) in the app, then "
            "try again — nothing was changed"
        )


def read_state() -> dict[str, Any] | None:
    text = read_text(FALLBACK_STATE)
    if text is None:
        return None
    try:
        state = json.loads(text)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def fallback_prepare(request: dict[str, Any]) -> dict[str, Any]:
    """Preflight, then QUEUE_CONNECTION in .env (backed up), config:cache, Horizon stopped."""
    target = request["target"]
    env_path = os.path.join(request["app_path"], ".env")

    def work() -> dict[str, Any]:
        items: list[dict[str, str]] = []
        env_text = read_text(env_path)
        if env_text is None:
            raise AgentError(f"cannot read {env_path}")
        current = env_value(env_text, "QUEUE_CONNECTION")
        state = read_state()
        if target == "database":
            jobs_table_check(request)
            if (env_value(env_text, "DB_CONNECTION") or "") == "sqlite":
                items.append({"item": "the database queue is on SQLite", "action": "warning:",
                              "status": "ok", "detail": SQLITE_WARNING})  # fmt: skip
        else:
            client, public = app_redis({**request, "connection": "redis", "queue": "default"})
            client.close()
            items.append({"item": public["endpoint"], "action": "reached Redis at",
                          "status": "ok", "detail": ""})  # fmt: skip
        wanted = target if target == "database" else (state or {}).get("from") or "redis"
        if request.get("check"):
            items.append({"item": env_path, "action": f"set QUEUE_CONNECTION={wanted} in",
                          "status": "changed", "detail": f"now {current}"})  # fmt: skip
            return {"items": items, "summary": ""}
        if current != wanted:
            after = set_env(env_text, "QUEUE_CONNECTION", wanted)
            change = {"path": env_path, "before": sha256_file(env_path), "after": after}
            write_changes([change], request["backup_dir"])
            action = f"QUEUE_CONNECTION {current} -> {wanted} in"
            detail = f"backup {change.get('backup')}"
            items.append({"item": env_path, "action": action, "status": "changed",
                          "detail": detail})  # fmt: skip
        if os.path.exists(os.path.join(request["app_path"], "bootstrap", "cache", "config.php")):
            code, out = as_user(
                request, [request["php"], os.path.join(request["app_path"], "artisan"),
                          "config:cache"], timeout=120)  # fmt: skip
            if code != 0:
                raise AgentError(f"config:cache exited {code}: {out[-300:]}")
            items.append({"item": "config cache", "action": "rebuilt", "status": "changed",
                          "detail": ""})  # fmt: skip
        horizon = request.get("horizon")
        horizon_stopped = bool((state or {}).get("horizon_stopped"))
        if target == "database" and horizon:
            proxy = supervisor_proxy(request["supervisor_config"])
            info = [i for i in proxy.supervisor.getAllProcessInfo()
                    if i["group"] == horizon["program"]]  # fmt: skip
            running = bool(info) and info[0]["statename"] not in STOPPED_STATES
            if running:
                proxy.supervisor.stopProcessGroup(horizon["program"], False)
                _wait_stopped(proxy, horizon["program"], horizon["stop_timeout"])
                items.append({"item": f"program {horizon['program']}",
                              "action": "stopped Horizon", "status": "changed",
                              "detail": "it needs Redis"})  # fmt: skip
            # restore-redis starts Horizon again only if this runbook stopped it.
            horizon_stopped = running or horizon_stopped
        if target == "database":
            os.makedirs(os.path.dirname(FALLBACK_STATE), exist_ok=True)
            record = {
                "active": True,
                "since": (state or {}).get("since")
                or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "operator": request["audit"]["operator"],
                "from": (state or {}).get("from") or current,
                "horizon_stopped": horizon_stopped,
            }
            atomic_write(FALLBACK_STATE, json.dumps(record, indent=2) + "\n")
        summary = "; ".join(f"{i['action']} {i['item']}" for i in items)
        return {"items": items, "summary": summary, "state": state}

    return audited(request, work)


def drain(request: dict[str, Any], connection: str) -> dict[str, str]:
    """A `queue:work CONNECTION --stop-when-empty` worker over the host's queues; on timeout it
    gets SIGTERM (it finishes its job and exits), and what is left stays queued."""
    argv = [
        "runuser", "-u", request["user"], "--", request["php"],
        os.path.join(request["app_path"], "artisan"), "queue:work", connection,
        "--queue=" + ",".join(request["queues"]), "--stop-when-empty", "--sleep=0",
        f"--tries={request['tries']}", f"--timeout={request['timeout']}",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=request["app_path"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
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


def database_left(request: dict[str, Any]) -> int:
    """Rows still in the jobs table for the host's queues (`queue:monitor` counts them all)."""
    artisan_path = os.path.join(request["app_path"], "artisan")
    queues = ",".join(f"database:{q}" for q in request["queues"])
    code, out = as_user(request, [request["php"], artisan_path, "queue:monitor", queues], 120)
    if code != 0:
        return 0
    total = 0
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] == "database" and cells[2].isdigit():
            total += int(cells[2])
    return total


def fallback_finish(request: dict[str, Any]) -> dict[str, Any]:
    """queue:restart, Horizon back after a fallback, and the other connection drained."""
    target = request["target"]

    def work() -> dict[str, Any]:
        items: list[dict[str, str]] = []
        artisan_path = os.path.join(request["app_path"], "artisan")
        code, out = as_user(request, [request["php"], artisan_path, "queue:restart"], 120)
        if code != 0:
            raise AgentError(f"queue:restart exited {code}: {out[-300:]}")
        items.append({"item": "workers", "action": "queue:restart", "status": "changed",
                      "detail": ""})  # fmt: skip
        horizon = request.get("horizon")
        state = read_state() or {}
        if target == "redis" and horizon and state.get("horizon_stopped"):
            proxy = supervisor_proxy(request["supervisor_config"])
            start_group(proxy, horizon["program"])
            items.append({"item": f"program {horizon['program']}", "action": "started Horizon",
                          "status": "changed", "detail": ""})  # fmt: skip
        if target == "database":
            try:
                client, _ = app_redis({**request, "connection": "redis", "queue": "default"})
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


OPERATIONS["fallback_prepare"] = fallback_prepare
OPERATIONS["fallback_finish"] = fallback_finish


# -- failed jobs -------------------------------------------------------------------------------

# Boots the app as artisan does and talks to its queue.failer (whatever its driver and
# database): `list` prints one JSON row per line; `forget` forgets the ids read on stdin.
FAILER_PHP = r"""
foreach (['vendor/autoload.php', 'bootstrap/autoload.php'] as $file) {
    if (is_file($file)) { require $file; break; }
}
$app = require 'bootstrap/app.php';
$app->make(Illuminate\Contracts\Console\Kernel::class)->bootstrap();
$failer = $app['queue.failer'];
if ($argv[1] === 'list') {
    foreach ($failer->all() as $row) { echo json_encode((array) $row), "\n"; }
} else {
    $gone = 0;
    foreach (preg_split('/\s+/', trim(stream_get_contents(STDIN))) as $id) {
        if ($id !== '' && $failer->forget($id)) { $gone++; echo $id, "\n"; }
    }
}
"""


def failer(request: dict[str, Any], action: str, ids: list[str] | None = None) -> list[str]:
    result = subprocess.run(
        ["runuser", "-u", request["user"], "--", request["php"], "-r", FAILER_PHP, action],
        input="\n".join(ids or []),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=request["app_path"],
    )
    if result.returncode != 0:
        tail = " ".join((result.stdout + result.stderr).split())[-300:]
        raise AgentError(f"reading the app's failed jobs failed (exit {result.returncode}): {tail}")
    return [line for line in result.stdout.splitlines() if line.strip()]


def failed_list(request: dict[str, Any]) -> dict[str, Any]:
    return {"rows": [json.loads(line) for line in failer(request, "list")]}


def failed_forget(request: dict[str, Any]) -> dict[str, Any]:
    """Forget exactly the exported ids; a job that failed since stays."""

    def work() -> dict[str, Any]:
        gone = failer(request, "forget", request["ids"])
        return {"forgotten": gone, "summary": f"forgot {len(gone)} of {len(request['ids'])}"}

    return audited(request, work)


def failed_retry(request: dict[str, Any]) -> dict[str, Any]:
    """`queue:retry` for the ids (all when none): Laravel pushes each back, then forgets it."""

    def work() -> dict[str, Any]:
        ids = request["ids"] or ["all"]
        artisan_path = os.path.join(request["app_path"], "artisan")
        code, out = as_user(request, [request["php"], artisan_path, "queue:retry", *ids], 600)
        if code != 0:
            raise AgentError(f"queue:retry exited {code}: {' '.join(out.split())[-300:]}")
        pushed = sum(1 for line in out.splitlines() if "pushed back onto the queue" in line)
        return {"pushed": pushed, "summary": f"queue:retry pushed {pushed} jobs back"}

    return audited(request, work)


OPERATIONS["failed_list"] = failed_list
OPERATIONS["failed_forget"] = failed_forget
OPERATIONS["failed_retry"] = failed_retry
