"""verify's, status's and metrics' requests to the host (see observe/host.py)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from queueops.kinds.redis.protocol import RedisTarget
from queueops.transport.protocol import FactsRequest

MODULE = "queueops.observe.host"
METRIC_PREFIX = "queueops_"
# Every metric the host renders: name → (type, help). Alert rules and dashboards use them.
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
    "horizon_up": ("gauge", "1 when horizon:status says running on this host."),
    "fallback_active": ("gauge", "1 when the fallback marker file says a fallback is active."),
    "redis_up": (
        "gauge",
        "1 when Redis answers: on an app host the app's Redis with the app's credentials, on "
        "a Redis host the server itself with its password.",
    ),
    "redis_memory_used_bytes": ("gauge", "Memory the Redis server uses (used_memory)."),
    "redis_memory_max_bytes": ("gauge", "The Redis server's maxmemory (0: no limit)."),
    "redis_connected_clients": ("gauge", "Clients connected to the Redis server."),
    "redis_rejected_connections_total": (
        "counter",
        "Connections the Redis server refused (maxclients reached).",
    ),
    "supervisord_up": ("gauge", "1 when supervisord answers on its socket."),
    "scrape_timestamp_seconds": ("gauge", "When these figures were taken."),
}


class HorizonProbe(TypedDict):
    php: str
    program: str


class ObserveRequest(FactsRequest):
    queues: list[str]
    fallback_path: str
    # Seconds between two supervisor readings (flapping); 0: one reading.
    sample: float
    horizon: NotRequired[HorizonProbe]
    # The inventory's name of the host, for the metrics' labels.
    host: NotRequired[str]
    # A host of the redis group: its Redis server is observed too.
    redis_server: NotRequired[RedisTarget]


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
