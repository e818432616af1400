"""A host's health class (green, yellow, red) and the reasons for it: every kind grades what
it observes into the same HostHealth (docs/status-and-metrics.md gives the thresholds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Health = Literal["green", "yellow", "red"]
RANK: dict[Health, int] = {"green": 0, "yellow": 1, "red": 2}


@dataclass
class HostHealth:
    health: Health = "green"
    reasons: list[str] = field(default_factory=list)

    def worse(self, level: Health, reason: str) -> None:
        if RANK[level] > RANK[self.health]:
            self.health = level
        self.reasons.append(f"{level}: {reason}")


def grade(value: float, limits: tuple[float, float]) -> Health:
    """Yellow at or above the first figure, red at or above the second."""
    if value >= limits[1]:
        return "red"
    if value >= limits[0]:
        return "yellow"
    return "green"


def mib(value: int | None) -> str:
    """Bytes as whole mebibytes for a table cell ("-": not known)."""
    return "-" if value is None else f"{value / 1024 / 1024:.0f}M"


def paused_by(marker: Mapping[str, Any]) -> str:
    """Who paused a host and when, from queueops' pause marker (protocol.PauseMarker)."""
    return f"{marker.get('operator') or '?'} at {marker.get('since') or '?'}"
