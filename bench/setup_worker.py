"""Benchmark setup-worker on 1, 5, 10 and 20 lab hosts: first run and no-op rerun.

Prints wall times and SSH connections/commands per host; asserts nothing. Needs root (it
starts the lab) and stops the lab at the end. Usage: .venv/bin/python bench/setup_worker.py
[--sizes 1,5,10,20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from queueops.lab import control
from queueops.lab.fleet import LabPaths, repo_root

INVOKE = str(Path(sys.executable).with_name("invoke"))
PROGRAM = {"name": "bench", "queues": ["bench"], "processes": 2, "sleep": 3, "timeout": 60}


def write_inventory(directory: Path, paths: LabPaths, hosts: int) -> Path:
    members = {f"app{i + 1}": {"ansible_host": f"127.0.1.{11 + i}"} for i in range(hosts)}
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"workers": {"hosts": members}}}})
    )
    (directory / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({**paths.connection_vars(), "queue_worker_programs": [PROGRAM]})
    )
    return directory


def timed(argv: list[str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return took, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def per_host(doc: dict[str, Any], key: str) -> str:
    values = sorted({h[key] for h in doc["hosts"].values()})
    return "/".join(str(v) for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = LabPaths.default()

    startup = statistics.median(timed([INVOKE, "--list"])[0] for _ in range(args.repeat))
    print(f"invoke start-up (invoke --list, median of {args.repeat}): {startup:.2f} s")
    header = (
        f"{'hosts':>5}  {'first run s':>11}  {'no-op s':>8}  {'no-op - start-up':>16}"
        f"  {'conn/host':>9}  {'cmds/host first':>15}  {'cmds/host no-op':>15}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            control.down(paths)
            control.up(size, paths)
            inv = write_inventory(Path(tmp) / f"inv{size}", paths, size)
            argv = [INVOKE, "setup-worker", "-i", str(inv), "--all", "--json"]
            first, first_doc = timed(argv)
            if first_doc["summary"]["changed"] != size:
                raise SystemExit(f"first run did not change every host: {first_doc['summary']}")
            noops = []
            for _ in range(args.repeat):
                took, noop_doc = timed(argv)
                if noop_doc["summary"]["ok"] != size:
                    raise SystemExit(f"rerun was not a no-op: {noop_doc['summary']}")
                noops.append(took)
            noop = statistics.median(noops)
            print(
                f"{size:>5}  {first:>11.2f}  {noop:>8.2f}  {noop - startup:>16.2f}"
                f"  {per_host(noop_doc, 'connections'):>9}  {per_host(first_doc, 'commands'):>15}"
                f"  {per_host(noop_doc, 'commands'):>15}"
            )
    control.down(paths)


if __name__ == "__main__":
    main()
