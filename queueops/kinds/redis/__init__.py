"""The queue Redis server (role redis_queue): tuned for queues, applied live."""

from __future__ import annotations

from queueops.kinds.base import Kind
from queueops.kinds.redis import job, lint, settings

KIND = Kind(
    name=settings.KIND,
    role="redis_queue",
    task="tune-redis",
    help="Redis settings for queue use: a drop-in file, applied live with CONFIG SET (no restart).",
    settings=settings.redis_settings,
    lint=lint.lint,
    converge=job.tune_redis,
)
