"""Horizon's grade in `status` and its cell, from the host's reading of it (state.py) and
queueops' record of its own pause (protocol.PauseMarker): a pause queueops made is a state,
yellow with who and when; one nobody recorded, no master, or two masters are red."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueops.health import Health, paused_by
from queueops.kinds.horizon.state import DOUBLED, PAUSED, RUNNING


def recorded_pause(marker: Mapping[str, Any] | None) -> bool:
    """Whether queueops' pause marker says it paused Horizon here."""
    return bool(marker) and "horizon" in (marker or {}).get("programs", {}).values()


def short_name(supervisor: str) -> str:
    """supervisor-1 of `app1-abcd:supervisor-1`."""
    return supervisor.split(":", 1)[-1]


def grade_horizon(
    horizon: Mapping[str, Any], marker: Mapping[str, Any] | None
) -> list[tuple[Health, str]]:
    state, detail = horizon["state"], horizon["detail"]
    recorded = recorded_pause(marker)
    who = paused_by(marker) if marker else ""
    out: list[tuple[Health, str]] = []
    if state == PAUSED and recorded:
        out.append(("yellow", f"Horizon paused by {who} (invoke continue)"))
    elif state == PAUSED:
        out.append(("red", f"Horizon is paused, and queueops recorded no pause: {detail}"))
    elif state == RUNNING and recorded:
        out.append(
            ("yellow", f"Horizon was paused by {who} but works: a restarted master forgets it")
        )
    elif state == DOUBLED:
        out.append(("red", f"Horizon doubled: {detail}"))
    elif state != RUNNING:
        out.append(("red", f"Horizon is not running ({state}): {detail}"))
    if state == RUNNING:
        # pause-supervisor leaves the master running: its supervisor takes no job.
        paused = [short_name(s["name"]) for s in horizon["supervisors"] if s["status"] == PAUSED]
        ours = (marker or {}).get("supervisors", [])
        for name in paused:
            why = f"by {who}" if name in ours else "and queueops recorded no pause"
            out.append(("yellow", f"Horizon supervisor {name} is paused {why}"))
    return out


def state_cell(horizon: Mapping[str, Any]) -> str:
    """Horizon's cell in `status`: its state, capitals where it is red-worthy."""
    state = str(horizon["state"])
    if state == DOUBLED:
        return f"{len(horizon['masters'])} MASTERS"
    return state if state in (RUNNING, PAUSED) else state.upper()
