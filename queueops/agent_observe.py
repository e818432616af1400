"""Host side of verify, status and metrics: what runs, what waits, what failed (read-only),
the Prometheus text of it, the refresher `metrics --install` leaves on a host, and the
confirmed stop of hand-started workers.

Queue figures come from the app's own Redis (its .env: REDIS_HOST, REDIS_PORT,
REDIS_PASSWORD, REDIS_DB, REDIS_PREFIX) or its database queue; the password is only sent
to Redis, never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import xmlrpc.client
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
    gather_facts,
    read_text,
    supervisor_proxy,
    worker_processes,
)

# -- sent to hosts from here --
# isort: split
# Standard modules agent.py does not import itself.
import re
import signal
import sqlite3

FALLBACK_PATH = "/var/lib/queueops/fallback.json"
METRIC_PREFIX = "queueops_"
QUEUE_STATES = ("ready", "delayed", "reserved")


def laravel_slug(text: str, sep: str = "_") -> str:
    """Str::slug(text, sep) for ASCII names, as config/database.php derives REDIS_PREFIX."""
    words = re.sub(r"[^a-z0-9\s_-]", "", text.lower().replace("-", sep).replace("_", sep))
    return re.sub(r"[\s" + re.escape(sep) + r"]+", sep, words).strip(sep)


def app_env(app_path: str | None) -> dict[str, str | None]:
    text = read_text(os.path.join(app_path, ".env")) if app_path else None
    keys = (
        "APP_NAME", "QUEUE_CONNECTION", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
        "REDIS_USERNAME", "REDIS_DB", "REDIS_PREFIX", "DB_CONNECTION", "DB_DATABASE",
    )  # fmt: skip
    return {k: env_value(text, k) if text else None for k in keys}


def redis_prefix(env: dict[str, str | None]) -> str:
    if env.get("REDIS_PREFIX") is not None:
        return str(env["REDIS_PREFIX"])
    return laravel_slug(env.get("APP_NAME") or "laravel") + "_database_"


def app_redis(env: dict[str, str | None]) -> tuple[RedisClient, str]:
    """A connection with the app's own credentials; errors name host:port, never the password."""
    address, port = env.get("REDIS_HOST") or "127.0.0.1", env.get("REDIS_PORT") or "6379"
    where = f"{address}:{port}"
    try:
        client = RedisClient(address, int(port), timeout=5)
    except (OSError, ValueError) as exc:
        raise AgentError(f"cannot reach the app's Redis at {where}: {exc}") from None
    try:
        password = env.get("REDIS_PASSWORD")
        if password and password.lower() != "null":
            user = env.get("REDIS_USERNAME")
            client.call("AUTH", *([user] if user else []), password)
        if env.get("REDIS_DB") not in (None, "", "0"):
            client.call("SELECT", str(env["REDIS_DB"]))
        client.call("PING")
    except RedisReply as exc:
        client.close()
        raise AgentError(
            f"the app's Redis at {where} refused its .env credentials: {exc}"
        ) from None
    except OSError as exc:
        client.close()
        raise AgentError(f"cannot talk to the app's Redis at {where}: {exc}") from None
    return client, where


def payload_age(payload: str | None, now: float) -> float | None:
    """Age of a queued job from its payload's pushedAt/createdAt, when the app records one."""
    if not payload:
        return None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        data = json.loads(payload)
        stamp = data.get("pushedAt") or data.get("createdAt")
        if stamp is not None:
            return max(0.0, now - float(stamp))
    return None


