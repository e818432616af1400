"""verify's, status's and metrics' requests to the host (see observe/host.py)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from queueops.protocol import Facts, FactsRequest, PauseMarker, WorkerProcess

MODULE = "queueops.observe.host"
METRIC_PREFIX = "queueops_"
# Every observation's metrics: name → (type, help); each kind's host module declares its own
# (METRICS). Alert rules and dashboards use them.
METRICS = {
    "queue_jobs": ("gauge", "Jobs in a queue, by state (ready, delayed, reserved)."),
    "queue_oldest_job_age_seconds": ("gauge", "Age of the oldest ready job, when known."),
    "failed_jobs": (
        "gauge",
        "Failed jobs in the app's failed-job store (hosts sharing it report the same store).",
    ),
    "worker_processes_up": ("gauge", "Processes of a supervisor program in RUNNING."),
    "worker_processes_expected": ("gauge", "Processes a supervisor program has (numprocs)."),
    "worker_memory_bytes": ("gauge", "Resident memory of a worker process (with children)."),
    "worker_memory_limit_bytes": ("gauge", "The worker's queue:work --memory limit."),
    "worker_restarts_total": ("counter", "Exits of a worker process in supervisord's log."),
    "stale_workers": ("gauge", "queue:work/horizon processes running outside supervisor."),
    "fallback_active": ("gauge", "1 when the fallback marker file says a fallback is active."),
    "paused_since_timestamp_seconds": (
        "gauge",
        "When queueops paused a program (mode signal, stop, or horizon for Horizon's), by "
        "operator: its pause marker, present until invoke continue.",
    ),
    "redis_up": (
        "gauge",
        "1 when Redis answers: on an app host the app's Redis with the app's credentials, on "
        "a Redis host the server itself with its password.",
    ),
    "supervisord_up": ("gauge", "1 when supervisord answers on its socket."),
    "scrape_timestamp_seconds": ("gauge", "When these figures were taken."),
}


class KindProbe(TypedDict):
    """A kind's part of an observation: `observe(request, facts)` of its host module."""

    module: str
    request: dict[str, Any]


class ObserveRequest(FactsRequest):
    queues: list[str]
    fallback_path: str
    pause_path: str
    # Seconds between two supervisor readings (flapping); 0: one reading.
    sample: float
    # Each kind's part, by the key its answer takes in the observation.
    kinds: dict[str, KindProbe]
    # The inventory's name of the host, for the metrics' labels.
    host: NotRequired[str]


class QueueFigures(TypedDict):
    ready: int
    delayed: int
    reserved: int
    # Age of the oldest ready job, where the payload records when it was pushed.
    oldest_seconds: float | None


class KindObserved(TypedDict):
    """A kind's answer in an observation, and the host module that gave it (its metrics)."""

    module: str
    observed: dict[str, Any]


class Observation(TypedDict):
    """One host observed: the answer of `observe` (observe/host.py)."""

    facts: Facts
    # supervisord's pid, each process with uptime, memory and flapping, restarts per process.
    supervisor: dict[str, Any]
    # queue:work and horizon processes outside supervisor.
    stale: list[WorkerProcess]
    fallback: dict[str, Any] | None
    # queueops' record of its pause here (None: nothing paused by queueops).
    pause: PauseMarker | None
    # The queue connection the app dispatches to.
    connection: str
    time: float
    kinds: dict[str, KindObserved]
    # Where the app is deployed: its failed-job store, its count, the queues' figures, and
    # whether the app's Redis answers (with its address, never its password).
    failed_store: NotRequired[dict[str, str]]
    failed: NotRequired[int | None]
    database_error: NotRequired[str | None]
    queues: NotRequired[dict[str, QueueFigures]]
    redis: NotRequired[dict[str, Any]]


class MetricsAnswer(TypedDict):
    text: str


class MetricsInstallAnswer(TypedDict):
    # What was written or (re)loaded.
    changed: list[str]


class StopStaleAnswer(TypedDict):
    # {pid, args?, result} per pid asked for.
    stopped: list[dict[str, Any]]


class RefreshRequest(ObserveRequest):
    textfile: str
    interval: int


class MetricsInstallRequest(TypedDict):
    op: str
    # The refresher: a whole agent program that runs refresh_forever on its own.
    source: str
    textfile: str
    runner_path: str
    program_name: str
    program_path: str
    program: str
    supervisor_config: str


class StopStaleRequest(TypedDict):
    op: str
    pids: list[int]
    timeout: float
    supervisor_config: str | None
