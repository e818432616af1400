"""Laravel Horizon (role horizon): its supervisor program and config/horizon.php."""

from __future__ import annotations

from queueops.kinds.base import Kind
from queueops.kinds.horizon import job, lint, settings

KIND = Kind(
    name=settings.KIND,
    role="horizon",
    task="setup-horizon",
    help="Install Horizon's supervisor program and config/horizon.php; restart it only on change.",
    settings=settings.horizon_settings,
    lint=lint.lint,
    converge=job.setup_horizon,
    # Its rules compare timeouts with the workers' retry_after.
    needs=("workers",),
)
