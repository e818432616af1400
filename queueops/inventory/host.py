"""What every host has whatever its config kinds: how to reach it and its OS family."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from queueops.inventory.loader import Host, did_you_mean
from queueops.inventory.validators import POSITIVE, got, name, posix_user, string
from queueops.platforms import PLATFORMS

# Connection variables queueops honours, with Ansible's names so one inventory serves both.
CONNECTION_KEYS = frozenset(
    {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_become",
        "ansible_become_user",
        "ansible_become_method",
        "ansible_become_password",
        "ansible_become_pass",
        "ansible_connection",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
    }
)
# Ansible's password logins: queueops authenticates with keys only, and says so.
PASSWORD_KEYS = frozenset({"ansible_password", "ansible_ssh_pass", "ansible_ssh_password"})
# Accepted because Ansible needs them from the same inventory; queueops ignores them.
ANSIBLE_ONLY_KEYS = frozenset({"ansible_python_interpreter", "ansible_ssh_pipelining"})
# Lets `invoke render` pick a platform without asking the host.
OS_FAMILY_KEY = "os_family"
# How many backups of each file a host keeps (they hold copies of .env).
BACKUPS_KEEP_KEY = "queueops_backups_keep"
BACKUPS_KEEP_DEFAULT = 5
HOST_KEYS = CONNECTION_KEYS | PASSWORD_KEYS | ANSIBLE_ONLY_KEYS | {OS_FAMILY_KEY, BACKUPS_KEEP_KEY}

_SSH_CONNECTIONS = ("ssh", "smart", "paramiko")
# `-o` options of ansible_ssh_common_args / ansible_ssh_extra_args that queueops acts on.
_UNDERSTOOD = ("ProxyJump", "ProxyCommand", "UserKnownHostsFile", "StrictHostKeyChecking")
# Options about OpenSSH's own connection reuse and keep-alives: queueops holds one connection
# per host for a run, so they change nothing here and are ignored.
_IGNORED = ("ControlMaster", "ControlPersist", "ControlPath", "ServerAliveInterval",
            "ServerAliveCountMax")  # fmt: skip
_HOST_KEY_CHECKING = {"yes": "strict", "ask": "strict", "accept-new": "accept-new",
                      "no": "accept-new", "off": "accept-new"}  # fmt: skip
# queueops runs a ProxyCommand itself, without a shell: shell syntax would not mean what it
# means to ssh.
_SHELL_SYNTAX = re.compile(r"[;&|`$<>(){}\\\n\0]")


@dataclass(frozen=True)
class Hop:
    """One ProxyJump hop: [user@]host[:port]."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return (
            (f"{self.user}@" if self.user else "")
            + self.host
            + (f":{self.port}" if self.port else "")
        )


@dataclass(frozen=True)
class Connection:
    # An address, a DNS name or a Host alias of ~/.ssh/config.
    host: str
    # None: as ssh decides (~/.ssh/config, else 22 and the local user), as Ansible does.
    port: int | None
    user: str | None
    key_file: str | None
    become: bool
    # sudo's password, sent on sudo's stdin; never printed (repr hides it).
    become_password: str | None = field(default=None, repr=False)
    # Bastions to go through, first hop first (ProxyJump / -J).
    jumps: tuple[Hop, ...] = ()
    proxy_command: str | None = None
    # From -o UserKnownHostsFile= / -o StrictHostKeyChecking= of the ssh args.
    known_hosts_file: str | None = None
    host_key_checking: str | None = None


@dataclass(frozen=True)
class HostSettings:
    name: str
    connection: Connection
    os_family: str | None
    # Each config kind's validated settings, by kind name (queueops.kinds registry); read
    # them with the kind's own accessor (kinds.workers.settings.worker_of, ...).
    kinds: Mapping[str, object] = field(default_factory=dict)
    backups_keep: int = BACKUPS_KEEP_DEFAULT


