"""Host side of verify, status and metrics: what runs, what waits, what failed (read-only),
the Prometheus text of it, the refresher `metrics --install` leaves on a host, and the
confirmed stop of hand-started workers.

Queue figures come from the app's own Redis, reached with the app's resolved configuration
(agent.laravel), or its database queue; the password is only sent to Redis, never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

from queueops.agent.common import AgentError, atomic_write, read_text
from queueops.agent.facts import gather_facts
from queueops.agent.laravel import (
    BOOT_PHP,
    MARKER,
    app_config,
    app_user,
    failed_store,
    run_as,
)
from queueops.agent.procs import memory_limit, process_rss, stale_workers
from queueops.agent.redis_client import RedisReply, app_redis
from queueops.agent.supervisor import supervisor_proxy
from queueops.agent.supervisor_state import RUNNING, group_status
from queueops.observe.protocol import METRIC_PREFIX, METRICS
from queueops.runbooks.host_fallback import fallback_marker
from queueops.runbooks.host_pause import pause_marker
from queueops.runbooks.protocol import FALLBACK_STATE, PAUSE_STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from queueops.agent.common import Operation
    from queueops.observe.protocol import (
        MetricsAnswer,
        MetricsInstallAnswer,
        MetricsInstallRequest,
        Observation,
        ObserveRequest,
        RefreshRequest,
        StopStaleAnswer,
        StopStaleRequest,
    )

QUEUE_STATES = ("ready", "delayed", "reserved")


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


def redis_queues(app_path: str, php: str, user: str | None, queues: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"reachable": False, "error": None, "policy": None, "queues": {}}
    try:
        client, public = app_redis(app_path, php, user, timeout=5)
    except AgentError as exc:
        out["error"] = str(exc)
        return out
    where = public["endpoint"]
    out["reachable"], out["address"], out["tls"] = True, where, public["tls"]
    prefix, now = public["prefix"], time.time()
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


# Boots the app and counts, through its own database connections (any driver): failed jobs
# (the queue.failed store) and, for a database queue connection, its jobs per queue and state.
DATABASE_PHP = (
    BOOT_PHP
    + r"""
$config = $app['config'];
$ask = json_decode($argv[1], true);
$out = ['failed' => null, 'queues' => [], 'error' => null];
try {
    $failed = (array) $config->get('queue.failed', []);
    $driver = $failed['driver'] ?? 'database';
    if (in_array($driver, ['database', 'database-uuids'], true)) {
        $out['failed'] = $app['db']->connection($failed['database'] ?? null)
            ->table($failed['table'] ?? 'failed_jobs')->count();
    } elseif ($driver !== 'null') {
        $out['failed'] = count($app['queue.failer']->all());
    }
} catch (Throwable $e) {
    $out['error'] = 'failed jobs: ' . $e->getMessage();
}
if ($ask['connection'] !== null) {
    try {
        $queue = (array) $config->get('queue.connections.' . $ask['connection']);
        $db = $app['db']->connection($queue['connection'] ?? null);
        $now = time();
        foreach ($ask['queues'] as $name) {
            $rows = fn () => $db->table($queue['table'] ?? 'jobs')->where('queue', $name);
            $ready = fn () => $rows()->whereNull('reserved_at')->where('available_at', '<=', $now);
            $oldest = $ready()->min('created_at');
            $out['queues'][$name] = [
                'ready' => $ready()->count(),
                'delayed' => $rows()->whereNull('reserved_at')->where('available_at', '>', $now)
                    ->count(),
                'reserved' => $rows()->whereNotNull('reserved_at')->count(),
                'oldest_seconds' => $oldest === null ? null : (float) ($now - $oldest),
            ];
        }
    } catch (Throwable $e) {
        $out['error'] = 'the database queue ' . $ask['connection'] . ': ' . $e->getMessage();
    }
}
echo "\n", $argv[2], json_encode($out), "\n";
"""
)


def database_figures(
    app_path: str, php: str, user: str | None, connection: str | None, queues: list[str]
) -> dict[str, Any]:
    """Failed jobs, and the jobs of `connection` (a database queue) per queue, counted by the
    app through its own configured connections: whatever the driver, never a file by path."""
    ask = json.dumps({"connection": connection, "queues": queues if connection else []})
    code, out, err = run_as(user, app_path, [php, "-r", DATABASE_PHP, ask, MARKER], timeout=60)
    answer = [line for line in out.splitlines() if line.startswith(MARKER)]
    if code != 0 or not answer:
        tail = " ".join((out + err).split())[-300:]
        return {"failed": None, "queues": {}, "error": f"{php} exited {code}: {tail}"}
    figures: dict[str, Any] = json.loads(answer[-1][len(MARKER) :])
    if figures.get("error"):
        figures["error"] = " ".join(str(figures["error"]).split())[:300]
    return figures


def database_queue(config: dict[str, Any], connection: str) -> str | None:
    """`connection` when it is one of the app's queue connections on the database driver."""
    conf = ((config.get("queue") or {}).get("connections") or {}).get(connection)
    return connection if isinstance(conf, dict) and conf.get("driver") == "database" else None


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
    except (OSError, AgentError) as exc:
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


