"""What a kind's converge needs of a host's session, whatever carries it (an SSH session of
queueops' own, or Ansible's connection in the roles' action plugins): one typed call to a
host operation; and who holds the host's lock and where its backups go. Light: the roles'
action plugins import this, not SSH."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from queueops.agent.services import INSTALL_TIMEOUT
from queueops.protocol import Facts, FactsRequest, Holder

# How long an agent call's channel may stay silent, on the operator's side. The agent answers
# once, when its operation ends, and its longest operation installs a package: install,
# refresh the package lists, install again (INSTALL_TIMEOUT each), then start the service.
AGENT_TIMEOUT = 3 * INSTALL_TIMEOUT + 300

Request = TypeVar("Request", bound=Mapping[str, Any])
Answer = TypeVar("Answer")


class AgentSession(Protocol):
    """A host reached for agent calls (transport/session.HostSession is one)."""

    name: str

    def call(
        self,
        operation: Callable[[Request], Answer],
        request: Request,
        timeout: float = AGENT_TIMEOUT,
        also: Sequence[str] = (),
    ) -> Answer:
        """One round trip to `operation` of a host module: the request checked against its
        parameter, the answer of its return type; `also` names modules the request asks by
        name (they travel with the program)."""
        ...

    def facts(self, request: FactsRequest) -> Facts:
        """One facts round trip (agent/facts.py): reads the host, changes nothing."""
        ...


def holder(task: str) -> Holder:
    """Who holds a host's lock, as another run will be told."""
    return {
        "task": task,
        "operator": getpass.getuser(),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def backup_dir(task: str) -> str:
    return f"/var/backups/queueops/{time.strftime('%Y%m%dT%H%M%S')}-{task}"
