"""One reading of Horizon's state on a host, from what the host shows (pure, standard library
only: it runs on hosts, and status, verify, the runbooks and restart-queue share it).

Every Horizon 5.x registers each master in Redis: `masters` (a sorted set scored by the last
heartbeat) and `master:NAME` (name, pid, status running|paused; it expires 15 s after the
last heartbeat), and counts a master alive for 14 s after its heartbeat. A master named after
this machine (`<slugged hostname>-<4 characters>`) whose pid is a live `artisan horizon`
process here is this host's master. What no release's output tells: a master SIGKILLed a
moment ago still counts for `horizon:status` (its pid is gone here), a terminating one
already unregistered while it finishes its jobs (its process still runs), and a second
`php artisan horizon` on the same host is a second master, which Horizon never refuses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RUNNING = "running"
PAUSED = "paused"
INACTIVE = "inactive"
ABSENT = "absent"
DOUBLED = "doubled"
UNKNOWN = "unknown"
STATES = (RUNNING, PAUSED, INACTIVE, ABSENT, DOUBLED, UNKNOWN)

# Horizon counts a master alive while its heartbeat is younger than this (seconds).
MASTER_FRESH = 14
# Its random token: Str::random(4).
TOKEN_LENGTH = 4


def own_name(name: str, slug: str) -> bool:
    """Whether a master name is this machine's: the slugged hostname, a dash and Horizon's
    4-character token. Horizon's own commands test only the prefix (host `app1` would take
    `app10-abcd` for its own); this reading does not."""
    token = name[len(slug) + 1 :]
    return (
        name.startswith(slug + "-")
        and len(token) == TOKEN_LENGTH
        and token.isascii()
        and token.isalnum()
    )


def master_process(args: str) -> bool:
    """Whether a process's command line is a Horizon master: PHP running `artisan horizon`
    (not a runuser, sudo or shell that started one: they are no second master)."""
    words = args.split()
    if not words or not words[0].rsplit("/", 1)[-1].startswith("php"):
        return False
    for i, word in enumerate(words[:-1]):
        if word.endswith("artisan"):
            return words[i + 1] == "horizon"
    return False


def status_says(text: str, code: int) -> str | None:
    """What `horizon:status` says, from any 5.x: its text, else its exit code where that is
    unambiguous (0 running, 2 inactive from 5.25; 1 is paused, or inactive up to 5.24)."""
    for state in (RUNNING, PAUSED, INACTIVE):
        if f"Horizon is {state}." in text:
            return state
    return {0: RUNNING, 2: INACTIVE}.get(code)


def _where(pid: int, supervised: set[int]) -> str:
    return f"pid {pid} ({'supervisord' if pid in supervised else 'outside supervisord'})"


def read_state(
    program: dict[str, Any] | None,
    processes: list[dict[str, Any]],
    masters: list[dict[str, Any]] | None,
    installed: bool | None,
    now: float,
) -> dict[str, Any]:
    """The host's Horizon: its state (STATES), why, and its masters.

    `program`: supervisord's process of Horizon's program ({name, state, pid}; None: not
    loaded). `processes`: the `artisan horizon` processes here ({pid, ppid, user, args}).
    `masters`: this machine's registrations ({name, pid, status, heartbeat, ttl}; None:
    Redis could not be read). `installed`: whether the app has Horizon (None: unknown).
    """
    program_pid = int(program["pid"]) if program and program.get("pid") else 0
    supervised = {int(p["pid"]) for p in processes if program_pid in (p["pid"], p["ppid"])}
    alive = {int(p["pid"]) for p in processes}
    fresh = [
        m for m in (masters or []) if now - float(m["heartbeat"]) < MASTER_FRESH and m["ttl"] != -2
    ]
    by_pid = {int(m["pid"]): m for m in fresh if int(m["pid"]) in alive}
    found = [
        {
            "pid": int(p["pid"]),
            "user": p["user"],
            "supervised": int(p["pid"]) in supervised,
            "name": by_pid[int(p["pid"])]["name"] if int(p["pid"]) in by_pid else None,
            "status": by_pid[int(p["pid"])]["status"] if int(p["pid"]) in by_pid else None,
        }
        for p in sorted(processes, key=lambda p: int(p["pid"]))
    ]
    gone = [m for m in fresh if int(m["pid"]) not in alive]
    notes = [
        f"master {m['name']} (pid {m['pid']}) is registered but gone here; Horizon counts it "
        f"for another {max(0, MASTER_FRESH - round(now - float(m['heartbeat'])))} s"
        for m in gone
    ]
    state, why = _state(program, found, masters, installed, supervised)
    return {
        "state": state,
        "detail": "; ".join([why, *notes]) if why else "; ".join(notes),
        "masters": found,
        "gone": [{"name": m["name"], "pid": int(m["pid"])} for m in gone],
    }


def _state(
    program: dict[str, Any] | None,
    found: list[dict[str, Any]],
    masters: list[dict[str, Any]] | None,
    installed: bool | None,
    supervised: set[int],
) -> tuple[str, str]:
    name = program["name"] if program else None
    if len(found) > 1:
        pids = ", ".join(
            _where(m["pid"], supervised) + (f" {m['status']}" if m["status"] else " unregistered")
            for m in found
        )
        return DOUBLED, f"{len(found)} masters on this host: {pids}"
    if found:
        master = found[0]
        where = _where(master["pid"], supervised)
        if masters is None:
            return UNKNOWN, f"master {where} runs, but its registration could not be read"
        if master["status"] is None:
            return INACTIVE, (
                f"master {where} runs unregistered: it is terminating (finishing its jobs) "
                "or cannot reach Redis"
            )
        state = PAUSED if master["status"] == PAUSED else RUNNING
        return state, f"master {master['name']} {where}"
    if installed is False:
        return ABSENT, "the app has no Horizon (its configuration has no horizon Redis connection)"
    if program is None:
        return ABSENT, "supervisord has no Horizon program: run setup-horizon"
    return INACTIVE, f"no master runs (program {name} is {program['state']})"