def observe(request: ObserveRequest) -> Observation:
    facts = gather_facts(request)
    supervisor = supervisor_detail(facts["supervisor"]["config"], request.get("sample", 0))
    app = facts["app"]
    # What the app dispatches to: its resolved configuration, else its .env.
    connection = app["laravel"].get("queue_connection") or app["queue_connection"] or ""
    queues = list(request.get("queues", []))
    result: Observation = {
        "facts": facts,
        "supervisor": supervisor,
        "stale": stale_workers({supervisor["pid"]} if supervisor["pid"] else set()),
        "fallback": fallback_marker(request.get("fallback_path") or FALLBACK_STATE),
        "pause": pause_marker(request.get("pause_path") or PAUSE_STATE),
        "connection": connection,
        "time": time.time(),
        "kinds": {},
    }
    app_path, php = request.get("app_path"), request.get("php", "php")
    user = app_user(request["app_users"])
    # Queue figures where the app is deployed (a Redis host usually has none).
    if app_path and app["env_exists"]:
        try:
            config = app_config(app_path, php, user)[0]
            on_database = database_queue(config, connection)
            result["failed_store"] = failed_store(config)
            db = database_figures(app_path, php, user, on_database, queues)
        except (AgentError, OSError, subprocess.SubprocessError) as exc:
            on_database, db = None, {"failed": None, "queues": {}, "error": str(exc)}
        result["failed"] = db["failed"]
        result["database_error"] = db["error"]
        if on_database:
            result["queues"] = db["queues"]
        redis = redis_queues(app_path, php, user, queues if connection == "redis" else [])
        result["redis"] = {k: v for k, v in redis.items() if k != "queues"}
        if connection == "redis":
            result["queues"] = redis["queues"]
    # Each kind's own part, from its host module (sent with this one), under its key.
    result["kinds"] = {
        key: {
            "module": probe["module"],
            "observed": sys.modules[probe["module"]].observe(probe["request"], facts),
        }
        for key, probe in request.get("kinds", {}).items()
    }
    return result


