"""Where supervisor lives on each OS family, and how a host's family is recognised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from queueops.errors import QueueopsError
from queueops.protocol import SupervisorSpec
from queueops.shell import cmd, is_safe_name


class UnsupportedPlatformError(QueueopsError):
    """The host's /etc/os-release names an OS family queueops has no paths for."""


@dataclass(frozen=True)
class Installer:
    """One package manager: `binary` is probed with `command -v`, packages follow `argv`."""

    binary: str
    argv: tuple[str, ...]
    # Run once when the install fails: a fresh server may have no package lists yet.
    refresh: tuple[str, ...] = ()


@dataclass(frozen=True)
class Platform:
    family: str
    supervisor_config: str
    program_dir: str
    program_ext: str
    service: str
    web_user: str
    # Tried in order; the first one present on the host installs.
    installers: tuple[Installer, ...]

    def program_path(self, name: str) -> str:
        return f"{self.program_dir}/{name}{self.program_ext}"


PLATFORMS: dict[str, Platform] = {
    "debian": Platform(
        family="debian",
        supervisor_config="/etc/supervisor/supervisord.conf",
        program_dir="/etc/supervisor/conf.d",
        program_ext=".conf",
        service="supervisor",
        web_user="www-data",
        # A debconf prompt would hang a remote run that has no terminal.
        installers=(
            Installer(
                "apt-get",
                ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"),
                refresh=("apt-get", "update", "-q"),
            ),
        ),
    ),
    "redhat": Platform(
        family="redhat",
        supervisor_config="/etc/supervisord.conf",
        program_dir="/etc/supervisord.d",
        program_ext=".ini",
        service="supervisord",
        web_user="apache",
        # CentOS 7 and Amazon Linux 2 have yum only.
        installers=(
            Installer("dnf", ("dnf", "install", "-y", "-q")),
            Installer("yum", ("yum", "install", "-y", "-q")),
        ),
    ),
}

# os-release ID / ID_LIKE values → family; ID is checked before ID_LIKE.
_FAMILY_OF_ID = {
    "debian": "debian",
    "ubuntu": "debian",
    "rhel": "redhat",
    "fedora": "redhat",
    "centos": "redhat",
    "rocky": "redhat",
    "almalinux": "redhat",
    "amzn": "redhat",
}


def app_users(user_on: Callable[[Platform], str]) -> list[str]:
    """Who runs the app's code on a host whose family a request cannot know yet (its facts
    tell it): the user `user_on` each platform, the host takes the first that exists."""
    return list(dict.fromkeys(user_on(platform) for platform in PLATFORMS.values()))


def platform_for(family: str) -> Platform:
    try:
        return PLATFORMS[family]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise UnsupportedPlatformError(
            f"unknown OS family {family!r}; known families: {known}"
        ) from None


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release(5); values may be quoted."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key] = value
    return fields


def detect_family(os_release_text: str) -> str:
    fields = parse_os_release(os_release_text)
    os_id = fields.get("ID", "").lower()
    candidates = [os_id, *fields.get("ID_LIKE", "").lower().split()]
    for candidate in candidates:
        if candidate in _FAMILY_OF_ID:
            return _FAMILY_OF_ID[candidate]
    supported = ", ".join(
        f"{family} ({', '.join(i for i, f in _FAMILY_OF_ID.items() if f == family)})"
        for family in PLATFORMS
    )
    raise UnsupportedPlatformError(
        f"unsupported OS: /etc/os-release has ID={os_id or '(none)'} "
        f"ID_LIKE={fields.get('ID_LIKE') or '(none)'}; supported families: {supported}"
    )


def install_command(platform: Platform, packages: Sequence[str]) -> str:
    """Shell command installing `packages` with the first package manager the host has."""
    if not packages:
        raise ValueError("install_command needs at least one package")
    for package in packages:
        if not is_safe_name(package) or package.startswith("-"):
            raise ValueError(f"not a package name: {package!r}")
    *probed, last = platform.installers
    final = cmd(*last.argv, *packages)
    if not probed:
        return final
    branches = [
        f"command -v {cmd(i.binary)} >/dev/null 2>&1; then {cmd(*i.argv, *packages)}"
        for i in probed
    ]
    return "if " + "; elif ".join(branches) + f"; else {final}; fi"


def supervisor_spec(platform: Platform) -> SupervisorSpec:
    """How the host side finds, installs and starts supervisord on this platform."""
    return {
        "config": platform.supervisor_config,
        "service": platform.service,
        "install": [
            {"binary": i.binary, "argv": [*i.argv, "supervisor"], "refresh": list(i.refresh)}
            for i in platform.installers
        ],
    }
