"""Supervisor programs of queue:work workers (role queue_worker): setup-worker, restart-queue."""

from __future__ import annotations

from queueops.kinds.base import Kind
from queueops.kinds.workers import job, lint, settings

KIND = Kind(
    name=settings.KIND,
    role="queue_worker",
    task="setup-worker",
    help="Install and converge the supervisor programs of queue workers; prove they run.",
    settings=settings.worker_settings,
    lint=lint.lint,
    converge=job.setup_worker,
)
