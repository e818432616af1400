"""What verify, status and metrics ask a host (one agent request), and the health class.

Every observation reads the host's facts (supervisord's programs, the app, the processes), the
app's queues and failed jobs, the fallback marker and stale workers; each kind adds its own
part (Kind.observe_request, answered by `observe()` of its host module) and grades it
(Kind.health). Thresholds (docs/status-and-metrics.md): a host is yellow at or above the
first figure, red at or above the second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.agent.supervisor_state import group_status
from queueops.health import HostHealth, grade, paused_by
from queueops.inventory.host import HostSettings
from queueops.kinds import KINDS
from queueops.kinds.base import Kind
from queueops.kinds.horizon.settings import configured_horizon
from queueops.kinds.workers.plan import facts_request
from queueops.kinds.workers.settings import worker_of
from queueops.observe import host
from queueops.observe.protocol import KindProbe, Observation, ObserveRequest
from queueops.runbooks.protocol import FALLBACK_STATE, PAUSE_STATE
from queueops.transport.session import HostSession

# (yellow from, red from)
FAILED_JOBS = (10, 50)
QUEUE_SIZE = (1_000, 5_000)
OLDEST_JOB_SECONDS = (2 * 3600, 6 * 3600)


def kinds_of(settings: HostSettings) -> list[Kind[Any, Any, Any]]:
    """The kinds whose settings the host has (every kind, once the host is validated)."""
    return [kind for kind in KINDS if kind.name in settings.kinds]


def queues_of(settings: HostSettings) -> list[str]:
    """The queues the host's programs work (the workers' and Horizon's), or the app's default
    queue."""
    names: list[str] = []
    for program in worker_of(settings).programs:
        names += [q for q in program.queues if q not in names]
    horizon = configured_horizon(settings)
    if horizon is not None:
        for _, sups in horizon.environments:
            for sup in sups:
                names += [q for q in sup.queue if q not in names]
    return names or ["default"]


def kind_probes(settings: HostSettings, deep: bool) -> dict[str, KindProbe]:
    """Each kind's part of the request, under the key its answer takes in the observation."""
    probes: dict[str, KindProbe] = {}
    for kind in kinds_of(settings):
        part = kind.observe_request(settings, deep)
        if part is not None and kind.observation is not None:
            probes[kind.observation] = {"module": kind.host_module, "request": part}
    return probes


def expected_programs(settings: HostSettings) -> dict[str, int]:
    """Every supervisor program the inventory gives the host, with its process count."""
    return {n: count for kind in kinds_of(settings) for n, count in kind.programs(settings).items()}


def observe_request(settings: HostSettings, sample: float = 0) -> ObserveRequest:
    worker = worker_of(settings)
    paths = tuple(path for kind in kinds_of(settings) for path in kind.observed_paths(settings))
    facts = facts_request(worker, tuple(dict.fromkeys(paths)))
    return {
        "op": "observe",
        "program_dirs": facts["program_dirs"],
        "supervisor_configs": facts["supervisor_configs"],
        "app_path": facts["app_path"],
        "php": worker.php,
        "app_users": facts["app_users"],
        "paths": facts["paths"],
        "queues": queues_of(settings),
        "fallback_path": FALLBACK_STATE,
        "pause_path": PAUSE_STATE,
        "sample": sample,
        # verify's observation (two readings) is the deep one.
        "kinds": kind_probes(settings, deep=sample > 0),
    }


def kind_modules(request: ObserveRequest) -> tuple[str, ...]:
    """The kinds' host modules the request asks by name: they travel with the program."""
    return tuple(sorted({probe["module"] for probe in request["kinds"].values()}))


def observe(session: HostSession, settings: HostSettings, sample: float = 0) -> Observation:
    request = observe_request(settings, sample)
    return session.call(host.observe, request, also=kind_modules(request))


def health(obs: Mapping[str, Any], settings: HostSettings) -> HostHealth:
    out = HostHealth()
    failed = obs.get("failed")
    if failed is not None and (level := grade(failed, FAILED_JOBS)) != "green":
        out.worse(level, f"{failed} failed jobs")
    for queue, figures in sorted((obs.get("queues") or {}).items()):
        size = figures["ready"] + figures["delayed"] + figures["reserved"]
        if (level := grade(size, QUEUE_SIZE)) != "green":
            out.worse(level, f"queue {queue} holds {size} jobs")
        oldest = figures.get("oldest_seconds")
        if oldest is not None and (level := grade(oldest, OLDEST_JOB_SECONDS)) != "green":
            out.worse(level, f"oldest job in {queue} waits {oldest / 3600:.1f} h")
    # Beyond the thresholds: what stops jobs from being processed at all.
    expected = expected_programs(settings)
    supervisord = obs["facts"]["supervisor"]["running"]
    if not supervisord and expected:
        out.worse("red", "supervisord is not running")
    processes = (obs.get("supervisor") or {}).get("processes", [])
    pause = obs.get("pause") or {}
    paused = pause.get("programs", {})
    for name, status in sorted(group_status(processes, expected).items()):
        mode = paused.get(name)
        stopped = sum(1 for s in status["states"] if s == "STOPPED")
        held = status["running"] + stopped == status["expected"] and stopped > 0
        if supervisord and mode == "stop" and held:
            # Stopped by `pause` (a graceful stop): a state the operator chose, not an outage.
            out.worse("yellow", f"program {name} paused by {paused_by(pause)} "
                                f"({stopped}/{status['expected']} stopped)")  # fmt: skip
        elif supervisord and status["running"] < status["expected"]:
            out.worse("red", f"program {name}: {status['running']}/{status['expected']} RUNNING")
        elif mode == "signal":
            out.worse("yellow", f"program {name} paused by {paused_by(pause)} (SIGUSR2)")
        elif mode == "stop":
            out.worse("yellow", f"program {name} was paused by {paused_by(pause)}, and runs")
    if obs.get("stale"):
        out.worse("yellow", f"{len(obs['stale'])} worker(s) running outside supervisor")
    if obs.get("redis") and obs["redis"].get("error") and obs.get("connection") == "redis":
        out.worse("red", obs["redis"]["error"])
    tls = (obs.get("redis") or {}).get("tls")
    if tls not in (None, "verified"):
        out.worse("yellow", f"the app's Redis at {obs['redis']['address']} over TLS: {tls}")
    if obs.get("fallback") and obs["fallback"].get("active"):
        out.worse("yellow", "fallback active")
    for kind in kinds_of(settings):
        kind.health(obs, settings, out)
    return out
