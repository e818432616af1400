"""A package installed and a service started on the host, the way every kind needs its
daemon (supervisord, cron): the first package manager the host has installs (its package
lists refreshed once when the install fails), systemd starts where it runs, else `service`."""

from __future__ import annotations

import shutil

from queueops.agent.common import AgentError, run_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.protocol import InstallerSpec

# The longest a package manager may take (slow mirrors, a large upgrade pulled in).
INSTALL_TIMEOUT = 900


def install_package(package: str, installers: list[InstallerSpec]) -> None:
    for installer in installers:
        if shutil.which(installer["binary"]) is not None:
            try:
                run_command(installer["argv"], timeout=INSTALL_TIMEOUT)
            except AgentError:
                if not installer["refresh"]:
                    raise
                run_command(installer["refresh"], timeout=INSTALL_TIMEOUT)
                run_command(installer["argv"], timeout=INSTALL_TIMEOUT)
            return
    raise AgentError(f"{package} is not installed and no package manager was found")


def start_service(service: str, systemd: bool) -> None:
    if systemd:
        run_command(["systemctl", "enable", "--now", service])
    else:
        run_command(["service", service, "start"])