# -- Prometheus text ------------------------------------------------------------------------


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric_declarations(obs: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Every metric an observation exposes: name → (type, help), its kinds' too."""
    declared = dict(METRICS)
    for part in (obs.get("kinds") or {}).values():
        declared.update(sys.modules[part["module"]].METRICS)
    return declared


def render_metrics(host: str, obs: Mapping[str, Any]) -> str:
    """The Prometheus text exposition of one host's observation."""
    declared = metric_declarations(obs)
    samples: dict[str, list[tuple[dict[str, Any], float]]] = {name: [] for name in declared}
    base = {"host": host}
    for queue, figures in sorted((obs.get("queues") or {}).items()):
        labels = {**base, "connection": obs.get("connection"), "queue": queue}
        for state in QUEUE_STATES:
            samples["queue_jobs"].append(({**labels, "state": state}, figures[state]))
        if figures.get("oldest_seconds") is not None:
            samples["queue_oldest_job_age_seconds"].append((labels, figures["oldest_seconds"]))
    if obs.get("failed") is not None:
        # Hosts sharing one database report the same store: dashboards take max by store.
        store = obs.get("failed_store") or {}
        labels = {**base, "store": store.get("id", ""), "store_name": store.get("name", "")}
        samples["failed_jobs"].append((labels, obs["failed"]))
    sizes: dict[str, int] = {}
    supervisor = obs.get("supervisor") or {}
    for proc in supervisor.get("processes", []):
        sizes[proc["group"]] = sizes.get(proc["group"], 0) + 1
        labels = {**base, "program": proc["group"], "process": proc["name"]}
        if proc.get("rss") is not None:
            samples["worker_memory_bytes"].append((labels, proc["rss"]))
        if proc.get("memory_limit"):
            samples["worker_memory_limit_bytes"].append((labels, proc["memory_limit"]))
        restarts = supervisor.get("restarts", {}).get(proc["name"], 0)
        samples["worker_restarts_total"].append((labels, restarts))
    for group, status in sorted(group_status(supervisor.get("processes", []), sizes).items()):
        labels = {**base, "program": group}
        samples["worker_processes_up"].append((labels, status["running"]))
        samples["worker_processes_expected"].append((labels, status["expected"]))
    samples["stale_workers"].append((base, len(obs.get("stale", []))))
    fallback = obs.get("fallback")
    samples["fallback_active"].append((base, 1 if fallback and fallback.get("active") else 0))
    pause = obs.get("pause") or {}
    for program, mode in sorted(pause.get("programs", {}).items()):
        labels = {**base, "program": program, "mode": mode, "operator": pause["operator"]}
        samples["paused_since_timestamp_seconds"].append((labels, pause["since_ts"]))
    if "redis" in obs:
        samples["redis_up"].append((base, 1 if obs["redis"]["reachable"] else 0))
    for part in (obs.get("kinds") or {}).values():
        for name, labels, value in sys.modules[part["module"]].metric_samples(
            part["observed"], base
        ):
            samples[name].append((labels, value))
    running = bool(obs.get("facts", {}).get("supervisor", {}).get("running"))
    samples["supervisord_up"].append((base, 1 if running else 0))
    samples["scrape_timestamp_seconds"].append((base, round(obs.get("time", time.time()), 3)))
    lines = []
    for name, (kind, text) in declared.items():
        full = METRIC_PREFIX + name
        lines += [f"# HELP {full} {text}", f"# TYPE {full} {kind}"]
        for labels, value in samples[name]:
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            number = int(value) if float(value).is_integer() else value
            lines.append(f"{full}{{{rendered}}} {number}")
    return "\n".join(lines) + "\n"


def metrics(request: ObserveRequest) -> MetricsAnswer:
    return {"text": render_metrics(request.get("host", ""), observe(request))}


def refresh_forever(request: RefreshRequest) -> None:
    """The refresher `metrics --install` runs under supervisord: rewrite the textfile
    atomically every `interval` seconds (node_exporter must never read a half file)."""
    path = request["textfile"]
    while True:
        try:
            text = render_metrics(request.get("host", ""), observe(request))
        except Exception as exc:  # keep the last good file; say why in supervisord's log
            print(f"queueops metrics refresh failed: {exc}", flush=True)
        else:
            atomic_write(path, text)
        time.sleep(request["interval"])


def install_metrics(request: MetricsInstallRequest) -> MetricsInstallAnswer:
    """Write the refresher (this agent + its request) and its supervisor program; load it."""
    items = []
    for path, content, mode in (
        (request["runner_path"], request["source"], 0o700),
        (request["program_path"], request["program"], 0o644),
    ):
        if read_text(path) != content:
            atomic_write(path, content, mode)
            items.append(path)
    os.makedirs(os.path.dirname(request["textfile"]), exist_ok=True)
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
    except (OSError, AgentError) as exc:
        raise AgentError(
            f"supervisord did not load {request['program_path']}: {exc} "
            "(is it running? invoke setup-worker starts it)"
        ) from None
    deadline = time.monotonic() + 20
    while not os.path.exists(request["textfile"]):
        if time.monotonic() > deadline:
            raise AgentError(f"{request['textfile']} was not written within 20 s")
        time.sleep(0.2)
    return {"changed": items}


def stop_stale(request: StopStaleRequest) -> StopStaleAnswer:
    """SIGTERM the named hand-started workers (they finish their current job), SIGKILL after
    `timeout` s; a pid that is no longer a stale worker is left alone."""
    config = request["supervisor_config"]
    supervisord: set[int] = set()
    with contextlib.suppress(OSError, AgentError):
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


OPERATIONS: dict[str, Operation] = {
    "observe": observe,
    "metrics": metrics,
    "metrics_install": install_metrics,
    "stop_stale": stop_stale,
}
