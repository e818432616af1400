"""queueops' record of its own pause on a host (protocol.PauseMarker at PAUSE_STATE): who
paused what and when, so that status and verify tell a pause queueops made from an outage.
pause and pause-supervisor write it, continue and continue-supervisor take out what they
resumed, and it goes when nothing is paused any more; restart-queue refuses while it is
there (a restart would resume what the pause holds)."""

from __future__ import annotations

import contextlib
import json
import os
import time

from queueops.agent.common import atomic_write, read_text
from queueops.runbooks.protocol import PAUSE_STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.protocol import PauseMarker
    from queueops.runbooks.protocol import SignalRequest


def pause_marker(path: str = PAUSE_STATE) -> PauseMarker | None:
    """The pause marker (None: queueops paused nothing here); one that cannot be read is a
    pause of nothing by someone unknown, which the next pause or continue rewrites."""
    text = read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("programs"), dict):
        return {"operator": "?", "since": "?", "since_ts": 0.0, "task": "?",
                "programs": {}, "supervisors": []}  # fmt: skip
    marker: PauseMarker = {
        "operator": str(data.get("operator") or "?"),
        "since": str(data.get("since") or "?"),
        "since_ts": float(data.get("since_ts") or 0),
        "task": str(data.get("task") or "?"),
        "programs": {str(k): str(v) for k, v in data["programs"].items()},
        "supervisors": [str(s) for s in data.get("supervisors") or []],
    }
    return marker


def paused_note(marker: PauseMarker) -> str:
    what = [*marker["programs"], *(f"Horizon supervisor {s}" for s in marker["supervisors"])]
    return f"paused by {marker['operator']} at {marker['since']} ({', '.join(what) or 'nothing'})"


def write_marker(marker: PauseMarker | None, path: str = PAUSE_STATE) -> None:
    """Write the marker, or remove it when it holds nothing paused any more."""
    if marker and (marker["programs"] or marker["supervisors"]):
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        atomic_write(path, json.dumps(marker, sort_keys=True) + "\n", 0o644)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def paused_now(request: SignalRequest, old: PauseMarker | None) -> PauseMarker:
    """A marker for a pause starting now, keeping what an earlier pause still holds."""
    audit = request.get("audit") or {}
    return {
        "operator": str(audit.get("operator") or "?"),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "since_ts": round(time.time(), 3),
        "task": str(audit.get("task") or request["action"]),
        "programs": dict(old["programs"]) if old else {},
        "supervisors": list(old["supervisors"]) if old else [],
    }
