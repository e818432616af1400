"""invoke status: one table of the fleet (programs, memory, queues, failed jobs, Horizon,
fallback, health class), from one observation per host, hosts in parallel."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queueops.inventory.host import HostSettings
from queueops.kinds.workers.settings import worker_of
from queueops.observe.observation import HostHealth, health, memory_limits, observe
from queueops.transport.fleet import Reach, failure_text, fleet_map
from queueops.transport.session import Gateways, HostSession


@dataclass
class HostStatus:
    host: str
    settings: HostSettings
    observation: dict[str, Any] | None = None
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


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024 / 1024:.0f}M"


def host_document(status: HostStatus) -> dict[str, Any]:
    grade = status.health
    doc: dict[str, Any] = {"health": grade.health, "reasons": grade.reasons}
    obs = status.observation
    if obs is None:
        return {**doc, "error": status.error}
    limits = memory_limits(status.settings)
    programs: dict[str, Any] = {}
    for proc in obs["supervisor"]["processes"]:
        entry = programs.setdefault(
            proc["group"], {"running": 0, "processes": 0, "states": {}, "workers": []}
        )
        entry["processes"] += 1
        entry["running"] += proc["state"] == "RUNNING"
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
        "horizon": obs.get("horizon"),
        "fallback": obs.get("fallback"),
        "stale_workers": obs.get("stale", []),
        "redis": obs.get("redis"),
        "redis_server": obs.get("redis_server"),
    }


def to_json(statuses: Sequence[HostStatus]) -> str:
    return json.dumps(
        {"task": "status", "hosts": {s.host: host_document(s) for s in statuses}}, indent=2
    )


def _programs_cell(doc: Mapping[str, Any]) -> str:
    parts = []
    for name, p in sorted(doc["programs"].items()):
        states = sorted(set(p["states"].values()))
        mem = "/".join(_mib(w["memory_bytes"]) for w in p["workers"])
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


def _redis_cell(server: Mapping[str, Any] | None) -> str:
    if server is None:
        return "-"
    if not server["up"]:
        return "DOWN"
    used = _mib(server["used_memory"])
    if not server["maxmemory"]:
        return f"up {used} (no maxmemory) {server['policy']}"
    percent = 100 * server["used_memory"] / server["maxmemory"]
    return f"up {used}/{_mib(server['maxmemory'])} ({percent:.0f}%) {server['policy']}"


def to_text(statuses: Sequence[HostStatus]) -> str:
    rows = [("host", "health", "programs (running/total, states, memory)", "queues r/d/res",
             "failed", "horizon", "fallback", "redis server")]  # fmt: skip
    notes = []
    for s in statuses:
        doc = host_document(s)
        if "error" in doc:
            rows.append((s.host, doc["health"], f"unreachable: {doc['error']}", "", "", "", "", ""))
            continue
        horizon = doc["horizon"]
        fallback = doc["fallback"]
        rows.append(
            (
                s.host,
                doc["health"],
                _programs_cell(doc)
                if doc["supervisord"]
                else "supervisord not running"
                if worker_of(s.settings).programs
                else "-",
                _queues_cell(doc),
                "-" if doc["failed_jobs"] is None else str(doc["failed_jobs"]),
                "-" if horizon is None else ("running" if horizon["running"] else "DOWN"),
                "active" if fallback and fallback.get("active") else "-",
                _redis_cell(doc["redis_server"]),
            )
        )
        notes += [f"  {s.host}: {r}" for r in doc["reasons"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    if notes:
        lines += ["", "why:", *notes]
    return "\n".join(lines)
