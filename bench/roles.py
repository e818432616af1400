"""The Ansible roles against `invoke setup-worker` on the same N lab hosts, same run.

For each arm, from fresh hosts: the first run (supervisord started, programs written and
proven RUNNING), then the no-op rerun (median of --repeat). Both arms install the same
rendered files (the roles render them with queueops). Prints figures and ratios; asserts
nothing. Needs root; stops the lab at the end.
Usage: .venv/bin/python -m bench.roles [--hosts 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.setup_worker import INVOKE, timed, write_inventory
from queueops.lab import control
from queueops.lab.fleet import LabPaths, repo_root

BIN = Path(sys.executable).parent


def playbook(inventory: Path, forks: int) -> tuple[float, dict[str, int]]:
    """ansible-playbook site.yml, tuned as Ansible fleets tune it (ansible.cfg: pipelining,
    ControlPersist; forks = hosts); its wall time and the total `changed` of the recap."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), "--forks", str(forks),
            str(repo_root() / "playbooks" / "site.yml")]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{result.stdout[-3000:]}\n{result.stderr}")
    totals = {"changed": 0, "failed": 0}
    for key in totals:
        totals[key] = sum(int(v) for v in re.findall(rf"\b{key}=(\d+)", result.stdout))
    return took, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = LabPaths.default()
    rows: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        inv = write_inventory(Path(tmp), paths, args.hosts)
        argv = [INVOKE, "setup-worker", "-i", str(inv), "--all", "--json"]

        control.down(paths)
        control.up(args.hosts, paths)
        first, doc = timed(argv)
        assert doc["summary"]["changed"] == args.hosts, doc["summary"]
        noop = statistics.median(timed(argv)[0] for _ in range(args.repeat))
        rows["invoke setup-worker"] = (first, noop)

        control.down(paths)
        control.up(args.hosts, paths)
        first, totals = playbook(inv, args.hosts)
        if totals["changed"] < args.hosts:
            raise SystemExit(f"the roles' first run did not change every host: {totals}")
        noops = []
        for _ in range(args.repeat):
            took, again = playbook(inv, args.hosts)
            if again["changed"]:
                raise SystemExit(f"the roles' rerun changed something: {again}")
            noops.append(took)
        rows["ansible-playbook site.yml (roles)"] = (first, statistics.median(noops))
    control.down(paths)

    base_first, base_noop = rows["invoke setup-worker"]
    print(f"{args.hosts} lab hosts, one 2-process program each; no-op: median of {args.repeat}")
    print(f"{'arm':<36} {'first run s':>11} {'no-op s':>8} {'first x':>8} {'no-op x':>8}")
    for arm, (first, noop) in rows.items():
        print(f"{arm:<36} {first:>11.2f} {noop:>8.2f} {first / base_first:>8.2f}"
              f" {noop / base_noop:>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