def check_keys(host: Host, role_keys: frozenset[str]) -> None:
    """Refuse variables no role, no connection setting and no template knows: they are typos."""
    known = role_keys | HOST_KEYS
    for key in host.vars:
        if key not in known and key not in host.helpers:
            raise host.error(
                key,
                f"unknown variable{did_you_mean(key, known)}; known variables are the keys "
                "of roles/*/defaults/main.yml, the ansible_* connection variables, os_family, "
                "and the variables other variables' templates use",
            )


def parse_hop(host: Host, key: str, text: str) -> Hop:
    user, _, rest = text.rpartition("@")
    hop_host, _, port_text = rest.partition(":")
    if port_text and not port_text.isdigit():
        raise host.error(key, f"ProxyJump hop {text!r}: the port must be a number")
    port = int(port_text) if port_text else None
    if port is not None and not 1 <= port <= 65535:
        raise host.error(key, f"ProxyJump hop {text!r}: port {port} is not 1-65535")
    return Hop(
        host=name(host, key, hop_host),
        user=posix_user(host, key, user) if user else None,
        port=port,
    )


@dataclass
class _SshArgs:
    jumps: tuple[Hop, ...] = ()
    proxy_command: str | None = None
    known_hosts_file: str | None = None
    host_key_checking: str | None = None


def _ssh_option(host: Host, key: str, option: str, out: _SshArgs) -> None:
    # ssh takes `Key=Value` and `Key Value`; whichever separator comes first ends the key.
    cut = min((i for i in (option.find("="), option.find(" ")) if i >= 0), default=len(option))
    name_part, value = option[:cut], option[cut + 1 :]
    wanted = name_part.strip().lower()
    value = value.strip()
    known = {o.lower(): o for o in (*_UNDERSTOOD, *_IGNORED)}
    if wanted not in known:
        raise host.error(
            key,
            f"option -o {option!r} is not supported: queueops understands -o "
            f"{'=, -o '.join(_UNDERSTOOD)}= and -J (ProxyJump) and ignores "
            f"{', '.join(_IGNORED)}; remove the option, or set it for this host in "
            "~/.ssh/config if it must stay",
        )
    if not value:
        raise host.error(key, f"option -o {known[wanted]} has no value")
    if wanted == "proxyjump":
        out.jumps += tuple(parse_hop(host, key, hop) for hop in value.split(",") if hop != "none")
    elif wanted == "proxycommand":
        if _SHELL_SYNTAX.search(value):
            raise host.error(
                key,
                f"ProxyCommand {value!r} uses shell syntax, but queueops runs it without a "
                "shell (as words, with %h %p %r replaced): give a plain command such as "
                "ssh -W %h:%p bastion, or use -o ProxyJump=",
            )
        out.proxy_command = value
    elif wanted == "userknownhostsfile":
        if "\0" in value or "\n" in value:
            raise host.error(key, f"UserKnownHostsFile {value!r} is not a usable path")
        out.known_hosts_file = os.path.expanduser(value.split()[0])
    elif wanted == "stricthostkeychecking":
        if value.lower() not in _HOST_KEY_CHECKING:
            raise host.error(key, f"StrictHostKeyChecking {value!r}: use yes, accept-new or no")
        out.host_key_checking = _HOST_KEY_CHECKING[value.lower()]


