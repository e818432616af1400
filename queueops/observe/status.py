"""invoke status: one table of the fleet (programs, memory, queues, failed jobs, fallback,
queueops' pause, Horizon, health class), from one observation per host, hosts in parallel."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queueops.agent.supervisor_state import group_status
from queueops.health import HostHealth, mib, paused_by
from queueops.inventory.host import HostSettings
from queueops.kinds.base import observed
from queueops.kinds.workers import memory_limits
from queueops.observe.observation import expected_programs, health, kinds_of, observe
from queueops.observe.protocol import Observation
from queueops.transport.fleet import Reach, failure_text, fleet_map
from queueops.transport.session import Gateways, HostSession


@dataclass
class HostStatus:
    host: str
    settings: HostSettings
    observation: Observation | None = None
    error: str | None = None

    @property
    def health(self) -> HostHealth:
        if self.observation is None:
            out = HostHealth()
            out.worse("red", f"unreachable: {self.error}")
            return out
        return health(self.observation, self.settings)


def collect(hosts: Sequence[HostSettings], reach: Reach | None = None) -> list[HostStatus]:
    reach = reach or Reach()
    gateways = Gateways(reach.accept_new_host_keys)

    def one(settings: HostSettings) -> HostStatus:
        result = HostStatus(settings.name, settings)
        session = HostSession(
            settings.name, settings.connection, reach.accept_new_host_keys, gateways
        )
        try:
            with session:
                result.observation = observe(session, settings)
        except Exception as exc:  # one host's surprise must not hide the others
            result.error = failure_text(settings.name, exc)
        return result

    try:
        return fleet_map(hosts, one, reach.forks)
    finally:
        gateways.close()


def host_document(status: HostStatus) -> dict[str, Any]:
    grade = status.health
    doc: dict[str, Any] = {"health": grade.health, "reasons": grade.reasons}
    obs = status.observation
    if obs is None:
        return {**doc, "error": status.error}
    limits = memory_limits(status.settings)
    processes = obs["supervisor"]["processes"]
    sizes: dict[str, int] = {}
    for proc in processes:
        sizes[proc["group"]] = sizes.get(proc["group"], 0) + 1
    programs: dict[str, Any] = {
        group: {"running": s["running"], "processes": s["processes"], "states": {},
                "workers": []}
        for group, s in group_status(processes, sizes).items()
    }  # fmt: skip
    for proc in processes:
        entry = programs[proc["group"]]
        entry["states"][proc["name"]] = proc["state"]
        limit = limits.get(proc["group"])
        entry["workers"].append(
            {
                "name": proc["name"],
                "pid": proc["pid"],
                "state": proc["state"],
                "uptime": proc["uptime"],
                "memory_bytes": proc["rss"],
                "memory_limit_bytes": limit,
                "restarts": obs["supervisor"]["restarts"].get(proc["name"], 0),
            }
        )
    return {
        **doc,
        "supervisord": obs["facts"]["supervisor"]["running"],
        "connection": obs.get("connection"),
        "programs": programs,
        "queues": obs.get("queues", {}),
        "failed_jobs": obs.get("failed"),
        "fallback": obs.get("fallback"),
        # queueops' record of its pause here: who paused which programs, and when.
        "pause": obs.get("pause"),
        "stale_workers": obs.get("stale", []),
        "redis": obs.get("redis"),
        # Each kind's part (horizon, redis_server, ...): null where it observed nothing.
        **{
            kind.observation: observed(obs, kind.observation)
            for kind in kinds_of(status.settings)
            if kind.observation
        },
    }


def to_json(statuses: Sequence[HostStatus]) -> str:
    return json.dumps(
        {"task": "status", "hosts": {s.host: host_document(s) for s in statuses}}, indent=2
    )


def _programs_cell(doc: Mapping[str, Any]) -> str:
    parts = []
    for name, p in sorted(doc["programs"].items()):
        states = sorted(set(p["states"].values()))
        mem = "/".join(mib(w["memory_bytes"]) for w in p["workers"])
        parts.append(f"{name} {p['running']}/{p['processes']} {','.join(states)} mem {mem}")
    return "; ".join(parts) or "-"


def _queues_cell(doc: Mapping[str, Any]) -> str:
    parts = []
    for name, q in sorted(doc["queues"].items()):
        cell = f"{name} {q['ready']}/{q['delayed']}/{q['reserved']}"
        if q.get("oldest_seconds") is not None:
            cell += f" oldest {q['oldest_seconds'] / 60:.0f}m"
        parts.append(cell)
    return "; ".join(parts) or "-"


def to_text(statuses: Sequence[HostStatus]) -> str:
    kinds = [k for k in kinds_of(statuses[0].settings) if k.status_column] if statuses else []
    header = ["host", "health", "programs (running/total, states, memory)", "queues r/d/res",
              "failed", "fallback", "paused"]  # fmt: skip
    rows = [tuple(header + [str(k.status_column) for k in kinds])]
    notes = []
    for s in statuses:
        doc = host_document(s)
        if "error" in doc:
            unreachable = [s.host, doc["health"], f"unreachable: {doc['error']}"]
            rows.append(tuple(unreachable + [""] * (len(rows[0]) - 3)))
            continue
        fallback = doc["fallback"]
        if doc["supervisord"]:
            programs = _programs_cell(doc)
        else:
            programs = "supervisord not running" if expected_programs(s.settings) else "-"
        cells = [
            s.host,
            doc["health"],
            programs,
            _queues_cell(doc),
            "-" if doc["failed_jobs"] is None else str(doc["failed_jobs"]),
            "active" if fallback and fallback.get("active") else "-",
            paused_by(doc["pause"]) if doc["pause"] else "-",
        ]
        assert s.observation is not None
        rows.append(tuple(cells + [k.status_cell(s.observation) for k in kinds]))
        notes += [f"  {s.host}: {r}" for r in doc["reasons"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    if notes:
        lines += ["", "why:", *notes]
    return "\n".join(lines)
