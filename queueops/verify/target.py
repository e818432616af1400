"""What a check sees of one host: its inventory settings and one observation of it."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueops.horizon_settings import HorizonSettings
from queueops.observe import observe_request
from queueops.remote import agent_program
from queueops.settings import HostSettings

# Two supervisor samples this far apart: a program that flaps changes pid or state between them.
FLAP_SAMPLE_SECONDS = 1.5


@dataclass
class Target:
    name: str
    settings: HostSettings
    horizon: HorizonSettings | None
    ssh_config: Path
    observation: dict[str, Any] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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


def agent_command(request: dict[str, Any]) -> str:
    """A shell command running the agent with one request (base64: no quoting surprises)."""
    program = agent_program(request)
    encoded = base64.b64encode(program.encode()).decode()
    return f"printf %s {shlex.quote(encoded)} | base64 -d | python3 -I -S -"


def observe_with(host: Any, target: Target) -> dict[str, Any]:
    """One observation through testinfra's host (its ssh backend)."""
    request = observe_request(target.settings, target.horizon, FLAP_SAMPLE_SECONDS)
    result = host.run(agent_command(request))
    try:
        answer: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        tail = (result.stdout + result.stderr).strip()[-600:]
        raise RuntimeError(f"the queueops agent failed (exit {result.rc}): {tail}") from None
    if not answer.get("ok"):
        raise RuntimeError(str(answer.get("error")))
    return answer
