"""What a check sees of one host: its inventory settings and one observation of it."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queueops.errors import QueueopsError
from queueops.inventory.host import HostSettings
from queueops.observe.observation import kind_modules, observe_request
from queueops.observe.protocol import MODULE, ObserveRequest
from queueops.transport.assembly import program
from queueops.transport.session import parse_answer

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


# testinfra runs each command as one `sh -c` argument, and Linux caps one argument at 128 KiB
# (MAX_ARG_STRLEN); the agent, base64-encoded, is near that, so it goes up in chunks.
CHUNK = 48 * 1024


def agent_commands(request: ObserveRequest, path: str) -> list[str]:
    """Shell commands that write the agent (base64, no quoting surprises) to `path` on the
    host in chunks, each far below the argument limit; the last one runs it and removes it."""
    text = program(MODULE, request, also=kind_modules(request))
    encoded = base64.b64encode(text.encode()).decode()
    target = shlex.quote(path)
    chunks = [encoded[i : i + CHUNK] for i in range(0, len(encoded), CHUNK)]
    writes = [f"printf %s {shlex.quote(chunk)} >> {target}" for chunk in chunks]
    run = f"base64 -d {target} | python3 -I -S -; code=$?; rm -f {target}; exit $code"
    return [*writes, run]


def observe_with(host: Any, target: Target) -> dict[str, Any]:
    """One observation through testinfra's host (its ssh backend)."""
    request = observe_request(target.settings, FLAP_SAMPLE_SECONDS)
    made = host.run("umask 077 && mktemp /tmp/queueops-verify.XXXXXXXX")
    if made.rc != 0:
        raise QueueopsError(f"{target.name}: mktemp failed: {made.stderr.strip()[-200:]}")
    *writes, run = agent_commands(request, made.stdout.strip())
    for command in writes:
        host.run_expect([0], command)
    result = host.run(run)
    return parse_answer(target.name, result.stdout, result.stderr, result.rc)
