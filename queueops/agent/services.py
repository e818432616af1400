"""A package installed and a service started on the host, the way every kind needs its
daemon (supervisord, cron): the first package manager the host has installs (its package
lists refreshed once when the install fails), systemd starts where it runs, else `service`."""

from __future__ import annotations

import shutil

from queueops.agent.common import AgentError, run_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.protocol import InstallerSpec


def install_package(package: str, installers: list[InstallerSpec]) -> None:
    for installer in installers:
        if shutil.which(installer["binary"]) is not None:
            try:
                run_command(installer["argv"], timeout=900)
            except AgentError:
                if not installer["refresh"]:
                    raise
                run_command(installer["refresh"], timeout=900)
                run_command(installer["argv"], timeout=900)
            return
    raise AgentError(f"{package} is not installed and no package manager was found")


def start_service(service: str, systemd: bool) -> None:
    if systemd:
        run_command(["systemctl", "enable", "--now", service])
    else:
        run_command(["service", service, "start"])
