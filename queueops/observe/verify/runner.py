"""Run the checks (queueops/verify/checks and the operators' verify.d/) with pytest and
testinfra's ssh backend against every selected host; collect one result per host and check."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import testinfra

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.inventory.read import OPERATOR_CHECKS
from queueops.kinds import KINDS
from queueops.observe.verify.target import Target, observe_target
from queueops.transport.fleet import Reach, fleet_map
from queueops.transport.hostkeys import HostKeyPolicy
from queueops.transport.session import Gateways, host_key_policy, resolve

CHECKS_DIR = Path(__file__).resolve().parent / "checks"


def kind_checks() -> list[Path]:
    """Each kind's own checks (Kind.checks), run beside queueops' own."""
    return [
        Path(str(importlib.import_module(kind.checks).__file__))
        for kind in KINDS
        if kind.checks is not None
    ]


def builtin(path: Path) -> bool:
    return path.parent == CHECKS_DIR or path in kind_checks()


@dataclass
class CheckResult:
    name: str
    outcome: str  # passed | failed | skipped
    explanation: str = ""
    detail: str = ""
    # What a check that passed found worth saying (Target.warn), "; "-joined.
    warning: str = ""


@dataclass
class HostVerdict:
    host: str
    checks: list[CheckResult] = field(default_factory=list)
    # Set when the host could not be observed at all (unreachable, agent failure).
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.outcome != "failed" for c in self.checks)


@dataclass
class VerifyReport:
    hosts: list[HostVerdict]

    @property
    def failed(self) -> bool:
        return any(not h.passed for h in self.hosts)

    def to_json(self) -> str:
        doc = {
            "task": "verify",
            "hosts": {
                h.host: {
                    "status": "passed" if h.passed else "failed",
                    "error": h.error,
                    "checks": [c.__dict__ for c in h.checks],
                }
                for h in self.hosts
            },
            "summary": {
                "passed": sum(h.passed for h in self.hosts),
                "failed": sum(not h.passed for h in self.hosts),
            },
        }
        return json.dumps(doc, indent=2)

    def to_text(self) -> str:
        lines = ["verify"]
        for h in self.hosts:
            failed = [c for c in h.checks if c.outcome == "failed"]
            passed = sum(c.outcome == "passed" for c in h.checks)
            skipped = sum(c.outcome == "skipped" for c in h.checks)
            verdict = "PASS" if h.passed else "FAIL"
            if h.error is not None:
                lines.append(f"  {h.host}: FAIL (not checked) cannot observe the host: {h.error}")
                continue
            warned = sum(bool(c.warning) for c in h.checks)
            also = f", {warned} with warnings" if warned else ""
            lines.append(
                f"  {h.host}: {verdict} ({passed} passed, {len(failed)} failed, {skipped} skipped"
                f"{also})"
            )
            for c in failed:
                lines.append(f"    FAILED {c.name}: {c.explanation}")
                for detail_line in c.detail.splitlines():
                    lines.append(f"      {detail_line}")
            for c in h.checks:
                if c.warning:
                    lines.append(f"    WARNING {c.name}: {c.warning}")
        ok = sum(h.passed for h in self.hosts)
        lines.append(f"passed={ok} failed={len(self.hosts) - ok}")
        return "\n".join(lines)


def _host_keys(policy: HostKeyPolicy) -> list[str]:
    return [
        f"  StrictHostKeyChecking {'accept-new' if policy.accept_new else 'yes'}",
        f"  UserKnownHostsFile {policy.known_hosts}",
    ]


def ssh_config(hosts: Sequence[HostSettings], directory: Path, accept_new: bool = False) -> Path:
    """An ssh_config with one entry per inventory host, named as in the inventory, with what
    ~/.ssh/config says already resolved (ssh -F reads no other file): the same host, user,
    keys, bastions and host-key policy as every other task's connections."""
    lines: list[str] = []
    jumps: dict[str, list[str]] = {}
    for s in hosts:
        c = s.connection
        where = resolve(c)
        policy = host_key_policy(c, where, accept_new)
        keys = [f"  IdentityFile {k}" for k in where.key_files]
        lines += [
            f"Host {s.name}",
            f"  HostName {where.host}",
            f"  Port {where.port}",
            f"  User {where.user}",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            *_host_keys(policy),
            "  LogLevel ERROR",
            "  ControlMaster auto",
            f"  ControlPath {directory / 'cm-%C'}",
            "  ControlPersist 60",
            *keys,
        ]
        if where.hops:
            lines.append(f"  ProxyJump {','.join(str(h) for h in where.hops)}")
            for hop in where.hops:
                jumps.setdefault(hop.host, ["  BatchMode yes", *_host_keys(policy), *keys])
        elif where.proxy_command:
            lines.append(f"  ProxyCommand {where.proxy_command}")
    for host, options in jumps.items():
        lines += [f"Host {host}", *options]
    path = directory / "ssh_config"
    path.write_text("\n".join(lines) + "\n")
    return path


