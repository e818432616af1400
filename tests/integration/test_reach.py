"""Reaching hosts as real fleets are reached: through a bastion, with ssh-agent, strict host
keys, bounded forks, retries, sudo with a password, and progress on a terminal."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from queueops.kinds import host_settings
from queueops.kinds.hosts import load
from queueops.lab import control
from queueops.lab.connections import ssh_connections
from queueops.lab.fleet import repo_root
from queueops.transport.session import HostSession
from tests.conftest import Lab
from tests.integration.test_setup_worker import INVOKE, inventory, program, queueops

pytestmark = pytest.mark.lab

PROGRAMS = [program("reach", ["reach"], processes=1)]


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def sshd_log(lab: Lab, host: str) -> str:
    return (lab.paths.host_dir(host) / "upper/var/log/lab-sshd.log").read_text(errors="replace")


@pytest.fixture
def bastion(lab: Lab) -> Generator[Path, None, None]:
    """The bastion started beside the default lab; its sshd log, emptied."""
    control.up(2, lab.paths, bastion=True)
    log = lab.paths.host_dir("bastion") / "upper/var/log/lab-sshd.log"
    log.write_text("")
    yield log
    control.down(lab.paths, only={"bastion"})


def test_the_fleet_is_reached_through_the_bastion_and_only_through_it(
    lab: Lab, bastion: Path
) -> None:
    result = queueops("setup-worker", "-i", "inventories/lab-bastion", "--all", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    log = bastion.read_text()
    for host in ("redis1", "app1", "app2"):
        assert f"target {lab.address(host)} port 22" in log, host
    # One connection to the bastion for the whole run, one forwarded channel per host.
    assert log.count("Accepted publickey for root") == 1
    # The proof fails when the bastion is bypassed: the plain lab inventory opens no
    # connection to it and no forwarded channel through it. (Lines about the first run's
    # channels closing may still come in after the log is emptied: only openings count.)
    bastion.write_text("")
    direct = queueops("setup-worker", "-i", "inventories/lab", "--all", "--check", "--json")
    assert direct.returncode == 0, direct.stdout + direct.stderr
    after = bastion.read_text()
    assert "Accepted publickey" not in after, after
    for host in ("redis1", "app1", "app2"):
        assert f"target {lab.address(host)} port 22" not in after, after


@pytest.fixture
def agent(tmp_path: Path, lab: Lab) -> Generator[dict[str, str], None, None]:
    """An ssh-agent holding the lab key, and a HOME with no key of its own."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", out))
    home = tmp_path / "home"
    home.mkdir()
    env = {"SSH_AUTH_SOCK": found["SSH_AUTH_SOCK"], "HOME": str(home)}
    subprocess.run(["ssh-add", "-q", str(lab.paths.key)], env={**os.environ, **env}, check=True)
    yield env
    os.kill(int(found["SSH_AGENT_PID"]), signal.SIGTERM)


def agent_inventory(tmp_path: Path, lab: Lab) -> Path:
    inv = inventory(tmp_path, lab, PROGRAMS)
    all_vars = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    del all_vars["ansible_ssh_private_key_file"]
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_vars))
    return inv


def test_ssh_agent_alone_authenticates_both_flavours(
    lab: Lab, tmp_path: Path, agent: dict[str, str]
) -> None:
    inv = agent_inventory(tmp_path, lab)
    converged = queueops("setup-worker", "-i", str(inv), "--group", "workers", "--json", env=agent)
    assert converged.returncode == 0, converged.stdout + converged.stderr
    hosts = as_json(converged)["hosts"]
    assert {h: v["status"] for h, v in hosts.items()} == {"app1": "changed", "app2": "changed"}
    # Without the agent the same inventory has no way in: the agent is what authenticated.
    without = {"HOME": agent["HOME"], "SSH_AUTH_SOCK": ""}
    refused = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json", env=without)
    assert refused.returncode == 1
    assert "cannot connect" in as_json(refused)["hosts"]["app1"]["error"]


def fingerprint(lab: Lab, host: str) -> str:
    public = lab.paths.host_dir(host) / "upper/etc/ssh/ssh_host_ed25519_key.pub"
    out = subprocess.run(["ssh-keygen", "-lf", str(public)], capture_output=True, text=True)
    return out.stdout.split()[1]


