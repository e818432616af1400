"""Write the files that make a fresh overlay look like a fresh server of its flavour.

Everything here happens on this machine before the host's namespace starts: the overlay's
upper layer is an ordinary directory, so files, whiteouts (a 0/0 character device hides a
lower file) and opaque directories (hide everything below) are written directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from queueops.errors import LabError
from queueops.lab.fleet import (
    APP_PATH,
    DB_CONNECTIONS,
    DB_NAME,
    DB_PORTS,
    DB_USER,
    DEFAULT_HORIZON,
    REDIS_CA_FILE,
    REDIS_TLS_PORT,
    Database,
    LabHost,
    LabPaths,
    database_address,
    redis_address,
    repo_root,
)

SKEL = Path("/etc/skel")
# Debian's cron daemon: the ubuntu hosts' cron, and the centos hosts' crond.
CRON_DAEMON = Path("/usr/sbin/cron")


def lab_file(name: str) -> str:
    return (Path(__file__).parent / "files" / name).read_text()


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def opaque_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def keygen(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )


def ensure_keys(paths: LabPaths) -> None:
    if not paths.key.exists():
        keygen(paths.key, "queueops-lab")
    for secret in (paths.redis_password, paths.ops_password, paths.db_password):
        if not secret.exists():
            write(secret, secrets.token_hex(16), mode=0o600)


def openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"openssl {args[0]} failed: {result.stderr.strip()[-400:]}")


def ensure_tls(paths: LabPaths) -> tuple[Path, Path, Path]:
    """The lab's CA (made once) and redis1's key and certificate for its address and name,
    signed by it: (CA certificate, server certificate, server key)."""
    tls = paths.tls
    tls.mkdir(parents=True, exist_ok=True)
    ca, ca_key = tls / "ca.pem", tls / "ca.key"
    if not ca.exists():
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "3650",
                "-subj", "/CN=queueops lab CA")  # fmt: skip
    address = redis_address()
    cert, key = tls / f"redis1-{address}.pem", tls / f"redis1-{address}.key"
    if not cert.exists():
        request, names = tls / "redis1.csr", tls / "redis1.ext"
        names.write_text(f"subjectAltName = IP:{address}, DNS:redis1\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(request), "-subj", "/CN=redis1")  # fmt: skip
        openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
                "-CAcreateserial", "-out", str(cert), "-days", "3650",
                "-extfile", str(names))  # fmt: skip
    return ca, cert, key


def write_ssh_config(paths: LabPaths, hosts: list[LabHost]) -> None:
    """An ssh_config for ssh, scp and testinfra's ssh backend: `ssh -F .lab/ssh_config app1`."""
    blocks = [
        f"Host {h.name} {h.address}\n"
        f"  HostName {h.address}\n"
        "  User root\n"
        f"  IdentityFile {paths.key}\n"
        "  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking yes\n"
        f"  UserKnownHostsFile {paths.known_hosts}\n"
        "  LogLevel ERROR\n"
        # Tests and operators run many short commands; one TCP+auth per host, not per call.
        "  ControlMaster auto\n"
        f"  ControlPath {paths.root}/cm/%r@%h\n"
        "  ControlPersist 60\n"
        for h in hosts
    ]
    write(paths.ssh_config, "\n".join(blocks))


def write_known_hosts(paths: LabPaths, hosts: list[LabHost]) -> None:
    """The host keys of every prepared lab host, by address: the lab generates them, so it
    records them too, and every client (ssh, queueops, testinfra) checks them strictly."""
    lines = []
    for host in hosts:
        public = paths.host_dir(host.name) / "upper/etc/ssh/ssh_host_ed25519_key.pub"
        if public.exists():
            key_type, key = public.read_text().split()[:2]
            lines.append(f"{host.address} {key_type} {key}\n")
    write(paths.known_hosts, "".join(lines))


def env_file(paths: LabPaths, database: Database) -> str:
    values = {
        "APP_NAME": "queueops-demo",
        "APP_ENV": "production",
        "APP_KEY": "base64:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "APP_DEBUG": "false",
        "LOG_CHANNEL": "single",
        "QUEUE_CONNECTION": "redis",
        "CACHE_DRIVER": "file",
        "DB_CONNECTION": DB_CONNECTIONS[database],
        "DB_HOST": database_address(),
        "DB_PORT": str(DB_PORTS[database]),
        "DB_DATABASE": DB_NAME,
        "DB_USERNAME": DB_USER,
        "DB_PASSWORD": paths.db_password.read_text().strip(),
        "REDIS_CLIENT": "phpredis",
        "REDIS_HOST": redis_address(),
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": paths.redis_password.read_text().strip(),
        "HORIZON_STANDIN_VERSION": DEFAULT_HORIZON,
    }
    return "".join(f"{k}={v}\n" for k, v in values.items())