def redis_queues(env: dict[str, str | None], queues: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"reachable": False, "error": None, "policy": None, "queues": {}}
    try:
        client, where = app_redis(env)
    except AgentError as exc:
        out["error"] = str(exc)
        return out
    out["reachable"], out["address"] = True, where
    prefix, now = redis_prefix(env), time.time()
    try:
        with contextlib.suppress(RedisReply):
            reply = client.call("CONFIG", "GET", "maxmemory-policy")
            out["policy"] = str(reply[1]) if reply and len(reply) > 1 else None
        for queue in queues:
            key = f"{prefix}queues:{queue}"
            ready = int(client.call("LLEN", key))
            delayed = int(client.call("ZCARD", key + ":delayed"))
            reserved = int(client.call("ZCARD", key + ":reserved"))
            oldest = payload_age(client.call("LINDEX", key, "0"), now) if ready else None
            out["queues"][queue] = {
                "ready": ready,
                "delayed": delayed,
                "reserved": reserved,
                "oldest_seconds": oldest,
            }
    except (RedisReply, OSError) as exc:
        out["error"] = f"the app's Redis at {where}: {exc}"
    finally:
        client.close()
    return out


def app_database(env: dict[str, str | None], app_path: str) -> str | None:
    if (env.get("DB_CONNECTION") or "") != "sqlite":
        return None
    path = env.get("DB_DATABASE") or os.path.join(app_path, "database", "database.sqlite")
    return path if os.path.exists(path) else None


def database_figures(
    env: dict[str, str | None], app_path: str, queues: list[str], with_queues: bool
) -> dict[str, Any]:
    """failed_jobs (and the database queue's jobs) from the app's SQLite database; other
    databases need their client libraries, so their figures stay unknown (None)."""
    out: dict[str, Any] = {"failed": None, "queues": {}, "error": None}
    path = app_database(env, app_path)
    if path is None:
        out["error"] = (
            f"failed jobs are read from SQLite only (DB_CONNECTION={env.get('DB_CONNECTION')})"
        )
        return out
    now = int(time.time())
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            out["failed"] = int(db.execute("SELECT COUNT(*) FROM failed_jobs").fetchone()[0])
            if with_queues:
                for queue in queues:
                    row = db.execute(
                        "SELECT SUM(reserved_at IS NULL AND available_at <= ?),"
                        " SUM(reserved_at IS NULL AND available_at > ?),"
                        " SUM(reserved_at IS NOT NULL),"
                        " MIN(CASE WHEN reserved_at IS NULL AND available_at <= ?"
                        " THEN created_at END) FROM jobs WHERE queue = ?",
                        (now, now, now, queue),
                    ).fetchone()
                    out["queues"][queue] = {
                        "ready": int(row[0] or 0),
                        "delayed": int(row[1] or 0),
                        "reserved": int(row[2] or 0),
                        "oldest_seconds": float(now - row[3]) if row[3] else None,
                    }
    except sqlite3.Error as exc:
        out["error"] = f"{path}: {exc}"
    return out


def process_rss(pid: int) -> int | None:
    """Resident memory of a process and its children (Horizon's workers), in bytes."""
    total, found = 0, False
    for entry in [str(pid), *children(pid)]:
        text = read_text(f"/proc/{entry}/status") or ""
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        if match:
            total += int(match[1]) * 1024
            found = True
    return total if found else None


