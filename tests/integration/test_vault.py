"""Secrets from Ansible Vault used for real on the lab: the sudo password of `ops` and the Redis
password, decrypted with --vault-password-file, and seen nowhere: not in the output, not in
--json, not on any process's command line while the run goes on."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml

from queueops.shell import cmd
from tests.conftest import Lab
from tests.integration.test_reach import as_json
from tests.integration.test_setup_worker import inventory, program, queueops

pytestmark = pytest.mark.lab

VAULT = str(Path(sys.executable).with_name("ansible-vault"))


def encrypt_string(password_file: Path, name: str, value: str) -> str:
    """`name: !vault |...` as ansible-vault encrypt_string writes it (value on stdin)."""
    return subprocess.run(
        [VAULT, "encrypt_string", "--vault-password-file", str(password_file),
         "--stdin-name", name],
        input=value, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def vaulted_inventory(tmp: Path, lab: Lab, redis_password: str) -> tuple[Path, Path]:
    """The lab as `ops` with sudo's password in a vars file encrypted whole, and redis1's
    password as a !vault value; the vault password file beside it."""
    password_file = tmp / "vault-password"
    password_file.write_text(secrets.token_urlsafe(16) + "\n")
    inv = inventory(tmp, lab, [program("vaulted", ["vaulted"])], user="ops", become=True)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["redis"] = {
        "hosts": {"redis1": {"ansible_host": lab.address("redis1")}}
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    connection = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    (inv / "group_vars" / "all.yml").unlink()
    (inv / "group_vars" / "all").mkdir()
    connection["ansible_become_password"] = "{{ vault_become_password }}"
    (inv / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(connection))
    vault_file = inv / "group_vars" / "all" / "vault.yml"
    vault_file.write_text(
        yaml.safe_dump({"vault_become_password": lab.paths.ops_password.read_text().strip()})
    )
    subprocess.run([VAULT, "encrypt", "--vault-password-file", str(password_file), str(vault_file)],
                   check=True, capture_output=True)  # fmt: skip
    (inv / "group_vars" / "redis.yml").write_text(
        "redis_queue_maxmemory_policy: noeviction\n"
        + encrypt_string(password_file, "redis_queue_password", redis_password)
    )
    return inv, password_file


@contextmanager
def command_lines() -> Iterator[list[str]]:
    """Every process command line seen on the machine (lab hosts included) while the block
    runs, sampled every few milliseconds."""
    seen: set[str] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for proc in Path("/proc").iterdir():
                # A process may end between the listing and the read.
                with suppress(OSError):
                    line = (proc / "cmdline").read_bytes() if proc.name.isdigit() else b""
                    seen.add(line.replace(b"\0", b" ").decode(errors="replace"))
            done.wait(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    found: list[str] = []
    try:
        yield found
    finally:
        done.set()
        thread.join()
        found.extend(seen)


def test_vaulted_become_and_redis_passwords_are_used_and_never_shown(
    lab: Lab, tmp_path: Path
) -> None:
    become = lab.paths.ops_password.read_text().strip()
    redis = lab.paths.redis_password.read_text().strip()
    inv, password_file = vaulted_inventory(tmp_path, lab, redis)
    vault = ["--vault-password-file", str(password_file)]
    with command_lines() as seen:
        converge = queueops("setup-worker", "-i", str(inv), "--group", "workers", "--json", *vault)
        tune = queueops("tune-redis", "-i", str(inv), "--host", "redis1", "--check", *vault)
    assert converge.returncode == 0, converge.stdout + converge.stderr
    # As root through sudo, with the password decrypted from vault.yml.
    assert {h["status"] for h in as_json(converge)["hosts"].values()} == {"changed"}
    assert (
        lab.ssh("app1", "stat -c %U /etc/supervisor/conf.d/vaulted.conf").stdout.strip() == "root"
    )
    assert tune.returncode == 0, tune.stdout + tune.stderr
    # Read with the vaulted password: redis1 answered, and the check shows what would change.
    [row] = [line.split() for line in tune.stdout.splitlines() if line.split()[:1] == ["redis1"]]
    assert row[1] == "changed", tune.stdout
    shown = converge.stdout + converge.stderr + tune.stdout + tune.stderr
    vault_password = password_file.read_text().strip()
    for secret in (become, redis, vault_password):
        assert secret not in shown
        assert not [line for line in seen if secret in line]
    assert len(seen) > 20  # the sampler saw the run's processes (ssh, sshd, python3, sudo)


def test_a_wrong_vaulted_redis_password_is_the_one_redis_refuses(lab: Lab, tmp_path: Path) -> None:
    # The password in the inventory is the one used (not redis.conf's requirepass read on the
    # host, which queueops falls back to when the inventory gives none).
    inv, password_file = vaulted_inventory(tmp_path, lab, "not-the-redis-password")
    result = queueops("tune-redis", "-i", str(inv), "--host", "redis1", "--check",
                      "--vault-password-file", str(password_file))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Redis at {lab.address('redis1')}:6379 refused" in result.stdout
    assert "not-the-redis-password" not in result.stdout + result.stderr


SUDOERS = {
    # sudo asks for every command (nothing cached): the password reaches sudo each time.
    "asks every time": "Defaults:ops timestamp_timeout=0\n",
    # sudo wants the password for anything but the shell queueops runs its commands in.
    "shell without a password": "Defaults:ops timestamp_timeout=0\n"
    "ops ALL=(ALL) NOPASSWD: /bin/sh, /usr/bin/sh\n",
    # deploy's sudo never asks: the password given is never used.
    "never asks": "",
}


@pytest.mark.parametrize("sudoers", list(SUDOERS))
def test_the_become_password_reaches_sudo_and_nothing_else(
    lab: Lab, tmp_path: Path, sudoers: str
) -> None:
    user = "deploy" if sudoers == "never asks" else "ops"
    password = lab.paths.ops_password.read_text().strip()
    inv = inventory(tmp_path, lab, [program("sudoed", ["sudoed"])], user=user, become=True)
    connection = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    (inv / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({**connection, "ansible_become_password": password})
    )
    rule = "/etc/sudoers.d/zz-become-test"
    lab.ssh("app1", f"printf %s {cmd(SUDOERS[sudoers])} > {rule} && chmod 0440 {rule}")
    try:
        with command_lines() as seen:
            result = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json")
    finally:
        lab.ssh("app1", f"rm -f {rule}", check=False)
    assert password not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert as_json(result)["hosts"]["app1"]["status"] in ("changed", "ok")
    assert lab.ssh("app1", "stat -c %U /etc/supervisor/conf.d/sudoed.conf").stdout.strip() == "root"
    assert not [line for line in seen if password in line]
    # The file sudo's askpass reads is gone with the run.
    left = lab.ssh("app1", "find /tmp -maxdepth 1 -user ops -type f").stdout.strip()
    assert left == "", left