def test_unknown_keys_are_refused_then_accepted_and_recorded_and_a_changed_key_never_is(
    lab: Lab, tmp_path: Path
) -> None:
    inv = inventory(tmp_path, lab, PROGRAMS)
    known = tmp_path / "known_hosts"
    env = {"QUEUEOPS_KNOWN_HOSTS": str(known)}
    logins = sshd_log(lab, "app1").count("Accepted publickey")
    refused = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json", env=env)
    assert refused.returncode == 1
    error = as_json(refused)["hosts"]["app1"]["error"]
    assert f"host key of {lab.address('app1')} is not on record" in error
    assert fingerprint(lab, "app1") in error and "--accept-new-host-keys" in error
    # Refused before authentication: nothing was sent to the host.
    assert sshd_log(lab, "app1").count("Accepted publickey") == logins
    # The report says it all: paramiko's own complaints about the closed connections
    # ("Socket exception: Bad file descriptor (9)") never reach the terminal.
    for _ in range(3):
        text = queueops("setup-worker", "-i", str(inv), "--group", "workers", env=env)
        assert text.returncode == 1 and text.stderr == "", text.stderr

    accepted = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json",
                      "--accept-new-host-keys", env=env)  # fmt: skip
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    public = (lab.paths.host_dir("app1") / "upper/etc/ssh/ssh_host_ed25519_key.pub").read_text()
    assert known.read_text() == f"{lab.address('app1')} {' '.join(public.split()[:2])}\n"
    again = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json", env=env)
    assert again.returncode == 0, again.stdout + again.stderr

    # As Ansible users say it: ANSIBLE_HOST_KEY_CHECKING=False accepts app2's key.
    ansible = queueops("setup-worker", "-i", str(inv), "--host", "app2", "--json",
                     env={**env, "ANSIBLE_HOST_KEY_CHECKING": "False"})  # fmt: skip
    assert ansible.returncode == 0, ansible.stdout + ansible.stderr
    assert lab.address("app2") in known.read_text()

    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    fake = " ".join(impostor.with_suffix(".pub").read_text().split()[:2])
    known.write_text(f"{lab.address('app1')} {fake}\n")
    changed = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json",
                     "--accept-new-host-keys", env=env)  # fmt: skip
    assert changed.returncode == 1
    assert "does not match" in as_json(changed)["hosts"]["app1"]["error"]

    # verify's testinfra connections follow the same policy.
    known.write_text("")
    checked = queueops("verify", "-i", str(inv), "--host", "app1", "--json", env=env)
    assert checked.returncode == 1
    assert (
        f"host key of {lab.address('app1')} is not on record"
        in as_json(checked)["hosts"]["app1"]["error"]
    )


