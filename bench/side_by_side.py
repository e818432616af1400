"""queueops, its Ansible roles and three peers converging the same lab hosts, same run.

Arms, the same rendered program file on every host (rendered by `invoke render`):

- queueops:  invoke setup-worker (verifies RUNNING, rollback armed, host lock)
- roles:     ansible-playbook playbooks/site.yml (the collection's queue_worker role)
- ansible:   a tuned plain playbook: copy + a `supervisorctl update` handler; pipelining,
             ControlPersist, forks = hosts, no facts (what an Ansible user would write)
- pyinfra:   files.put + `supervisorctl update` only when it changed
- fabric:    the floor: one hash per host, put + `supervisorctl update` only on a change;
             checks nothing
- baseline:  with --baseline DIR, invoke setup-worker of another checkout of queueops (a
             worktree of main, say): a change's before and after in the same run

For each size: each arm's first run on fresh hosts (supervisord already running, not timed);
then, on the last arm's converged fleet once it is quiet, --repeat rounds of every arm's
no-op in turn (the same fleet and moment for every arm, so drift and noise hit all alike),
medians; then queueops' fleet-wide pause and continue. queueops' own modules are byte-compiled
first, as pip installs the peers (a checkout run with PYTHONDONTWRITEBYTECODE would compile
them on every run). pyinfra and ansible-core are installed by this script into their own
virtualenv (--peers-venv). Prints medians, ratios and the per-host slope; asserts nothing.
Needs root; stops the lab at the end. Not part of ./scripts/test.
Usage: .venv/bin/python -m bench.side_by_side [--sizes 5,10,20,40] [--repeat 5]
       [--arms queueops,...] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

from bench.setup_worker import INVOKE
from queueops.lab import control
from queueops.lab.fleet import LabPaths, fleet, repo_root

BIN = Path(sys.executable).parent
PROGRAM = {"name": "bench", "queues": ["bench"], "processes": 2, "sleep": 3, "timeout": 60,
           "connection": "redis"}  # fmt: skip
PEERS = ("pyinfra>=3.1,<4", "ansible-core>=2.19,<2.20")
ARMS = ("queueops", "roles", "ansible", "pyinfra", "fabric")

FABRIC_FLOOR = """
import hashlib, sys
from concurrent.futures import ThreadPoolExecutor
from fabric import Connection

key, root, hosts = sys.argv[1], sys.argv[2], sys.argv[3:]

def converge(spec):
    name, address, path = spec.split(",")
    local = f"{root}/{name}{path}"
    want = hashlib.sha256(open(local, "rb").read()).hexdigest()
    with Connection(address, user="root", connect_kwargs={"key_filename": key}) as c:
        have = c.run(f"sha256sum {path} 2>/dev/null || true", hide=True).stdout.split()[:1]
        if have != [want]:
            c.put(local, path)
            c.run("supervisorctl update", hide=True)

with ThreadPoolExecutor(len(hosts)) as pool:
    list(pool.map(converge, hosts))
