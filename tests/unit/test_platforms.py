"""OS family detection from /etc/os-release and the per-family supervisor layout."""

from __future__ import annotations

import pytest

from queueops.platforms import (
    PLATFORMS,
    UnsupportedPlatformError,
    detect_family,
    install_command,
    platform_for,
)

UBUNTU = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
"""
CENTOS7 = """\
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
"""
ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
AMAZON = 'NAME="Amazon Linux"\nID="amzn"\nID_LIKE="centos rhel fedora"\n'
ALMA = "ID='almalinux'\nID_LIKE='rhel centos fedora'\n"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
MINT = 'ID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = "ID=fedora\n"


@pytest.mark.parametrize(
    ("text", "family"),
    [
        (UBUNTU, "debian"),
        (DEBIAN, "debian"),
        (MINT, "debian"),
        (CENTOS7, "redhat"),
        (ROCKY, "redhat"),
        (AMAZON, "redhat"),
        (ALMA, "redhat"),
        (FEDORA, "redhat"),
    ],
)
def test_detect_family_from_id_and_id_like(text: str, family: str) -> None:
    assert detect_family(text) == family


def test_unknown_os_is_refused_with_what_it_found_and_what_is_supported() -> None:
    with pytest.raises(UnsupportedPlatformError) as caught:
        detect_family('NAME="Arch Linux"\nID=arch\n# ID=debian\n')
    message = str(caught.value)
    assert "ID=arch ID_LIKE=(none)" in message
    assert "debian (debian, ubuntu)" in message
    assert "redhat (rhel, fedora, centos, rocky, almalinux, amzn)" in message


def test_empty_os_release_is_refused() -> None:
    with pytest.raises(UnsupportedPlatformError, match=r"ID=\(none\)"):
        detect_family("")


def test_debian_layout() -> None:
    debian = platform_for("debian")
    assert debian.supervisor_config == "/etc/supervisor/supervisord.conf"
    assert debian.program_path("emails") == "/etc/supervisor/conf.d/emails.conf"
    assert (debian.service, debian.web_user) == ("supervisor", "www-data")


def test_redhat_layout() -> None:
    redhat = platform_for("redhat")
    assert redhat.supervisor_config == "/etc/supervisord.conf"
    assert redhat.program_path("emails") == "/etc/supervisord.d/emails.ini"
    assert (redhat.service, redhat.web_user) == ("supervisord", "apache")


def test_unknown_family_is_refused() -> None:
    with pytest.raises(UnsupportedPlatformError, match="known families: debian, redhat"):
        platform_for("suse")


def test_debian_installs_with_apt_get_without_prompts() -> None:
    assert install_command(PLATFORMS["debian"], ["supervisor"]) == (
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q supervisor"
    )


def test_redhat_installs_with_dnf_and_falls_back_to_yum() -> None:
    assert install_command(PLATFORMS["redhat"], ["supervisor", "php-cli"]) == (
        "if command -v dnf >/dev/null 2>&1; then dnf install -y -q supervisor php-cli; "
        "else yum install -y -q supervisor php-cli; fi"
    )


@pytest.mark.parametrize("packages", [[], ["-oDebug::pkgProblemResolver=1"], ["a b"]])
def test_install_command_refuses_what_is_not_a_package_list(packages: list[str]) -> None:
    with pytest.raises(ValueError):
        install_command(PLATFORMS["debian"], packages)
