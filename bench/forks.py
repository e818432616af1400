"""Measure that --forks bounds the SSH connections a run holds at once, on N lab hosts.

Starts the lab with N app hosts, converges them with `setup-worker --forks F`, then runs a
no-op; samples the run's established connections to port 22 every few milliseconds and
prints the most seen, the wall time and the per-host counts. Asserts nothing. Needs root;
stops the lab at the end. Usage: .venv/bin/python bench/forks.py [--hosts 40] [--forks 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from queueops.lab import control
from queueops.lab.connections import ssh_connections
from queueops.lab.fleet import LabPaths, repo_root

INVOKE = str(Path(sys.executable).with_name("invoke"))
PROGRAM = {"name": "forks", "queues": ["forks"], "processes": 1, "sleep": 3, "timeout": 60}


def run(argv: list[str]) -> tuple[float, int, dict[str, object]]:
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=repo_root(), stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    most = 0
    while proc.poll() is None:
        most = max(most, ssh_connections(proc.pid))
        time.sleep(0.003)
    out, _ = proc.communicate()
    return time.monotonic() - start, most, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--forks", type=int, default=8)
    args = parser.parse_args()
    paths = LabPaths.default()
    control.down(paths)
    control.up(args.hosts, paths)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inv = Path(tmp)
            (inv / "group_vars").mkdir()
            hosts = {f"app{i}": {"ansible_host": f"127.0.1.{10 + i}"}
                     for i in range(1, args.hosts + 1)}  # fmt: skip
            (inv / "hosts.yml").write_text(
                yaml.safe_dump({"all": {"children": {"workers": {"hosts": hosts}}}})
            )
            (inv / "group_vars" / "all.yml").write_text(
                yaml.safe_dump({**paths.connection_vars(), "queue_worker_programs": [PROGRAM]})
            )
            argv = [INVOKE, "setup-worker", "-i", str(inv), "--all", "--json",
                    "--forks", str(args.forks)]  # fmt: skip
            print(f"{args.hosts} hosts, --forks {args.forks}")
            for label in ("first run", "no-op"):
                took, most, doc = run(argv)
                summary = doc["summary"]
                print(f"  {label:<9} {took:6.2f} s  most connections held at once: {most}  "
                      f"summary {summary}")  # fmt: skip
    finally:
        control.down(paths)


if __name__ == "__main__":
    main()
