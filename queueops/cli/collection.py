"""The Invoke collection of every operator task (tasks.py adds the lab's for development)."""

from __future__ import annotations

from invoke.collection import Collection

from queueops.cli import converge, inventory, observe, runbooks


def collection() -> Collection:
    ns = Collection(
        *converge.CONVERGE_TASKS,
        converge.restart_queue,
        converge.render,
        converge.lint,
        converge.scale,
        inventory.inventory,
        runbooks.pause,
        runbooks.continue_,
        runbooks.pause_supervisor,
        runbooks.continue_supervisor,
        runbooks.terminate,
        runbooks.clear,
        runbooks.restore_jobs,
        runbooks.failed,
        runbooks.retry_failed,
        runbooks.flush_failed,
        runbooks.fallback_to_database,
        runbooks.restore_redis,
        observe.verify,
        observe.status,
        observe.metrics,
        observe.stop_stale_workers,
    )
    return ns