def memory_limit(pid: int) -> int | None:
    """The worker's own `--memory=MB` (queue:work's soft limit), in bytes."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    for arg in argv:
        if arg.startswith("--memory=") and arg[len("--memory=") :].isdigit():
            return int(arg[len("--memory=") :]) * 1024 * 1024
    return None


def parent_map() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with (
                contextlib.suppress(OSError, ValueError, IndexError),
                open(f"/proc/{entry}/stat") as handle,
            ):
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
    return parents


def children(pid: int) -> list[str]:
    parents = parent_map()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += [str(k) for k in kids]
        todo += kids
    return found


def supervised(pid: int, supervisord: set[int], parents: dict[int, int]) -> bool:
    """Whether supervisord is an ancestor of the process (Horizon's workers count too)."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        pid = parents.get(pid, 0)
        if pid in supervisord:
            return True
    return False


def stale_workers(supervisord: set[int]) -> list[dict[str, Any]]:
    parents = parent_map()
    return [w for w in worker_processes() if not supervised(w["pid"], supervisord, parents)]


def supervisord_log(main_config: str | None) -> str | None:
    text = read_text(main_config) if main_config else None
    match = re.search(r"^\[supervisord\][^\[]*?^logfile\s*=\s*(\S+)", text or "", re.M | re.S)
    return match[1] if match else None


def restart_counts(log_path: str | None) -> dict[str, int]:
    """`exited: GROUP_NN (...)` lines of supervisord's log, per process: its restarts."""
    counts: dict[str, int] = {}
    text = read_text(log_path) if log_path else None
    for line in (text or "").splitlines():
        match = re.search(r" exited: (\S+) \(", line)
        if match:
            counts[match[1]] = counts.get(match[1], 0) + 1
    return counts


def supervisor_detail(config: str | None, sample: float) -> dict[str, Any]:
    """Every supervisord process with uptime and memory; two samples `sample` s apart catch
    programs that flap between RUNNING and BACKOFF."""
    out: dict[str, Any] = {"pid": None, "processes": [], "restarts": {}}
    if not config:
        return out
    try:
        proxy = supervisor_proxy(config)
        out["pid"] = int(proxy.supervisor.getPID())
        first = proxy.supervisor.getAllProcessInfo()
        if sample > 0:
            time.sleep(sample)
        second = {f"{p['group']}:{p['name']}": p for p in proxy.supervisor.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error, AgentError) as exc:
        out["error"] = str(exc)
        return out
    for p in first:
        key = f"{p['group']}:{p['name']}"
        later = second.get(key, p)
        out["processes"].append(
            {
                "group": p["group"],
                "name": p["name"],
                "state": later["statename"],
                "pid": later["pid"],
                "uptime": max(0, int(later["now"]) - int(later["start"])) if later["pid"] else 0,
                "exitstatus": later["exitstatus"],
                "spawnerr": later.get("spawnerr", ""),
                "flapping": sample > 0
                and (
                    p["pid"] != later["pid"]
                    or (
                        RUNNING not in (p["statename"], later["statename"])
                        and "STOPPED" not in (p["statename"], later["statename"])
                    )
                ),
                "rss": process_rss(int(later["pid"])) if later["pid"] else None,
                "memory_limit": memory_limit(int(later["pid"])) if later["pid"] else None,
            }
        )
    out["restarts"] = restart_counts(supervisord_log(config))
    return out


def horizon_state(request: dict[str, Any], workers: list[dict[str, Any]]) -> dict[str, Any]:
    """`horizon:status` run as the user of this machine's Horizon master."""
    masters = [w for w in workers if w["args"].split()[-1:] == ["horizon"]]
    if not masters:
        return {"running": False, "status": "no horizon process on this host"}
    run_as = {**request, "user": masters[0]["user"], "php": request["horizon"]["php"]}
    try:
        code, output = artisan(run_as, "horizon:status", timeout=60)
    except (OSError, ValueError) as exc:
        return {"running": False, "status": f"horizon:status failed: {exc}"}
    text = " ".join(output.split())
    return {"running": code == 0 and "is running" in text, "status": text[-200:]}


def fallback_state(path: str) -> dict[str, Any] | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"active": True, "path": path, "raw": text[:200]}
    state = data if isinstance(data, dict) else {"value": data}
    return {"active": bool(state.get("active", True)), "path": path, **state}


def observe(request: dict[str, Any]) -> dict[str, Any]:
    facts = gather_facts(request)
    env_text = (
        read_text(os.path.join(request["app_path"], ".env")) if request.get("app_path") else None
    )
    facts["app"]["app_env"] = env_value(env_text, "APP_ENV") if env_text else None
    facts["app"]["config_cached"] = bool(request.get("app_path")) and os.path.exists(
        os.path.join(request["app_path"], "bootstrap", "cache", "config.php")
    )
    supervisor = supervisor_detail(facts["supervisor"]["config"], request.get("sample", 0))
    env = app_env(request.get("app_path"))
    queues = list(request.get("queues", []))
    connection = env.get("QUEUE_CONNECTION") or ""
    result: dict[str, Any] = {
        "facts": facts,
        "supervisor": supervisor,
        "stale": stale_workers({supervisor["pid"]} if supervisor["pid"] else set()),
        "fallback": fallback_state(request.get("fallback_path") or FALLBACK_PATH),
        "connection": connection,
        "time": time.time(),
    }
    if request.get("app_path"):
        db = database_figures(env, request["app_path"], queues, connection == "database")
        result["failed"] = db["failed"]
        result["database_error"] = db["error"]
        if connection == "database":
            result["queues"] = db["queues"]
        redis = redis_queues(env, queues if connection == "redis" else [])
        result["redis"] = {k: v for k, v in redis.items() if k != "queues"}
        if connection == "redis":
            result["queues"] = redis["queues"]
    if request.get("horizon"):
        result["horizon"] = horizon_state(request, facts["workers"])
    return result


