"""How many SSH connections a process holds: what --forks bounds, measured (tests, bench)."""

from __future__ import annotations

import subprocess


def ssh_connections(pid: int) -> int:
    """Established TCP connections to port 22 held by process `pid` (iproute2's ss)."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", "( dport = :22 )"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)
