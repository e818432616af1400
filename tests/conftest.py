"""Shared fixtures: the lab fleet for integration tests (marked `lab`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator
from dataclasses import dataclass

import pytest

from queueops.lab import control
from queueops.lab.fleet import (
    DATABASES,
    DB_NAME,
    DEFAULT_DATABASE,
    DEFAULT_HORIZON,
    HORIZON_CONTRACTS,
    Database,
    LabHost,
    LabPaths,
    fleet,
)
from queueops.shell import cmd

# A test that proves something of the database (its queue, its failed-job store) takes
# `lab` through this: it runs once on a lab whose db1 is PostgreSQL, once on MariaDB.
on_each_database = pytest.mark.parametrize("lab", DATABASES, indirect=True)


@dataclass
class Lab:
    """The running lab, reached over real SSH with the lab key; db1 runs `database`."""

    paths: LabPaths
    hosts: dict[str, LabHost]
    database: Database = DEFAULT_DATABASE

    def ssh(
        self, host: str, command: str, user: str = "root", check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ssh", "-F", str(self.paths.ssh_config), f"{user}@{host}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{user}@{host}: {command!r} exited {result.returncode}\n"
                f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
            )
        return result

    def sql(self, sql: str) -> str:
        """SQL run on db1, in the demo app's database, as the server's superuser on its
        socket; rows one a line, columns tab-separated, no header."""
        if self.database == "mariadb":
            command = cmd("mariadb", "--batch", "--skip-column-names", "-D", DB_NAME, "-e", sql)
        else:
            command = cmd("runuser", "-u", "postgres", "--", "psql", "-h", "/run/postgresql",
                          "-At", "-v", "ON_ERROR_STOP=1", "-d", DB_NAME, "-c", sql)  # fmt: skip
        return self.ssh("db1", command).stdout.strip()

    def web_user(self, host: str) -> str:
        return self.hosts[host].web_user

    def address(self, host: str) -> str:
        return self.hosts[host].address


@dataclass(frozen=True)
class HorizonContract:
    """The laravel/horizon release the app hosts' Horizon stand-in answers like, and what
    differs between releases (lab/app/HORIZON-STANDIN.md)."""

    version: str

    def at_least(self, release: str) -> bool:
        def number(text: str) -> tuple[int, ...]:
            return tuple(int(part) for part in text.split("."))

        return number(self.version) >= number(release)

    @property
    def components(self) -> bool:
        """Messages through Laravel's console components (5.23+)."""
        return self.at_least("5.23")

    @property
    def inactive_code(self) -> int:
        return 2 if self.at_least("5.25") else 1

    @property
    def supervisor_status(self) -> bool:
        return self.at_least("5.28")

    def signalled(self, signal: str, pids: list[int]) -> list[str]:
        """What horizon:pause / continue / terminate print for these masters' pids."""
        if not self.components:
            return [f"Sending {signal} Signal To Process: {pid}" for pid in pids]
        return [f"Sending {signal} signal to processes.", *(f"Process: {pid}" for pid in pids)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on another database than the default run last, each database's together: the
    lab switches db1's server once, and every test before them finds the lab it assumes."""

    def database(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        wanted = callspec.params.get("lab", DEFAULT_DATABASE) if callspec else DEFAULT_DATABASE
        return DATABASES.index(wanted)

    items.sort(key=database)


@pytest.fixture(scope="session")
def _lab_session() -> Generator[LabPaths, None, None]:
    """The lab for this run, started from clean hosts whatever ran before (./scripts/demo
    leaves its lab up, with workers running)."""
    paths = LabPaths.default()
    control.down(paths)
    yield paths
    if not os.environ.get("QUEUEOPS_KEEP_LAB"):
        control.down(paths)


def _lab(
    request: pytest.FixtureRequest, paths: LabPaths, fresh: bool
) -> Generator[Lab, None, None]:
    database: Database = getattr(request, "param", DEFAULT_DATABASE)
    # A lab on another database restarts from fresh hosts: its app hosts' .env point there.
    if fresh or control.running_database(control.running_hosts(paths)) not in (None, database):
        control.down(paths)
    control.up(2, paths, database=database)
    yield Lab(paths, {h.name: h for h in fleet(2, database=database)}, database)
    if request.node.stash.get(FAILED, False):
        control.down(paths)


@pytest.fixture
def lab(request: pytest.FixtureRequest, _lab_session: LabPaths) -> Generator[Lab, None, None]:
    """The default lab (redis1, db1, app1 ubuntu, app2 centos), started if it is not up; db1
    runs PostgreSQL, or the database a test parametrizes it with (`on_each_database`).

    A test that fails tears the lab down, so the next test starts from fresh hosts.
    """
    yield from _lab(request, _lab_session, fresh=False)


@pytest.fixture
def fresh_lab(request: pytest.FixtureRequest, _lab_session: LabPaths) -> Generator[Lab, None, None]:
    """The default lab restarted from clean overlays, for a test that needs untouched hosts."""
    yield from _lab(request, _lab_session, fresh=True)


@pytest.fixture(params=HORIZON_CONTRACTS)
def horizon_contract(request: pytest.FixtureRequest) -> Generator[HorizonContract, None, None]:
    """Each Horizon release the stand-in can answer like, in turn, on the lab the test uses
    (fresh_lab or lab, started first); the lab's default again afterwards."""
    fixture = "fresh_lab" if "fresh_lab" in request.fixturenames else "lab"
    lab: Lab = request.getfixturevalue(fixture)
    control.use_horizon(request.param, lab.paths)
    yield HorizonContract(request.param)
    if control.running_hosts(lab.paths):
        control.use_horizon(DEFAULT_HORIZON, lab.paths)