"""


def peers_venv(path: Path) -> Path:
    if not (path / "bin" / "pyinfra").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", *PEERS], check=True)
    return path / "bin"


class Fleet:
    """One size of the lab: its inventory, the rendered files, each arm's command."""

    def __init__(
        self, size: int, work: Path, paths: LabPaths, peers: Path, baseline: Path | None
    ) -> None:
        self.size, self.work, self.paths, self.peers = size, work, paths, peers
        self.baseline = baseline
        self.first = 0.0  # its arm's first run, in seconds
        self.hosts = [h for h in fleet(size) if h.role == "app"]
        self.inventory = self._inventory()
        self.rendered = work / "rendered"
        render = [INVOKE, "render", "-i", str(self.inventory), "--all", "--out", str(self.rendered)]
        subprocess.run(render, check=True, capture_output=True, cwd=repo_root())
        self.files = {h.name: self._program_path(h.flavour) for h in self.hosts}

    @staticmethod
    def _program_path(flavour: str) -> str:
        if flavour == "ubuntu":
            return "/etc/supervisor/conf.d/bench.conf"
        return "/etc/supervisord.d/bench.ini"

    def _inventory(self) -> Path:
        inv = self.work / "inventory"
        (inv / "group_vars").mkdir(parents=True, exist_ok=True)
        members = {h.name: {"ansible_host": h.address,
                            "os_family": "debian" if h.flavour == "ubuntu" else "redhat"}
                   for h in self.hosts}  # fmt: skip
        (inv / "hosts.yml").write_text(
            yaml.safe_dump({"all": {"children": {"workers": {"hosts": members}}}})
        )
        (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(
            {**self.paths.connection_vars(), "ansible_python_interpreter": "/usr/bin/python3",
             "queue_worker_programs": [PROGRAM]}))  # fmt: skip
        return inv

    def fresh(self) -> None:
        """Fresh hosts with supervisord running and no program: every arm's start."""
        control.down(self.paths)
        control.up(self.size, self.paths)
        for host in self.hosts:
            service = "supervisor" if host.flavour == "ubuntu" else "supervisord"
            start = ["ssh", "-F", str(self.paths.ssh_config), host.name, f"service {service} start"]
            subprocess.run(start, check=True, capture_output=True)
        quiet()

    def ansible_env(self, bin_dir: Path, cfg: Path) -> dict[str, str]:
        return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1"}  # fmt: skip

    def commands(self) -> dict[str, tuple[list[str], dict[str, str] | None]]:
        tuned = self.work / "ansible.cfg"
        tuned.write_text(textwrap.dedent(f"""\
            [defaults]
            forks = {self.size}
            gathering = explicit
            host_key_checking = false
            retry_files_enabled = false
            interpreter_python = /usr/bin/python3
            [ssh_connection]
            pipelining = true
            ssh_args = -o ControlMaster=auto -o ControlPersist=60s
            """))  # fmt: skip
        playbook = self.work / "plain.yml"
        playbook.write_text(yaml.safe_dump([{
            "hosts": "workers", "gather_facts": False,
            "tasks": [{"name": "program", "ansible.builtin.copy": {
                "src": f"{self.rendered}/{{{{ inventory_hostname }}}}{{{{ program_path }}}}",
                "dest": "{{ program_path }}", "mode": "0644"}, "notify": "update"}],
            "handlers": [{"name": "update",
                          "ansible.builtin.command": "supervisorctl update"}],
        }]))  # fmt: skip
        # The plain playbook's own inventory: queueops refuses variables it does not know.
        peers_inv = self.work / "peers_inventory"
        (peers_inv / "host_vars").mkdir(parents=True, exist_ok=True)
        (peers_inv / "group_vars").mkdir(exist_ok=True)
        (peers_inv / "hosts.yml").write_text((self.inventory / "hosts.yml").read_text())
        (peers_inv / "group_vars" / "all.yml").write_text(
            yaml.safe_dump({**self.paths.connection_vars(),
                            "ansible_python_interpreter": "/usr/bin/python3"}))  # fmt: skip
        for h in self.hosts:
            (peers_inv / "host_vars" / f"{h.name}.yml").write_text(
                yaml.safe_dump({"program_path": self.files[h.name]})
            )
        deploy = self.work / "deploy.py"
        deploy.write_text(
            textwrap.dedent(f"""\
            from pyinfra import host
            from pyinfra.operations import files, server
            path = host.data.program_path
            put = files.put(src=f"{self.rendered}/{{host.name}}{{path}}", dest=path)
            server.shell(commands=["supervisorctl update"], _if=put.did_change)
            """)
        )
        pyinv = self.work / "pyinfra_inventory.py"
        pyinv.write_text("workers = " + repr([
            (h.name, {"ssh_hostname": h.address, "ssh_user": "root",
                      "ssh_key": str(self.paths.key), "program_path": self.files[h.name],
                      "ssh_known_hosts_file": str(self.paths.known_hosts)})
            for h in self.hosts]) + "\n")  # fmt: skip
        floor = self.work / "floor.py"
        floor.write_text(FABRIC_FLOOR)
        specs = [f"{h.name},{h.address},{self.files[h.name]}" for h in self.hosts]
        roles_cfg = repo_root() / "ansible.cfg"
        setup = ["setup-worker", "-i", str(self.inventory), "--all", "--forks", str(self.size)]
        # Invoke takes the other checkout's tasks.py, and so its queueops (first on sys.path).
        baseline = ["--search-root", str(self.baseline)] if self.baseline else []
        return {
            "queueops": ([INVOKE, *setup], None),
            "baseline": ([INVOKE, *baseline, *setup], None),
            "roles": ([str(BIN / "ansible-playbook"), "-i", str(self.inventory), "--forks",
                       str(self.size), str(repo_root() / "playbooks" / "site.yml")],
                      self.ansible_env(BIN, roles_cfg)),
            "ansible": ([str(self.peers / "ansible-playbook"), "-i", str(peers_inv),
                         str(playbook)], self.ansible_env(self.peers, tuned)),
            "pyinfra": ([str(self.peers / "pyinfra"), "-y", "--parallel", str(self.size),
                         str(pyinv), str(deploy)], None),
            "fabric": ([str(BIN / "python"), str(floor), str(self.paths.key),
                        str(self.rendered), *specs], None),
        }  # fmt: skip