def check_name(item: pytest.Item) -> str:
    func = getattr(item, "originalname", item.name)
    path = Path(str(item.fspath))
    name = func.removeprefix("test_")
    return name if builtin(path) else f"{path.parent.name}/{path.name}::{name}"


def explanation(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


class Collector:
    """The pytest plugin: parametrizes checks by host, provides `host` and `target`."""

    def __init__(self, targets: dict[str, Target]) -> None:
        self.targets = targets
        self.results: dict[str, list[CheckResult]] = {name: [] for name in targets}

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "queueops_host" in metafunc.fixturenames:
            names = list(self.targets)
            metafunc.parametrize("queueops_host", names, ids=names, scope="session")

    @pytest.fixture(scope="session")
    def target(self, queueops_host: str) -> Target:
        """The inventory's settings and the observation of the host under test."""
        target = self.targets[queueops_host]
        if target.observation is None:
            pytest.fail(f"cannot observe {queueops_host}: {target.error}", pytrace=False)
        return target

    @pytest.fixture(scope="session")
    def host(self, queueops_host: str) -> Any:
        """testinfra's host (ssh backend), as in testinfra's own documentation."""
        target = self.targets[queueops_host]
        return testinfra.get_host(target.spec, ssh_config=str(target.ssh_config), sudo=target.sudo)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "queueops_host" in callspec.params:
            self.targets[callspec.params["queueops_host"]].warnings.clear()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        callspec = getattr(item, "callspec", None)
        if callspec is None or "queueops_host" not in callspec.params:
            return
        host = callspec.params["queueops_host"]
        done = report.when == "call" or (report.when == "setup" and not report.passed)
        if not done:
            return
        detail = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            detail = crash.message if crash is not None else str(report.longrepr)
            detail = detail.removeprefix("Failed: ")
        elif report.skipped and isinstance(report.longrepr, tuple):
            detail = str(report.longrepr[2]).removeprefix("Skipped: ")
        warning = "; ".join(self.targets[host].warnings) if report.passed else ""
        self.results[host].append(
            CheckResult(check_name(item), report.outcome, explanation(item), detail, warning)
        )


def operator_dirs(inventory_dir: Path | None, extra: Sequence[str]) -> list[Path]:
    dirs = [Path(d) for d in extra]
    if inventory_dir is not None and (inventory_dir / OPERATOR_CHECKS).is_dir():
        dirs.append(inventory_dir / OPERATOR_CHECKS)
    return dirs


def run_verify(
    hosts: Sequence[HostSettings], check_dirs: Sequence[Path] = (), reach: Reach | None = None
) -> VerifyReport:
    reach = reach or Reach()
    with tempfile.TemporaryDirectory(prefix="queueops-verify-") as tmp:
        directory = Path(tmp)
        config = ssh_config(hosts, directory, reach.accept_new_host_keys)
        targets = {s.name: Target(s.name, s, config) for s in hosts}

        def prefetch(target: Target) -> None:
            if target.sudo and target.settings.connection.become_password is not None:
                # testinfra's sudo has no way to take a password without a terminal.
                target.error = (
                    "verify cannot use ansible_become_password (testinfra's sudo takes no "
                    "password without a terminal): verify as root, or as a user with "
                    "passwordless sudo"
                )
                return
            try:
                target.observation = observe_target(target, reach.accept_new_host_keys, gateways)
            except Exception as exc:  # unreachable host, agent failure: that host's checks fail
                error = str(exc).removeprefix(f"{target.name}: ").strip()
                target.error = error or type(exc).__name__

        gateways = Gateways(reach.accept_new_host_keys)
        try:
            fleet_map(list(targets.values()), prefetch, reach.forks)
        finally:
            gateways.close()
        collector = Collector(targets)
        (directory / "pytest.ini").write_text("[pytest]\n")
        args = [
            "-q", "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra", "-p", "no:randomly",
            "-c", str(directory / "pytest.ini"), "--rootdir", str(directory),
            "--import-mode=importlib", "-o", "python_files=test_*.py check_*.py",
            str(CHECKS_DIR), *[str(p) for p in kind_checks()], *[str(d) for d in check_dirs],
        ]  # fmt: skip
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = pytest.main(args, plugins=[collector])
        for s in hosts:
            subprocess.run(
                ["ssh", "-F", str(config), "-O", "exit", s.name],
                capture_output=True,
                check=False,
                env={**os.environ},
            )
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            raise QueueopsError(f"the checks could not run (pytest {code}):\n{sink.getvalue()}")
    return VerifyReport(
        [HostVerdict(name, collector.results[name], targets[name].error) for name in targets]
    )