# -- Prometheus text ------------------------------------------------------------------------

METRICS = {
    "queue_jobs": ("gauge", "Jobs in a queue, by state (ready, delayed, reserved)."),
    "queue_oldest_job_age_seconds": ("gauge", "Age of the oldest ready job, when known."),
    "failed_jobs": ("gauge", "Rows in the app's failed_jobs table."),
    "worker_processes_up": ("gauge", "Processes of a supervisor program in RUNNING."),
    "worker_processes_expected": ("gauge", "Processes a supervisor program has (numprocs)."),
    "worker_memory_bytes": ("gauge", "Resident memory of a worker process (with children)."),
    "worker_memory_limit_bytes": ("gauge", "The worker's queue:work --memory limit."),
    "worker_restarts_total": ("counter", "Exits of a worker process in supervisord's log."),
    "stale_workers": ("gauge", "queue:work/horizon processes running outside supervisor."),
    "horizon_up": ("gauge", "1 when horizon:status says running on this host."),
    "fallback_active": ("gauge", "1 when the fallback marker file says a fallback is active."),
    "redis_up": ("gauge", "1 when the app's Redis answers with the app's credentials."),
    "supervisord_up": ("gauge", "1 when supervisord answers on its socket."),
    "scrape_timestamp_seconds": ("gauge", "When these figures were taken."),
}


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(host: str, obs: dict[str, Any]) -> str:
    """The Prometheus text exposition of one host's observation."""
    samples: dict[str, list[tuple[dict[str, Any], float]]] = {name: [] for name in METRICS}
    base = {"host": host}
    for queue, figures in sorted((obs.get("queues") or {}).items()):
        labels = {**base, "connection": obs.get("connection"), "queue": queue}
        for state in QUEUE_STATES:
            samples["queue_jobs"].append(({**labels, "state": state}, figures[state]))
        if figures.get("oldest_seconds") is not None:
            samples["queue_oldest_job_age_seconds"].append((labels, figures["oldest_seconds"]))
    if obs.get("failed") is not None:
        samples["failed_jobs"].append((base, obs["failed"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    supervisor = obs.get("supervisor") or {}
    for proc in supervisor.get("processes", []):
        groups.setdefault(proc["group"], []).append(proc)
        labels = {**base, "program": proc["group"], "process": proc["name"]}
        if proc.get("rss") is not None:
            samples["worker_memory_bytes"].append((labels, proc["rss"]))
        if proc.get("memory_limit"):
            samples["worker_memory_limit_bytes"].append((labels, proc["memory_limit"]))
        restarts = supervisor.get("restarts", {}).get(proc["name"], 0)
        samples["worker_restarts_total"].append((labels, restarts))
    for group, procs in sorted(groups.items()):
        labels = {**base, "program": group}
        up = sum(1 for p in procs if p["state"] == RUNNING)
        samples["worker_processes_up"].append((labels, up))
        samples["worker_processes_expected"].append((labels, len(procs)))
    samples["stale_workers"].append((base, len(obs.get("stale", []))))
    if "horizon" in obs:
        samples["horizon_up"].append((base, 1 if obs["horizon"]["running"] else 0))
    fallback = obs.get("fallback")
    samples["fallback_active"].append((base, 1 if fallback and fallback.get("active") else 0))
    if "redis" in obs:
        samples["redis_up"].append((base, 1 if obs["redis"]["reachable"] else 0))
    running = bool(obs.get("facts", {}).get("supervisor", {}).get("running"))
    samples["supervisord_up"].append((base, 1 if running else 0))
    samples["scrape_timestamp_seconds"].append((base, round(obs.get("time", time.time()), 3)))
    lines = []
    for name, (kind, text) in METRICS.items():
        full = METRIC_PREFIX + name
        lines += [f"# HELP {full} {text}", f"# TYPE {full} {kind}"]
        for labels, value in samples[name]:
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            number = int(value) if float(value).is_integer() else value
            lines.append(f"{full}{{{rendered}}} {number}")
    return "\n".join(lines) + "\n"


def metrics(request: dict[str, Any]) -> dict[str, Any]:
    return {"text": render_metrics(request["host"], observe(request))}


def refresh_forever(request: dict[str, Any]) -> None:
    """The refresher `metrics --install` runs under supervisord: rewrite the textfile
    atomically every `interval` seconds (node_exporter must never read a half file)."""
    path = request["textfile"]
    while True:
        try:
            text = render_metrics(request["host"], observe(request))
        except Exception as exc:  # keep the last good file; say why in supervisord's log
            print(f"queueops metrics refresh failed: {exc}", flush=True)
        else:
            atomic_write(path, text)
        time.sleep(request["interval"])


def install_metrics(request: dict[str, Any]) -> dict[str, Any]:
    """Write the refresher (this agent + its request) and its supervisor program; load it."""
    items = []
    runner = request["runner_path"]
    source = (
        request["source"] + f"\nrefresh_forever(json.loads({json.dumps(request['refresh'])!r}))\n"
    )
    for path, content, mode in (
        (runner, source, 0o700),
        (request["program_path"], request["program"], 0o644),
    ):
        if read_text(path) != content:
            atomic_write(path, content, mode)
            items.append(path)
    os.makedirs(os.path.dirname(request["refresh"]["textfile"]), exist_ok=True)
    name = request["program_name"]
    try:
        proxy = supervisor_proxy(request["supervisor_config"])
        added, changed, _ = proxy.supervisor.reloadConfig()[0]
        if name in changed:
            proxy.supervisor.stopProcessGroup(name)
            proxy.supervisor.removeProcessGroup(name)
        if name in changed or name in added:
            proxy.supervisor.addProcessGroup(name)
            items.append(f"program {name}")
    except (OSError, xmlrpc.client.Error) as exc:
        raise AgentError(
            f"supervisord did not load {request['program_path']}: {exc} "
            "(is it running? invoke setup-worker starts it)"
        ) from None
    deadline = time.monotonic() + 20
    while not os.path.exists(request["refresh"]["textfile"]):
        if time.monotonic() > deadline:
            raise AgentError(f"{request['refresh']['textfile']} was not written within 20 s")
        time.sleep(0.2)
    return {"changed": items}


def stop_stale(request: dict[str, Any]) -> dict[str, Any]:
    """SIGTERM the named hand-started workers (they finish their current job), SIGKILL after
    `timeout` s; a pid that is no longer a stale worker is left alone."""
    config = request["supervisor_config"]
    supervisord: set[int] = set()
    with contextlib.suppress(OSError, xmlrpc.client.Error, AgentError):
        if config:
            supervisord.add(int(supervisor_proxy(config).supervisor.getPID()))
    stale = {w["pid"]: w for w in stale_workers(supervisord)}
    done = []
    for pid in request["pids"]:
        if pid not in stale:
            done.append({"pid": pid, "result": "skipped: not a worker outside supervisor now"})
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + request["timeout"]
        result = "stopped (SIGTERM)"
        while os.path.exists(f"/proc/{pid}") and "zombie" not in (
            read_text(f"/proc/{pid}/status") or ""
        ):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                result = f"killed (SIGKILL after {request['timeout']} s)"
                break
            time.sleep(0.1)
        done.append({"pid": pid, "args": stale[pid]["args"], "result": result})
    return {"stopped": done}


OPERATIONS["observe"] = observe
OPERATIONS["metrics"] = metrics
OPERATIONS["metrics_install"] = install_metrics
OPERATIONS["stop_stale"] = stop_stale
