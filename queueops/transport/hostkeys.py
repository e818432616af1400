"""Host keys, strict by default: the one policy for every way queueops reaches a host.

An unknown host is refused before anything is sent, naming the host, its key's fingerprint
and how to accept it; with accept-new (--accept-new-host-keys, an inventory's
`-o StrictHostKeyChecking=accept-new`, or ANSIBLE_HOST_KEY_CHECKING=False as Ansible users
set it) an unknown key is accepted and recorded, like OpenSSH's `accept-new`. A key that
differs from the one on record is always refused (paramiko's BadHostKeyException).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.hostkeys import InvalidHostKey

from queueops.errors import RemoteError

KNOWN_HOSTS_ENV = "QUEUEOPS_KNOWN_HOSTS"
ANSIBLE_CHECKING_ENV = "ANSIBLE_HOST_KEY_CHECKING"
DEFAULT_FILE = "~/.ssh/known_hosts"
GLOBAL_FILE = "/etc/ssh/ssh_known_hosts"
_record_lock = threading.Lock()


class UnknownHostKeyError(RemoteError):
    """A host whose key is on no record, refused under the strict policy."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint (as ssh-keygen -l prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def ansible_says_accept() -> bool:
    """ANSIBLE_HOST_KEY_CHECKING=False (or no, 0, off), as Ansible reads it."""
    value = os.environ.get(ANSIBLE_CHECKING_ENV, "").strip().lower()
    return value in ("false", "no", "0", "off", "n", "f")


@dataclass(frozen=True)
class HostKeyPolicy:
    """Where the keys on record are and what to do with a host that has none."""

    known_hosts: Path
    accept_new: bool

    @classmethod
    def resolve(
        cls, inventory_file: str | None, ssh_config_file: str | None, accept_new: bool
    ) -> HostKeyPolicy:
        """QUEUEOPS_KNOWN_HOSTS wins (an operator's override for one run), then the
        inventory's -o UserKnownHostsFile, then ~/.ssh/config's, then ~/.ssh/known_hosts."""
        chosen = (
            os.environ.get(KNOWN_HOSTS_ENV) or inventory_file or ssh_config_file or DEFAULT_FILE
        )
        return cls(Path(chosen).expanduser(), accept_new)

    def apply(self, client: paramiko.SSHClient, name: str, address: str, known: KnownHosts) -> None:
        """Give `client` the records of `address` (paramiko's name for the host: `host`, or
        `[host]:port` off port 22) and set what happens to an unknown host."""
        on_record = client.get_host_keys()
        for path in (Path(GLOBAL_FILE), self.known_hosts):
            try:
                records = known.lookup(path, address)
            except ValueError as exc:
                raise RemoteError(f"{name}: cannot read host keys from {path}: {exc}") from None
            for keytype, key in records.items():
                on_record.add(address, keytype, key)
        client.set_missing_host_key_policy(_Missing(self, name, known))
        if self.accept_new and self.known_hosts == Path(os.devnull):
            known.trusted_blindly(name)

    def record(self, hostname: str, key: paramiko.PKey, known: KnownHosts) -> None:
        """Append `hostname keytype base64` to the known_hosts file (0600, created if absent)."""
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _record_lock:
            fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)
        known.add(self.known_hosts, hostname, key)


class KnownHosts:
    """The known_hosts files of one run, each parsed once, shared by every connection.

    paramiko parses every line of a file into a key object; a client per host loading the
    files itself costs a run O(hosts x lines): 0.7 ms a host for the lab's 22 lines, seconds
    for a few hundred hosts and a known_hosts to match.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A file that cannot be read: why, for every host that needs it.
        self._files: dict[Path, paramiko.HostKeys | str] = {}
        # Hosts whose unknown keys are accepted into /dev/null: any key, every run.
        self._blind: set[str] = set()

    def trusted_blindly(self, name: str) -> None:
        with self._lock:
            self._blind.add(name)

    def warn_blind(self) -> None:
        """Once per run, on stderr: the hosts whose key nothing checks. Accepting a new key
        into /dev/null records nothing, so every run accepts whatever key answers (Ansible's
        usual ANSIBLE_HOST_KEY_CHECKING=False with -o UserKnownHostsFile=/dev/null)."""
        with self._lock:
            blind, self._blind = sorted(self._blind), set()
        if not blind:
            return
        why = f"{ANSIBLE_CHECKING_ENV}=False" if ansible_says_accept() else "accept-new"
        sys.stderr.write(
            f"warning: host keys of {', '.join(blind)} are not checked: {why} with "
            "UserKnownHostsFile=/dev/null accepts any key on every run, a man in the "
            "middle's too; give these hosts a known_hosts file (ansible_ssh_common_args "
            "-o UserKnownHostsFile=..., or QUEUEOPS_KNOWN_HOSTS)\n"
        )

    def _parsed(self, path: Path) -> paramiko.HostKeys:
        if path not in self._files:
            try:
                self._files[path] = paramiko.HostKeys(str(path) if path.is_file() else None)
            except InvalidHostKey as exc:
                self._files[path] = f"invalid record {exc.line[:60]!r}: {exc.exc}"
            except (OSError, ValueError, paramiko.SSHException) as exc:
                self._files[path] = str(exc) or type(exc).__name__
        parsed = self._files[path]
        if isinstance(parsed, str):
            raise ValueError(parsed)
        return parsed

    def lookup(self, path: Path, address: str) -> dict[str, paramiko.PKey]:
        """`address`'s keys on record in `path` (hashed entries too), by key type; ValueError
        saying why for a file that cannot be read."""
        with self._lock:
            found = self._parsed(path).lookup(address)
            return dict(found) if found is not None else {}

    def add(self, path: Path, address: str, key: paramiko.PKey) -> None:
        """A key just recorded in `path`: the rest of the run knows it too."""
        with self._lock:
            self._parsed(path).add(address, key.get_name(), key)


class _Missing(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    def __init__(self, policy: HostKeyPolicy, name: str, known: KnownHosts) -> None:
        self.policy = policy
        self.name = name
        self.known = known

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        if not self.policy.accept_new:
            raise UnknownHostKeyError(
                f"{self.name}: host key of {hostname} is not on record in "
                f"{self.policy.known_hosts} ({key.get_name()} {fingerprint(key)}); nothing was "
                "sent to it. If that is the host's key, run again with --accept-new-host-keys "
                f"to accept and record it, or add it to {self.policy.known_hosts} "
                "(ssh-keyscan, after comparing the fingerprint)"
            )
        self.policy.record(hostname, key, self.known)
        client.get_host_keys().add(hostname, key.get_name(), key)