def source_stamp(source: Path) -> str:
    entries = sorted(
        f"{p.relative_to(source)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in source.rglob("*")
        if p.is_file()
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def artisan_here(paths: LabPaths, *args: str, env: dict[str, str] | None = None) -> None:
    """`php artisan ARGS` in the app's build on this machine, which reaches db1 too."""
    result = subprocess.run(
        ["php", "artisan", *args, "--no-interaction"],
        cwd=paths.app_build, env={**os.environ, **(env or {})}, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-800:]
        raise LabError(f"the demo app's php artisan {' '.join(args)} failed: {output}")


def build_app(paths: LabPaths, database: Database) -> None:
    """Build the demo app when its source or db1's server changed; hosts get copies.

    Its .env points at db1 (PostgreSQL or MariaDB). A migrated SQLite file ships too, so a
    test can turn a host to DB_CONNECTION=sqlite and prove what must work on SQLite as well.
    """
    source = repo_root() / "lab" / "app"
    if not (source / "artisan").exists():
        raise LabError(f"the demo app is missing: {source / 'artisan'} does not exist")
    build = paths.app_build
    stamp = f"{source_stamp(source)} {database}"
    stamp_file = build.parent / "app.stamp"
    if build.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    if build.exists():
        shutil.rmtree(build)
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("database.sqlite", "*.log"))
    (build / ".env").write_text(env_file(paths, database))
    sqlite = build / "database" / "database.sqlite"
    sqlite.touch()
    # Variables set in the environment win over .env (Laravel's dotenv is immutable).
    artisan_here(
        paths, "migrate", "--force", env={"DB_CONNECTION": "sqlite", "DB_DATABASE": str(sqlite)}
    )
    stamp_file.write_text(stamp)


def migrate_database(paths: LabPaths) -> None:
    """The demo app's migrations on db1 (jobs, failed_jobs), run from the build as a deploy
    would run them; idempotent."""
    artisan_here(paths, "migrate", "--force")


def postgres_bin() -> Path:
    """The newest PostgreSQL server installed here (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise LabError(
            "the lab's db1 needs a PostgreSQL server: /usr/lib/postgresql/*/bin/initdb not found"
            " (scripts/demo and scripts/test install it with apt-get)"
        )
    return found[-1].parent


def mariadb_server() -> None:
    """db1 as MariaDB needs Debian's mariadb-server here (its binaries run inside db1)."""
    needed = ("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/mariadb")
    missing = [path for path in needed if not Path(path).exists()]
    if missing:
        raise LabError(
            f"the lab's db1 needs MariaDB's server: {', '.join(missing)} not found"
            " (scripts/demo and scripts/test install mariadb-server with apt-get)"
        )


