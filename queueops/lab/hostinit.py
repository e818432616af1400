"""PID 1 of one lab host.

Runs as `unshare --mount --pid --uts --fork` child under the system Python with the standard
library only (the host's view of the project virtualenv disappears after pivot_root). It turns
the prepared overlay into the host's root, finishes what needs the host's own user database,
starts the host's services and then reaps orphans until the namespace is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


def mount_root(spec: dict[str, Any]) -> None:
    merged = spec["merged"]
    run(
        "mount", "-t", "overlay", "overlay",
        "-o", f"lowerdir=/,upperdir={spec['upper']},workdir={spec['work']}",
        merged,
    )  # fmt: skip
    run("mount", "-t", "proc", "proc", f"{merged}/proc")
    run("mount", "--rbind", "/sys", f"{merged}/sys")
    run("mount", "--rbind", "/dev", f"{merged}/dev")
    # A private /dev/shm, /run and /tmp: pid files, sockets and temp files stay per host.
    run("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", f"{merged}/dev/shm")
    run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", f"{merged}/run")
    run("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", f"{merged}/tmp")
    old = Path(merged, ".lab-oldroot")
    old.mkdir(exist_ok=True)
    run("pivot_root", merged, str(old))
    os.chdir("/")
    run("umount", "-l", "/.lab-oldroot")
    os.rmdir("/.lab-oldroot")


def user_exists(name: str) -> bool:
    return subprocess.run(["id", "-u", name], capture_output=True).returncode == 0


def setup_users(spec: dict[str, Any]) -> None:
    web_user, web_uid = spec["web_user"], spec["web_uid"]
    if not user_exists(web_user):
        run("groupadd", "-r", "-g", web_uid, web_user)
        run(
            "useradd", "-r", "-u", web_uid, "-g", web_user,
            "-d", "/usr/share/httpd", "-s", "/usr/sbin/nologin", web_user,
        )  # fmt: skip
    if not user_exists("deploy"):
        run("useradd", "-m", "-s", "/bin/bash", "deploy")
        # A locked account ("!") is refused by sshd even with a valid key; "*" is not.
        run("usermod", "-p", "*", "deploy")
    if not user_exists("ops"):
        run("useradd", "-m", "-s", "/bin/bash", "ops")
    subprocess.run(["chpasswd"], input=f"ops:{spec['ops_password']}\n", text=True, check=True)
    for user in ("deploy", "ops"):
        ssh_dir = Path(f"/home/{user}/.ssh")
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path("/root/.ssh/authorized_keys").read_text())
        run("chown", "-R", f"{user}:{user}", str(ssh_dir))
    if spec.get("app_path"):
        run("chown", "-R", f"{web_user}:{web_user}", spec["app_path"])


PG_DATA = "/var/lib/postgresql/lab"


def start_postgresql(pg: dict[str, Any]) -> None:
    """A fresh PostgreSQL cluster on the host's own address: the app's role and database,
    password logins from the lab's addresses only, the superuser by peer on its socket."""
    postgres = ["runuser", "-u", "postgres", "--"]
    for directory in ("/run/postgresql", PG_DATA):
        Path(directory).mkdir(mode=0o700 if directory == PG_DATA else 0o2775, exist_ok=True)
        run("chown", "postgres:postgres", directory)
    run(
        *postgres, f"{pg['bin']}/initdb", "-D", PG_DATA, "-U", "postgres", "-E", "UTF8",
        "--no-locale", "--auth-local=peer", "--auth-host=scram-sha-256",
    )  # fmt: skip
    with open(f"{PG_DATA}/pg_hba.conf", "a") as hba:
        hba.write("host all all 127.0.0.0/8 scram-sha-256\n")
    with open(f"{PG_DATA}/postgresql.conf", "a") as conf:
        # Every worker of every app host holds a connection while it polls the database queue.
        conf.write(
            f"listen_addresses = '{pg['address']}'\nport = {pg['port']}\n"
            "unix_socket_directories = '/run/postgresql'\nmax_connections = 400\n"
            "shared_buffers = 32MB\n"
        )
    run(*postgres, f"{pg['bin']}/pg_ctl", "-D", PG_DATA, "-l", f"{PG_DATA}/server.log", "-w",
        "start")  # fmt: skip
    sql = (
        "CREATE ROLE :\"user\" LOGIN PASSWORD :'password';\n"
        'CREATE DATABASE :"database" OWNER :"user";\n'
    )
    subprocess.run(
        [*postgres, "psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql",
         "-v", f"user={pg['user']}", "-v", f"password={pg['password']}",
         "-v", f"database={pg['database']}", "postgres"],
        input=sql, text=True, check=True,
    )  # fmt: skip


MARIADB_DATA = "/var/lib/mysql"
MARIADB_SOCKET = "/run/mysqld/mysqld.sock"
MARIADB_READY_TIMEOUT = 45.0


def sql_string(value: str) -> str:
    """A MariaDB string literal (the server's default sql_mode: backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def start_mariadb(db: dict[str, Any]) -> None:
    """A fresh MariaDB on the host's own address (prepare wrote its config and hid the
    machine's data directory): the app's user and database, password logins from the lab's
    addresses only, root by unix_socket on the host only."""
    for directory in (MARIADB_DATA, "/run/mysqld", "/var/log/mysql"):
        Path(directory).mkdir(mode=0o755, exist_ok=True)
        run("chown", "mysql:mysql", directory)
    run(
        "mariadb-install-db", "--user=mysql", f"--datadir={MARIADB_DATA}",
        "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve",
    )  # fmt: skip
    server = subprocess.Popen(["/usr/sbin/mariadbd", "--user=mysql"], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + MARIADB_READY_TIMEOUT
    ping = ["mariadb-admin", f"--socket={MARIADB_SOCKET}", "--silent", "ping"]
    while subprocess.run(ping, stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"MariaDB did not start (see /var/log/mysql/error.log), exit {server.poll()}")
        time.sleep(0.1)
    # The lab's addresses only, as PostgreSQL's pg_hba line; the password on stdin, never on
    # a command line.
    user = f"{sql_string(db['user'])}@'127.0.0.0/255.0.0.0'"
    name = "`" + db["database"].replace("`", "``") + "`"
    sql = (
        f"CREATE USER {user} IDENTIFIED BY {sql_string(db['password'])};\n"
        f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
        f"GRANT ALL PRIVILEGES ON {name}.* TO {user};\n"
    )
    subprocess.run(
        ["mariadb", f"--socket={MARIADB_SOCKET}", "--batch"], input=sql, text=True, check=True
    )


def start_services(spec: dict[str, Any]) -> None:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    # As systemd-tmpfiles makes it: world-writable and sticky (mkdir's mode passes the umask).
    Path("/run/lock").mkdir(exist_ok=True)
    Path("/run/lock").chmod(0o1777)
    run("/usr/sbin/sshd", "-E", "/var/log/lab-sshd.log")
    if spec.get("redis") == "yes":
        Path("/run/redis").mkdir(exist_ok=True)
        run("chown", "redis:redis", "/run/redis")
        run("service", "redis-server", "start")
    if spec.get("postgresql"):
        start_postgresql(spec["postgresql"])
    if spec.get("mariadb"):
        start_mariadb(spec["mariadb"])


def reap_forever() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    socket.sethostname(spec["name"])
    mount_root(spec)
    setup_users(spec)
    start_services(spec)
    print(f"lab host {spec['name']} ready", flush=True)
    reap_forever()


if __name__ == "__main__":
    main()