def test_keys_accepted_into_dev_null_are_warned_about_once_a_run(lab: Lab, tmp_path: Path) -> None:
    # Ansible's usual way to skip host keys: nothing is recorded, so any key passes every run.
    blind = {"ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null"}
    inv = inventory(tmp_path, lab, PROGRAMS, host_vars={"app1": blind, "app2": blind})
    env = {"ANSIBLE_HOST_KEY_CHECKING": "False"}
    for task in ("setup-worker", "status"):
        result = queueops(task, "-i", str(inv), "--group", "workers", "--json", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1, result.stderr
        assert "host keys of app1, app2 are not checked" in warnings[0]
        assert "ANSIBLE_HOST_KEY_CHECKING=False" in warnings[0]
        assert "UserKnownHostsFile=/dev/null" in warnings[0]
    # A host key on record: nothing to warn about.
    known = tmp_path / "known_hosts"
    recorded = inventory(tmp_path / "recorded", lab, PROGRAMS)
    env = {**env, "QUEUEOPS_KNOWN_HOSTS": str(known)}
    for _ in range(2):
        quiet = queueops("status", "-i", str(recorded), "--group", "workers", "--json", env=env)
        assert quiet.returncode == 0 and quiet.stderr == "", quiet.stdout + quiet.stderr


def test_forks_bound_the_connections_held_at_once(lab: Lab, tmp_path: Path) -> None:
    control.up(6, lab.paths)
    try:
        inv = inventory(tmp_path, lab, PROGRAMS)
        hosts = {f"app{i}": {"ansible_host": f"127.0.1.{10 + i}"} for i in range(1, 7)}
        (inv / "hosts.yml").write_text(
            yaml.safe_dump({"all": {"children": {"workers": {"hosts": hosts}}}})
        )
        base = {k: v for k, v in os.environ.items() if k != "QUEUEOPS_INVENTORY"}
        proc = subprocess.Popen(
            [INVOKE, "setup-worker", "-i", str(inv), "--all", "--check", "--json", "--forks", "2"],
            cwd=repo_root(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL, env=base,
        )  # fmt: skip
        most = 0
        while proc.poll() is None:
            most = max(most, ssh_connections(proc.pid))
            time.sleep(0.005)
        out, err = proc.communicate()
        assert proc.returncode == 0, out + err
        assert len(json.loads(out)["hosts"]) == 6
        assert 1 <= most <= 2, most
    finally:
        control.down(lab.paths, only={f"app{i}" for i in range(3, 7)})


def test_a_host_whose_sshd_drops_then_restarts_is_reached_after_retries(
    lab: Lab, tmp_path: Path
) -> None:
    inv = inventory(tmp_path, lab, PROGRAMS)
    lab.ssh("app1", "kill $(cat /run/sshd.pid)")
    # In sshd's place until queueops' first attempt: that connection is closed before the
    # banner (as sshd does over MaxStartups), then the port refuses (sshd restarting) for a
    # second. Driven by the attempt itself, not by a timer, so a slow start proves the same.
    port = socket.create_server((lab.address("app1"), 22))
    dropped = threading.Event()

    def drop_then_start_sshd() -> None:
        port.settimeout(60)
        try:
            first, _ = port.accept()
            first.close()
            dropped.set()
        except TimeoutError:
            pass  # asserted below; sshd is started all the same
        finally:
            port.close()
        time.sleep(1.0)
        control.enter("app1", ["/usr/sbin/sshd", "-E", "/var/log/lab-sshd.log"], lab.paths)

    thread = threading.Thread(target=drop_then_start_sshd)
    thread.start()
    try:
        result = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--check", "--json")
    finally:
        thread.join()
    assert dropped.is_set(), "queueops never tried the host"
    assert result.returncode == 0, result.stdout + result.stderr
    assert as_json(result)["hosts"]["app1"]["attempts"] >= 2


def test_sudo_with_a_password_converges_and_never_shows_it(lab: Lab, tmp_path: Path) -> None:
    password = lab.paths.ops_password.read_text().strip()
    # A program no other test installs: the run must change both hosts, as root through sudo.
    inv = inventory(tmp_path, lab, [program("sudoed", ["sudoed"])], user="ops", become=True)
    all_file = inv / "group_vars" / "all.yml"
    all_vars = yaml.safe_load(all_file.read_text())
    all_file.write_text(yaml.safe_dump({**all_vars, "ansible_become_password": password}))
    result = queueops("setup-worker", "-i", str(inv), "--group", "workers", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {v["status"] for v in as_json(result)["hosts"].values()} == {"changed"}
    assert password not in result.stdout + result.stderr
    all_file.write_text(yaml.safe_dump({**all_vars, "ansible_become_password": "wrong"}))
    wrong = queueops("setup-worker", "-i", str(inv), "--host", "app1", "--json")
    assert wrong.returncode == 1
    assert "sudo refused ansible_become_password" in as_json(wrong)["hosts"]["app1"]["error"]


def test_hostile_ssh_args_are_refused_before_any_host_is_contacted(
    lab: Lab, tmp_path: Path
) -> None:
    inv = inventory(tmp_path, lab, PROGRAMS)
    all_file = inv / "group_vars" / "all.yml"
    all_vars = yaml.safe_load(all_file.read_text())
    logins = sshd_log(lab, "app1").count("Connection from")
    for hostile in ("-o ProxyJump=$(reboot)", '-o ProxyCommand="nc %h %p; reboot"', "-A"):
        all_file.write_text(yaml.safe_dump({**all_vars, "ansible_ssh_common_args": hostile}))
        result = queueops("setup-worker", "-i", str(inv), "--host", "app1")
        assert result.returncode == 2, hostile
        assert "ansible_ssh_common_args" in result.stderr and "Traceback" not in result.stderr
    assert sshd_log(lab, "app1").count("Connection from") == logins


def test_on_a_terminal_each_host_is_shown_as_it_finishes(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(tmp_path, lab, PROGRAMS)
    command = f"{INVOKE} setup-worker -i {inv} --group workers --check"
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=repo_root(), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    lines = result.stdout.replace("\r", "").splitlines()
    shown = [line for line in lines if re.match(r"\[[12]/2\] app[12] (ok|changed)", line)]
    assert len(shown) == 2, result.stdout
    assert lines.index(shown[-1]) < lines.index("setup-worker (check: nothing was changed)")
    # Not on a terminal: exactly the table, as before.
    piped = queueops("setup-worker", "-i", str(inv), "--group", "workers", "--check")
    assert not re.search(r"^\[\d/2\]", piped.stdout + piped.stderr, re.M)


def test_nagle_is_off_before_the_first_byte_of_the_handshake(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Nagle on, each small handshake packet sent behind an unacknowledged one waits for
    the host's delayed ACK: ~40 ms more on every connection. The socket paramiko is handed
    must have it off already when paramiko's transport is built on it."""
    handed: list[int] = []
    built = paramiko.Transport.__init__

    def recording(self: paramiko.Transport, sock: Any, *args: Any, **kwargs: Any) -> None:
        handed.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        built(self, sock, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "__init__", recording)
    loaded = load(str(inventory(tmp_path, lab, PROGRAMS)), None)
    for name in ("app1", "app2"):
        settings = host_settings(loaded.hosts[name], loaded.role_keys)
        with HostSession(name, settings.connection) as session:
            assert session.run("true").ok
    assert len(handed) == 2 and all(handed), handed
