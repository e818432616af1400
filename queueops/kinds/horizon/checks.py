"""verify's checks of Horizon (collected by observe/verify/runner.py for this kind)."""

from __future__ import annotations

import pytest

from queueops.kinds.base import CheckTarget, observed
from queueops.kinds.horizon import KIND
from queueops.kinds.horizon.settings import configured_horizon


def test_horizon_running(target: CheckTarget) -> None:
    """Where the inventory configures Horizon, `horizon:status` must say it is running."""
    if configured_horizon(target.settings) is None:
        pytest.skip("no Horizon configured for this host")
    state = observed(target.obs, KIND.observation) or {"running": False, "status": "not observed"}
    if not state["running"]:
        pytest.fail(f"Horizon is not running here: {state['status']}", pytrace=False)
