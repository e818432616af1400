"""queueops' own checks: each test is one check; its docstring says why it exists.

Each receives `target` (inventory settings + one observation of the host, taken by the queueops
agent through testinfra's ssh backend) and may use testinfra's `host`.
"""

from __future__ import annotations

import copy
import shlex

import pytest

from queueops.agent.supervisor_state import group_status
from queueops.errors import QueueopsError
from queueops.health import paused_by
from queueops.observe.observation import expected_programs, kinds_of
from queueops.observe.verify.target import Target


def fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def managed_programs(target: Target) -> dict[str, int]:
    """Program name → process count, for every program the inventory gives this host."""
    return expected_programs(target.settings)


def test_supervisord_running(target: Target) -> None:
    """supervisord must run and answer on its socket: it starts and restarts every worker."""
    if not managed_programs(target):
        pytest.skip("the inventory gives this host no worker or Horizon program")
    sup = target.obs["facts"]["supervisor"]
    if not sup["running"]:
        where = "installed" if sup["installed"] else "not even installed"
        fail(f"supervisord does not answer on its socket (it is {where}); run setup-worker")


def test_programs_running(target: Target) -> None:
    """Every program queueops manages must have all its processes RUNNING, none flapping:
    a missing or restarting worker leaves its queues unprocessed. A program `pause` stopped
    (queueops' pause marker says so) passes with a warning until `continue`."""
    expected = managed_programs(target)
    if not expected:
        pytest.skip("the inventory gives this host no worker or Horizon program")
    if not target.obs["facts"]["supervisor"]["running"]:
        pytest.skip("supervisord is not running (see supervisord_running)")
    processes = target.obs["supervisor"]["processes"]
    pause = target.obs.get("pause") or {}
    problems = []
    for name, status in sorted(group_status(processes, expected).items()):
        procs = [p for p in processes if p["group"] == name]
        stopped = [p for p in procs if p["state"] == "STOPPED"]
        if not procs:
            problems.append(f"program {name} is not loaded in supervisord")
        elif (
            pause.get("programs", {}).get(name) == "stop"
            and stopped
            and status["running"] + len(stopped) == status["expected"]
        ):
            target.warn(f"program {name} paused by {paused_by(pause)}: invoke continue")
        elif not status["ok"]:
            states = ", ".join(f"{p['name']} {p['state']}" for p in procs)
            problems.append(
                f"program {name}: {status['running']}/{status['expected']} RUNNING ({states})"
            )
        flapping = [p["name"] for p in procs if p["flapping"]]
        if flapping:
            problems.append(
                f"program {name} is flapping (restarted or left RUNNING while observed): "
                + ", ".join(flapping)
            )
    if problems:
        fail("; ".join(problems))


def test_managed_files_match_inventory(target: Target) -> None:
    """The supervisor programs (and Horizon's files) on disk must be exactly what the inventory
    renders: a hand edit (drift) runs workers nobody reviewed and setup-worker will undo."""
    facts = copy.deepcopy(target.obs["facts"])
    facts["lock"] = None
    # The connection check reports a stale config cache; drift is about the files.
    facts["app"]["cached_queue_connection"] = None
    try:
        changes = [
            c for kind in kinds_of(target.settings) for c in kind.drift(target.settings, facts)
        ]
    except QueueopsError as exc:
        fail(f"cannot render what the inventory wants here: {str(exc).split(': ', 1)[-1]}")
        return
    if changes:
        fail(
            "; ".join(f"{c.path}: {c.action} needed" for c in changes)
            + " (invoke setup-worker --diff --check shows the differences)"
        )


def queue_work_connection(args: str) -> str | None:
    """The connection argument of `artisan queue:work CONNECTION` (None: the default one)."""
    words = shlex.split(args)
    if "queue:work" not in words:
        return None
    rest = words[words.index("queue:work") + 1 :]
    return rest[0] if rest and not rest[0].startswith("-") else None


def test_worker_connection_matches_app(target: Target) -> None:
    """Workers must wait on the connection the app dispatches to: .env QUEUE_CONNECTION and the
    cached config must agree, and every supervised queue:work must use that connection.
    Otherwise jobs pile up unseen."""
    app = target.obs["facts"]["app"]
    if not app["env_exists"] and not managed_programs(target):
        pytest.skip(f"no app at {app['path']} and no worker program here")
    env = app["queue_connection"]
    problems = []
    cached = app.get("cached_queue_connection")
    if cached and env and cached != env:
        problems.append(
            f"bootstrap/cache/config.php dispatches to {cached!r} but .env says "
            f"QUEUE_CONNECTION={env!r}: run php artisan config:cache"
        )
    dispatches_to = cached or env
    stale = {w["pid"] for w in target.obs["stale"]}
    for worker in target.obs["facts"]["workers"]:
        if worker["pid"] in stale or "queue:work" not in worker["args"]:
            continue
        connection = queue_work_connection(worker["args"]) or dispatches_to
        if connection != dispatches_to:
            problems.append(
                f"pid {worker['pid']} runs queue:work {connection} but the app dispatches to "
                f"{dispatches_to!r} ({worker['args']})"
            )
    if problems:
        fail("; ".join(problems))


def test_no_stale_workers(target: Target) -> None:
    """No queue:work or horizon process may run outside supervisor: a worker started by hand
    runs old code forever, ignores deploys and restarts, and dies with its terminal."""
    stale = target.obs["stale"]
    if stale:
        fail(
            "; ".join(f"pid {w['pid']} (user {w['user']}): {w['args']}" for w in stale)
            + f" — stop them with: invoke stop-stale-workers --host {target.name}"
        )


def test_redis_reachable_noeviction(target: Target) -> None:
    """The app's Redis must answer with the app's own .env credentials and use
    maxmemory-policy noeviction: an evicting policy silently drops queued jobs."""
    redis = target.obs.get("redis")
    if target.obs.get("connection") != "redis" or redis is None:
        pytest.skip(f"the app dispatches to {target.obs.get('connection')!r}, not redis")
    if not redis["reachable"] or redis.get("error"):
        fail(str(redis["error"]))
    if redis["policy"] is None:
        pytest.skip("CONFIG GET maxmemory-policy is not allowed here: check it at the provider")
    if redis["policy"] != "noeviction":
        fail(
            f"Redis at {redis['address']} has maxmemory-policy {redis['policy']}, which may "
            "evict queued jobs; set noeviction (invoke tune-redis)"
        )


def test_fallback_inactive(target: Target) -> None:
    """A host must not be left in a fallback (the runbook's marker file says when it is):
    jobs then go elsewhere and the normal workers sit idle."""
    fallback = target.obs.get("fallback")
    if fallback and fallback.get("active"):
        details = ", ".join(f"{k}={v}" for k, v in fallback.items() if k not in ("active", "path"))
        fail(f"fallback active per {fallback['path']}" + (f": {details}" if details else ""))
