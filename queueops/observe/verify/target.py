"""What a check sees of one host: its inventory settings and one observation of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from queueops.inventory.host import HostSettings
from queueops.observe.observation import observe
from queueops.transport.session import Gateways, HostSession

# Two supervisor samples this far apart: a program that flaps changes pid or state between them.
FLAP_SAMPLE_SECONDS = 1.5


@dataclass
class Target:
    name: str
    settings: HostSettings
    ssh_config: Path
    observation: dict[str, Any] | None = None
    error: str | None = None
    # What the check running now found worth saying without failing (see warn()).
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """The check passes, with this said beside it (verify shows warnings, --json too)."""
        self.warnings.append(message)

    @property
    def spec(self) -> str:
        return f"ssh://{self.name}"

    @property
    def sudo(self) -> bool:
        conn = self.settings.connection
        return conn.become and conn.user != "root"

    @property
    def obs(self) -> dict[str, Any]:
        if self.observation is None:
            raise RuntimeError(self.error or "no observation")
        return self.observation


def observe_target(
    target: Target, accept_new: bool = False, gateways: Gateways | None = None
) -> dict[str, Any]:
    """One observation, the agent and its request (the Redis password with it) sent on the
    session's stdin as every task sends them: never on a command line, where `ps` and sudo's
    log would show them."""
    with HostSession(target.name, target.settings.connection, accept_new, gateways) as session:
        return cast(dict[str, Any], observe(session, target.settings, FLAP_SAMPLE_SECONDS))