def prepare_host(paths: LabPaths, host: LabHost, hosts: list[LabHost], database: Database) -> None:
    """Fresh upper layer for one host, and the spec.json its PID 1 reads; every host's spec
    names db1's server, so a lab.up that wants another one knows what runs."""
    base = paths.host_dir(host.name)
    if base.exists():
        shutil.rmtree(base)
    upper, work, merged = base / "upper", base / "work", base / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)

    write(upper / "etc/hostname", host.name + "\n")
    write(
        upper / "etc/hosts",
        "127.0.0.1 localhost\n" + "".join(f"{h.address} {h.name}\n" for h in hosts),
    )
    os_release = lab_file(f"os-release.{host.flavour}")
    write(upper / "etc/os-release", os_release)
    write(upper / "usr/lib/os-release", os_release)

    # Homes start clean: nothing of this machine's /root or /home is visible.
    public_key = paths.key.with_suffix(".pub").read_text()
    opaque_dir(upper / "root")
    (upper / "root").chmod(0o700)
    for rc in (".bashrc", ".profile"):
        if (SKEL / rc).exists():
            shutil.copy(SKEL / rc, upper / "root" / rc)
    write(upper / "root/.ssh/authorized_keys", public_key, mode=0o600)
    (upper / "root/.ssh").chmod(0o700)
    opaque_dir(upper / "home")
    write(upper / "etc/sudoers.d/lab-deploy", "deploy ALL=(ALL) NOPASSWD:ALL\n", mode=0o440)
    # ops: sudo asks for its password (ansible_become_password).
    write(upper / "etc/sudoers.d/lab-ops", "ops ALL=(ALL) ALL\n", mode=0o440)

    # The bastion logs each forwarded connection (direct-tcpip), which proves the path taken.
    extra = "LogLevel DEBUG1\nAllowTcpForwarding yes\n" if host.role == "bastion" else ""
    write(
        upper / "etc/ssh/sshd_config",
        lab_file("sshd_config").format(address=host.address) + extra,
    )
    keygen(upper / "etc/ssh/ssh_host_ed25519_key", host.name)
    opaque_dir(upper / "var/log/supervisor")

    if host.flavour == "centos":
        for debian_only in ("etc/supervisor", "etc/init.d/supervisor", "etc/debian_version",
                            "etc/init.d/cron", "usr/sbin/cron"):  # fmt: skip
            whiteout(upper / debian_only)
        write(upper / "etc/redhat-release", "CentOS Stream release 9\n")
        write(upper / "etc/supervisord.conf", lab_file("supervisord.conf.centos"))
        (upper / "etc/supervisord.d").mkdir(parents=True)
        write(upper / "etc/init.d/supervisord", lab_file("init.d-supervisord.centos"), mode=0o755)
        # cronie's crond: this machine's cron daemon under its RHEL name.
        shutil.copy2(CRON_DAEMON, upper / "usr/sbin/crond")
        write(upper / "etc/init.d/crond", lab_file("init.d-crond.centos"), mode=0o755)

    spec: dict[str, object] = {
        "name": host.name,
        "address": host.address,
        "flavour": host.flavour,
        "role": host.role,
        "upper": str(upper),
        "work": str(work),
        "merged": str(merged),
        "web_user": host.web_user,
        "web_uid": str(host.web_uid),
        "ops_password": paths.ops_password.read_text().strip(),
        "database": database,
    }
    ca, cert, key = ensure_tls(paths)
    if host.role == "app":
        shutil.copytree(paths.app_build, upper / APP_PATH.lstrip("/"), symlinks=True)
        spec["app_path"] = APP_PATH
        write(upper / REDIS_CA_FILE.lstrip("/"), ca.read_text())
    elif host.role == "redis":
        redis_conf = Path("/etc/redis/redis.conf").read_text()
        password = paths.redis_password.read_text().strip()
        for name, source, mode in (("ca.pem", ca, 0o644), ("redis1.pem", cert, 0o644),
                                   ("redis1.key", key, 0o600)):  # fmt: skip
            write(upper / "etc/redis/tls" / name, source.read_text(), mode=mode)
            shutil.chown(upper / "etc/redis/tls" / name, "redis", "redis")
        overrides = (
            "\n# queueops lab: this host's own address, a password, no eviction of queues.\n"
            f"bind {host.address}\nprotected-mode yes\nrequirepass {password}\n"
            "daemonize yes\nmaxmemory-policy noeviction\n"
            # TLS beside the plain port, for apps configured with REDIS_SCHEME=tls.
            f"tls-port {REDIS_TLS_PORT}\ntls-cert-file /etc/redis/tls/redis1.pem\n"
            "tls-key-file /etc/redis/tls/redis1.key\ntls-ca-cert-file /etc/redis/tls/ca.pem\n"
            "tls-auth-clients no\n"
        )
        write(upper / "etc/redis/redis.conf", redis_conf + overrides, mode=0o640)
        shutil.chown(upper / "etc/redis/redis.conf", "root", "redis")
        spec["redis"] = "yes"
    elif host.role == "database":
        server: dict[str, object] = {
            "address": host.address,
            "port": DB_PORTS[database],
            "database": DB_NAME,
            "user": DB_USER,
            "password": paths.db_password.read_text().strip(),
        }
        if database == "mariadb":
            # A fresh data directory at the usual place, hiding whatever the machine's own
            # package left in its /var/lib/mysql; Debian's config plus the lab's last word.
            opaque_dir(upper / "var/lib/mysql")
            write(
                upper / "etc/mysql/mariadb.conf.d/90-queueops-lab.cnf",
                lab_file("mariadb.cnf").format(address=host.address, port=DB_PORTS[database]),
            )
            spec["mariadb"] = server
        else:
            spec["postgresql"] = {"bin": str(postgres_bin()), **server}
    (base / "spec.json").write_text(json.dumps(spec))
