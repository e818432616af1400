"""Which hosts make up the lab, where they live and where their state goes (pure)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from queueops.errors import UsageError

Flavour = Literal["ubuntu", "centos"]
Database = Literal["postgresql", "mariadb"]

NETWORK = "127.0.1"
DEFAULT_BASE = 10
APP_PATH = "/var/www/app"
# The demo app's database and its owner on db1.
DB_NAME = "app"
DB_USER = "app"
# The server db1 runs: PostgreSQL unless `lab.up --database` says otherwise.
DEFAULT_DATABASE: Database = "postgresql"
DATABASES: tuple[Database, ...] = ("postgresql", "mariadb")
DB_PORTS: dict[Database, int] = {"postgresql": 5432, "mariadb": 3306}
# redis1 serves TLS here too (the lab's own CA); 6379 stays plain.
REDIS_TLS_PORT = 6380
# The lab CA's certificate on every app host, for an app configured to reach Redis over TLS.
REDIS_CA_FILE = "/etc/ssl/queueops-lab/redis-ca.pem"
# The app's DB_CONNECTION: Laravel's mysql driver is the one for MariaDB.
DB_CONNECTIONS: dict[Database, str] = {"postgresql": "pgsql", "mariadb": "mysql"}

# The laravel/horizon releases whose command line the demo app's Horizon stand-in can answer
# like (lab/app/HORIZON-STANDIN.md): 5.22.1, the newest for Laravel 8, and the newest 5.x,
# which has 5.25's exit codes and 5.28's supervisor-status. The lab starts with the first.
HORIZON_CONTRACTS = ("5.22.1", "5.29.1")
DEFAULT_HORIZON = HORIZON_CONTRACTS[0]

# RHEL's httpd package creates apache with uid/gid 48; Debian's www-data is 33.
WEB_USERS: dict[Flavour, tuple[str, int]] = {"ubuntu": ("www-data", 33), "centos": ("apache", 48)}
SUPERVISOR_SERVICES: dict[Flavour, str] = {"ubuntu": "supervisor", "centos": "supervisord"}


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    flavour: Flavour
    role: Literal["app", "redis", "database", "bastion"]
    # The server a database host runs (None on the others).
    database: Database | None = None

    @property
    def web_user(self) -> str:
        return WEB_USERS[self.flavour][0]

    @property
    def web_uid(self) -> int:
        return WEB_USERS[self.flavour][1]


def base_octet() -> int:
    """Last octet of redis1; app hosts follow it. QUEUEOPS_LAB_BASE moves a second lab aside."""
    raw = os.environ.get("QUEUEOPS_LAB_BASE", str(DEFAULT_BASE))
    if not raw.isdigit() or not 1 <= int(raw) <= 250:
        raise UsageError(f"QUEUEOPS_LAB_BASE must be a number from 1 to 250, got {raw!r}")
    return int(raw)


def database_kind(raw: str) -> Database:
    """A --database value, checked."""
    for known in DATABASES:
        if raw == known:
            return known
    raise UsageError(f"--database must be one of {', '.join(DATABASES)}, got {raw!r}")


def horizon_contract(raw: str) -> str:
    """A Horizon release the stand-in is told to answer like, checked."""
    parts = raw.split(".")
    if len(parts) not in (2, 3) or parts[0] != "5" or not all(p.isdigit() for p in parts):
        raise UsageError(
            f"the Horizon stand-in answers like a 5.x release such as 5.22.1, not {raw!r}"
        )
    return raw


def redis_address() -> str:
    return f"{NETWORK}.{base_octet()}"


def database_host(database: Database = DEFAULT_DATABASE) -> LabHost:
    """db1, two below redis1 (127.0.1.8): PostgreSQL or MariaDB with the demo app's jobs,
    failed_jobs and database queue, shared by every app host as a production database is."""
    base = base_octet()
    if base < 3:
        raise UsageError("the database host needs QUEUEOPS_LAB_BASE >= 3 (it sits below redis1)")
    return LabHost("db1", f"{NETWORK}.{base - 2}", "ubuntu", "database", database)


def database_address() -> str:
    return database_host().address


def bastion_host() -> LabHost:
    """The lab's bastion, just below redis1 (127.0.1.9): its own sshd, nothing else."""
    base = base_octet()
    if base < 2:
        raise UsageError("the bastion needs QUEUEOPS_LAB_BASE >= 2 (it sits just below redis1)")
    return LabHost("bastion", f"{NETWORK}.{base - 1}", "ubuntu", "bastion")


def fleet(
    app_hosts: int = 2, bastion: bool = False, database: Database = DEFAULT_DATABASE
) -> list[LabHost]:
    """redis1 at 127.0.1.10, db1 at 127.0.1.8 (running `database`), then N app hosts
    alternating ubuntu / centos from 127.0.1.11; with `bastion`, the bastion at 127.0.1.9 too."""
    base = base_octet()
    most = 254 - base
    if not 1 <= app_hosts <= most:
        raise UsageError(f"--app-hosts must be between 1 and {most}, got {app_hosts}")
    hosts = [bastion_host()] if bastion else []
    hosts.append(LabHost("redis1", redis_address(), "ubuntu", "redis"))
    hosts.append(database_host(database))
    for i in range(app_hosts):
        flavour: Flavour = "ubuntu" if i % 2 == 0 else "centos"
        hosts.append(LabHost(f"app{i + 1}", f"{NETWORK}.{base + 1 + i}", flavour, "app"))
    return hosts


@dataclass(frozen=True)
class LabPaths:
    """Everything the lab writes lives under one git-ignored folder of the repository."""

    root: Path

    @classmethod
    def default(cls) -> LabPaths:
        override = os.environ.get("QUEUEOPS_LAB_DIR")
        if override:
            return cls(Path(override).resolve())
        return cls(repo_root() / ".lab")

    @property
    def key(self) -> Path:
        return self.root / "keys" / "lab_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def redis_password(self) -> Path:
        return self.root / "secrets" / "redis_password"

    @property
    def tls(self) -> Path:
        """The lab's CA and redis1's certificate (prepare.ensure_tls)."""
        return self.root / "tls"

    @property
    def db_password(self) -> Path:
        """The password of the app's database role (PostgreSQL) or user (MariaDB) on db1."""
        return self.root / "secrets" / "db_password"

    @property
    def ops_password(self) -> Path:
        """The sudo password of the lab user `ops` (sudo without NOPASSWD)."""
        return self.root / "secrets" / "ops_password"

    @property
    def app_build(self) -> Path:
        return self.root / "build" / "app"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    def connection_vars(self, user: str = "root") -> dict[str, str]:
        """The inventory variables that reach lab hosts: user, the lab key, the lab's
        known_hosts (every client checks host keys strictly)."""
        return {
            "ansible_user": user,
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts}",
        }

    def host_dir(self, name: str) -> Path:
        return self.root / "hosts" / name

    def host_log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
