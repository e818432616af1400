"""verify's checks of Horizon (collected by observe/verify/runner.py for this kind)."""

from __future__ import annotations

import pytest

from queueops.health import paused_by
from queueops.kinds.base import CheckTarget, observed
from queueops.kinds.horizon import KIND
from queueops.kinds.horizon.grading import recorded_pause
from queueops.kinds.horizon.settings import configured_horizon
from queueops.kinds.horizon.state import DOUBLED, PAUSED, RUNNING


def test_horizon_running(target: CheckTarget) -> None:
    """Where the inventory configures Horizon, one master must run on the host and take jobs:
    a pause queueops recorded (invoke pause) passes with a warning, a pause nobody recorded,
    no master or a second one fail."""
    if configured_horizon(target.settings) is None:
        pytest.skip("no Horizon configured for this host")
    horizon = observed(target.obs, KIND.observation)
    state = horizon["state"] if horizon else "unknown"
    detail = horizon["detail"] if horizon else "not observed"
    marker = target.obs.get("pause")
    if state == RUNNING:
        return
    if state == PAUSED and recorded_pause(marker):
        target.warn(f"Horizon paused by {paused_by(marker or {})}: invoke continue")
    elif state == PAUSED:
        pytest.fail(
            f"Horizon is paused here, and queueops recorded no pause: {detail}", pytrace=False
        )
    elif state == DOUBLED:
        pytest.fail(f"Horizon runs more than one master here: {detail}", pytrace=False)
    else:
        pytest.fail(f"Horizon is not running here ({state}): {detail}", pytrace=False)
