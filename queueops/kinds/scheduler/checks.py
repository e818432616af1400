"""verify's checks of the Laravel scheduler (collected by observe/verify/runner.py)."""

from __future__ import annotations

import pytest

from queueops.kinds.base import CheckTarget, observed
from queueops.kinds.scheduler import KIND, STALE_SECONDS, describe_entry


def test_scheduler_running(target: CheckTarget) -> None:
    """On a host of the scheduler group, the scheduler must run: its cron entry with cron
    running (or its schedule:work program RUNNING), and a run within the last minutes.
    Without it no scheduled task runs: failed jobs pile up, Horizon's metrics stay empty."""
    if not KIND.of(target.settings).configured:
        pytest.skip("not a host of the scheduler group")
    seen = observed(target.obs, KIND.observation)
    if not seen["entry"] or not seen["running"]:
        pytest.fail(describe_entry(seen) + " (invoke setup-scheduler)", pytrace=False)
    last_run, now = seen["last_run"], seen["now"]
    if last_run is not None and now - last_run <= STALE_SECONDS:
        return
    since = seen["entry_since"]
    if since is not None and now - since <= STALE_SECONDS:
        target.warn(f"no run seen yet: the entry is {now - since:.0f} s old")
        return
    when = "never" if last_run is None else f"{now - last_run:.0f} s ago"
    pytest.fail(f"the scheduler last ran {when} (it runs every minute)", pytrace=False)


def test_schedule_keeps_the_queue_tidy(target: CheckTarget) -> None:
    """The app's schedule should prune failed jobs (queue:prune-failed), or failed_jobs grows
    forever; where the app has Horizon, it should take Horizon's snapshot (horizon:snapshot),
    or Horizon's metrics stay empty. Either missing is a warning."""
    if not KIND.of(target.settings).configured:
        pytest.skip("not a host of the scheduler group")
    seen = observed(target.obs, KIND.observation)
    if seen["scheduled"] is None:
        if seen["entry"]:
            pytest.fail(str(seen["error"]), pytrace=False)
        pytest.skip("no scheduler entry here (see scheduler_running)")
    scheduled = " ".join(seen["scheduled"])
    if "queue:prune-failed" not in scheduled:
        target.warn("queue:prune-failed is not scheduled: the failed-job store grows forever")
    if seen["horizon_installed"] and "horizon:snapshot" not in scheduled:
        target.warn("horizon:snapshot is not scheduled: Horizon's metrics stay empty")