def ssh_args(host: Host) -> _SshArgs:
    """What ansible_ssh_common_args and ansible_ssh_extra_args say, understood or refused."""
    out = _SshArgs()
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        raw = host.vars.get(key)
        if raw is None or raw == "":
            continue
        text = string(host, key, raw)
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise host.error(key, f"cannot split {text!r} as ssh arguments: {exc}") from None
        index = 0
        while index < len(words):
            word = words[index]
            if word in ("-o", "-J"):
                if index + 1 >= len(words):
                    raise host.error(key, f"{word} at the end of {text!r} has no value")
                value, index = words[index + 1], index + 2
            elif word.startswith(("-o", "-J")) and len(word) > 2:
                value, index = word[2:], index + 1
                word = word[:2]
            else:
                raise host.error(
                    key,
                    f"argument {word!r} is not supported: queueops understands -o "
                    f"{'=, -o '.join(_UNDERSTOOD)}= and -J only",
                )
            _ssh_option(host, key, f"ProxyJump={value}" if word == "-J" else value, out)
    if out.jumps and out.proxy_command:
        raise host.error(
            "ansible_ssh_common_args", "give either a ProxyJump or a ProxyCommand, not both"
        )
    return out


def _become(host: Host) -> tuple[bool, str | None]:
    values = host.vars
    become = values.get("ansible_become", False)
    if not isinstance(become, bool):
        raise host.error("ansible_become", f"must be true or false, {got(become)}")
    user = values.get("ansible_become_user", "root")
    if user != "root":
        raise host.error(
            "ansible_become_user",
            f"queueops becomes root only (it manages supervisord and system files), got {user!r}",
        )
    method = values.get("ansible_become_method", "sudo")
    if method != "sudo":
        raise host.error(
            "ansible_become_method", f"queueops becomes root with sudo only, got {method!r}"
        )
    password = values.get("ansible_become_password", values.get("ansible_become_pass"))
    if password is not None:
        key = (
            "ansible_become_password"
            if "ansible_become_password" in values
            else ("ansible_become_pass")
        )
        if not isinstance(password, str) or not password or any(c in password for c in "\0\r\n"):
            # The value itself is never repeated in a message.
            raise host.error(key, "must be a non-empty string on one line")
    return become, password


def connection(host: Host) -> Connection:
    values = host.vars
    kind = values.get("ansible_connection", "ssh")
    if kind not in _SSH_CONNECTIONS:
        raise host.error(
            "ansible_connection", f"queueops reaches hosts over SSH only, got {kind!r}"
        )
    for key in sorted(PASSWORD_KEYS & set(values)):
        raise host.error(
            key,
            "password logins are not supported: queueops authenticates with keys, from "
            "ansible_ssh_private_key_file, ~/.ssh/config or ssh-agent",
        )
    key_file = values.get("ansible_ssh_private_key_file")
    if key_file is not None:
        key_file = string(host, "ansible_ssh_private_key_file", key_file)
        if not key_file or any(c in key_file for c in "\0\n"):
            raise host.error("ansible_ssh_private_key_file", f"not a usable path: {key_file!r}")
        key_file = os.path.expanduser(key_file)
    become, become_password = _become(host)
    port = values.get("ansible_port")
    if port is not None:
        port = POSITIVE(host, "ansible_port", port)
        if port > 65535:
            raise host.error("ansible_port", f"must be <= 65535, got {port}")
    user = values.get("ansible_user")
    args = ssh_args(host)
    return Connection(
        host=name(host, "ansible_host", values.get("ansible_host", host.name)),
        port=port,
        user=None if user is None else posix_user(host, "ansible_user", user),
        key_file=key_file,
        become=become,
        become_password=become_password,
        jumps=args.jumps,
        proxy_command=args.proxy_command,
        known_hosts_file=args.known_hosts_file,
        host_key_checking=args.host_key_checking,
    )


def backups_keep(host: Host) -> int:
    value = host.vars.get(BACKUPS_KEEP_KEY, BACKUPS_KEEP_DEFAULT)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise host.error(BACKUPS_KEEP_KEY, f"must be a whole number from 1 to 1000, got {value!r}")
    return value


def os_family(host: Host) -> str | None:
    family = host.vars.get(OS_FAMILY_KEY)
    if family is not None and (not isinstance(family, str) or family not in PLATFORMS):
        raise host.error(
            OS_FAMILY_KEY, f"must be one of {', '.join(sorted(PLATFORMS))}, got {family!r}"
        )
    return family