def cpu_sample() -> tuple[int, int]:
    """The machine's CPU ticks so far: total and idle + iowait (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def cpu_busy(seconds: float = 1.0) -> float:
    """The machine's share of busy CPU over `seconds`."""
    total, idle = cpu_sample()
    time.sleep(seconds)
    total2, idle2 = cpu_sample()
    return 1 - (idle2 - idle) / max(1, total2 - total)


def busy_seconds(since: tuple[int, int]) -> float:
    total, idle = cpu_sample()
    return ((total - since[0]) - (idle - since[1])) / os.sysconf("SC_CLK_TCK")


def operator_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def quiet(limit: float = 0.15, most: float = 60) -> None:
    """Wait until the fleet is quiet: the workers a first run started have booted and only
    poll their queues (CPU below `limit` for a second), at most `most` seconds."""
    deadline = time.monotonic() + most
    while cpu_busy() > limit and time.monotonic() < deadline:
        pass


def timed(argv: list[str], env: dict[str, str] | None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    took = time.perf_counter() - start
    if result.returncode != 0:
        command = shlex.join(argv)
        raise SystemExit(f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return took


def first_run(
    size: int, arm: str, work: Path, paths: LabPaths, peers: Path, baseline: Path | None
) -> Fleet:
    bench = Fleet(size, work / f"{arm}{size}", paths, peers, baseline)
    bench.fresh()
    bench.first = timed(*bench.commands()[arm])
    return bench


def noops(benches: dict[str, Fleet], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Every arm's no-op, in turn, `repeat` rounds, on the fleet the last arm converged:
    medians of the wall time, the operator's CPU time, and the CPU time spent on the hosts'
    side (the machine's busy time over the run and the 0.5 s after it, less the operator's).
    Each round starts one arm later than the one before: with a fixed order, the same code
    measured 5% slower in the first slot of each round than in the second (24 rounds, 20
    hosts), so every arm takes every slot in turn."""
    quiet()
    took: dict[str, list[tuple[float, float, float]]] = {arm: [] for arm in benches}
    arms = list(benches)
    for round_ in range(repeat):
        shift = round_ % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            bench = benches[arm]
            machine, operator = cpu_sample(), operator_seconds()
            wall = timed(*bench.commands()[arm])
            time.sleep(0.5)  # the hosts' sessions end and are accounted
            spent = operator_seconds() - operator
            took[arm].append((wall, spent, busy_seconds(machine) - spent))
    medians = {}
    for arm, runs in took.items():
        walls, operators, hosts = zip(*runs, strict=True)
        medians[arm] = (
            statistics.median(walls),
            statistics.median(operators),
            statistics.median(hosts),
        )
    return medians


def pause_continue(bench: Fleet, repeat: int) -> tuple[float, float]:
    """queueops' fleet-wide pause and continue (medians), on a converged fleet."""
    pauses, continues = [], []
    for _ in range(repeat):
        quiet()
        pauses.append(timed([INVOKE, "pause", "-i", str(bench.inventory), "--all"], None))
        continues.append(timed([INVOKE, "continue", "-i", str(bench.inventory), "--all"], None))
    return statistics.median(pauses), statistics.median(continues)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5,10,20,40")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--peers-venv", default="/tmp/queueops-bench-peers")
    parser.add_argument("--baseline", type=Path, help="another checkout of queueops: the arm "
                        "`baseline`, beside `queueops` (before and after a change)")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    arms = [a for a in args.arms.split(",") if a]
    baseline = args.baseline.resolve() if args.baseline else None
    if baseline and "baseline" not in arms:
        arms.insert(arms.index("queueops") + 1 if "queueops" in arms else 0, "baseline")
    peers = peers_venv(Path(args.peers_venv))
    paths = LabPaths.default()
    for checkout in (repo_root(), baseline):
        if checkout is not None:
            subprocess.run([sys.executable, "-m", "compileall", "-q", "queueops", "tasks.py"],
                           cwd=checkout, check=True)  # fmt: skip
    first: dict[tuple[str, int], float] = {}
    noop: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], tuple[float, float]] = {}
    paused: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            benches = {arm: first_run(size, arm, Path(tmp), paths, peers, baseline) for arm in arms}
            for arm, bench in benches.items():
                first[arm, size] = bench.first
            for arm, (wall, operator, hosts) in noops(benches, args.repeat).items():
                noop[arm, size], cpu[arm, size] = wall, (operator, hosts)
            if "queueops" in arms:
                paused[size] = pause_continue(benches["queueops"], 3)
            for arm in arms:
                print(f"  {arm} on {size} hosts: first {first[arm, size]:.2f} s, "
                      f"no-op {noop[arm, size]:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
    control.down(paths)

    print(f"first run: once per arm on fresh hosts; no-op: median of {args.repeat} interleaved "
          "rounds on one converged fleet; ratios against queueops in the same run")  # fmt: skip
    print(f"{'arm':<9} {'hosts':>5} {'first s':>8} {'no-op s':>8} {'first/q':>8} {'no-op/q':>8}")
    for size in sizes:
        q_first = first.get(("queueops", size), float("nan"))
        q_noop = noop.get(("queueops", size), float("nan"))
        for arm in arms:
            f, n = first[arm, size], noop[arm, size]
            print(f"{arm:<9} {size:>5} {f:>8.2f} {n:>8.2f} {f / q_first:>8.2f} {n / q_noop:>8.2f}")
    print("no-op CPU time (medians): the operator's, and the hosts' side per host (sshd, the")
    print("arm's commands, supervisord; a real fleet spends that on each host, in parallel)")
    print(f"{'arm':<9} {'hosts':>5} {'operator s':>11} {'per host ms':>12}")
    for size in sizes:
        for arm in arms:
            operator, hosts = cpu[arm, size]
            print(f"{arm:<9} {size:>5} {operator:>11.2f} {hosts / size * 1000:>12.1f}")
    if paused:
        print("queueops fleet-wide pause / continue (median of 3):")
        for size, (p, c) in paused.items():
            print(f"  {size:>3} hosts: pause {p:.2f} s, continue {c:.2f} s")
    if len(sizes) > 1:
        print("no-op cost per added host (least squares over the sizes), ms:")
        for arm in arms:
            xs = sizes
            ys = [noop[arm, s] for s in sizes]
            mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
            slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mean_x) ** 2 for x in xs
            )
            print(f"  {arm:<9} {slope * 1000:7.1f}")


if __name__ == "__main__":
    main()
