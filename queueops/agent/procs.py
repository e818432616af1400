"""The host's queue:work and horizon processes, read from /proc, and which of them
supervisord runs."""

from __future__ import annotations

import os
import pwd

from queueops.agent.common import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.protocol import WorkerProcess


def worker_processes() -> list[WorkerProcess]:
    """Every `artisan queue:work` / `artisan horizon` process, with its parent and user."""
    found: list[WorkerProcess] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, ValueError, IndexError):
            continue
        if not any(a.endswith("artisan") for a in argv):
            continue
        if not any(a in ("queue:work", "horizon", "queue:listen") for a in argv):
            continue
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        found.append({"pid": int(entry), "ppid": ppid, "user": user, "args": " ".join(argv)})
    return found


def parent_map() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def children(pid: int) -> list[str]:
    parents = parent_map()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += [str(k) for k in kids]
        todo += kids
    return found


def supervised(pid: int, supervisord: set[int], parents: dict[int, int]) -> bool:
    """Whether supervisord is an ancestor of the process (Horizon's workers count too)."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        pid = parents.get(pid, 0)
        if pid in supervisord:
            return True
    return False


def stale_workers(supervisord: set[int]) -> list[WorkerProcess]:
    parents = parent_map()
    return [w for w in worker_processes() if not supervised(w["pid"], supervisord, parents)]


def process_rss(pid: int) -> int | None:
    """Resident memory of a process and its children (Horizon's workers), in bytes."""
    total, found = 0, False
    for entry in [str(pid), *children(pid)]:
        for line in (read_text(f"/proc/{entry}/status") or "").splitlines():
            fields = line.split()
            if fields[:1] == ["VmRSS:"] and len(fields) == 3 and fields[1].isdigit():
                total += int(fields[1]) * 1024
                found = True
    return total if found else None


def memory_limit(pid: int) -> int | None:
    """The worker's own `--memory=MB` (queue:work's soft limit), in bytes."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    for arg in argv:
        if arg.startswith("--memory=") and arg[len("--memory=") :].isdigit():
            return int(arg[len("--memory=") :]) * 1024 * 1024
    return None
