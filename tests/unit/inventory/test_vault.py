"""Ansible Vault in inventories: every way ansible-inventory takes a password, a prompt on a
terminal, a refusal without one, and decrypted values that no output shows."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..trees import REPO, write_inventory

SHAPES = Path(__file__).parent / "shapes"
VAULTED = SHAPES / "vault" / "inventory"
PASSWORD_FILE = SHAPES / "vault" / "vault-password"
PASSWORD = PASSWORD_FILE.read_text().strip()
# The plain texts of shapes/vault: neither may ever be shown.
SECRETS = ("corpus-become-secret", "corpus-redis-secret")
BIN = Path(sys.executable).parent


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k != "QUEUEOPS_INVENTORY" and not k.startswith("ANSIBLE_VAULT")}  # fmt: skip
    return subprocess.run([BIN / "invoke", *args], cwd=REPO, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def shown(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_without_a_password_the_encrypted_file_is_named_and_nothing_runs() -> None:
    result = invoke("inventory", "--host", "web1", "-i", str(VAULTED))
    assert result.returncode == 2
    assert "group_vars/all/vault.yml: encrypted with Ansible Vault" in result.stderr
    assert "--vault-password-file" in result.stderr
    assert result.stdout == ""


def test_a_password_file_decrypts_whole_files_and_values_which_stay_masked() -> None:
    doc = shown(invoke("inventory", "--list", "-i", str(VAULTED),
                       "--vault-password-file", str(PASSWORD_FILE)))  # fmt: skip
    hostvars = doc["_meta"]["hostvars"]
    assert hostvars["web1"]["ansible_become_password"] == "********"
    assert hostvars["web1"]["vault_become_password"] == "********"
    assert hostvars["redis1"]["redis_queue_password"] == "********"
    assert hostvars["redis1"]["redis_queue_maxmemory"] == "256mb"
    web1 = doc["_meta"]["queueops"]["web1"]["settings"]
    assert web1["connection"]["become_password"] == "********"
    redis1 = doc["_meta"]["queueops"]["redis1"]["settings"]
    assert redis1["kinds"]["redis"]["password"] == "********"


def test_vault_id_and_the_environment_variable_work_as_in_ansible() -> None:
    by_id = invoke("inventory", "--host", "redis1", "-i", str(VAULTED),
                   "--vault-id", f"corpus@{PASSWORD_FILE}")  # fmt: skip
    assert shown(by_id)["vars"]["redis_queue_password"] == "********"
    by_env = invoke("inventory", "--host", "redis1", "-i", str(VAULTED),
                    env={"ANSIBLE_VAULT_PASSWORD_FILE": str(PASSWORD_FILE)})  # fmt: skip
    assert shown(by_env)["vars"]["redis_queue_password"] == "********"


def test_a_wrong_password_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    result = invoke("inventory", "--host", "web1", "-i", str(VAULTED),
                    "--vault-password-file", str(wrong))  # fmt: skip
    assert result.returncode == 2
    assert "Decryption failed" in result.stderr or "no vault secrets" in result.stderr


def test_on_a_terminal_the_password_is_asked_once() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: invoke on the terminal pty.fork made
        os.chdir(REPO)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
        argv = [str(BIN / "invoke"), "inventory", "--host", "redis1", "-i", str(VAULTED)]
        os.execve(argv[0], argv, env)
    output = b""
    deadline = time.monotonic() + 60
    asked = 0
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        output += chunk
        if output.count(b"Vault password") > asked:
            asked += 1
            os.write(fd, PASSWORD.encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert asked == 1
    assert '"redis_queue_password": "********"' in text
    for secret in (*SECRETS, PASSWORD):
        assert secret not in text


def test_a_vaulted_value_that_fails_validation_is_not_repeated(tmp_path: Path) -> None:
    encrypted = subprocess.run(
        [BIN / "ansible-vault", "encrypt_string", "--vault-password-file", PASSWORD_FILE,
         "Not A User", "--name", "queue_worker_user"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    inv = write_inventory(tmp_path, group_vars={"all": {"os_family": "debian"}})
    (inv / "group_vars" / "workers.yml").write_text(encrypted)
    result = invoke("render", "-i", str(inv), "--host", "web1", "--out", str(tmp_path / "out"),
                    "--vault-password-file", str(PASSWORD_FILE))  # fmt: skip
    assert result.returncode == 2
    assert "group_vars/workers.yml: host web1: queue_worker_user:" in result.stderr
    assert "'********' is not a safe user name" in result.stderr
    assert "Not A User" not in result.stdout + result.stderr
