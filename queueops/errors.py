"""One exception root for everything queueops reports to an operator.

Subclasses carry the exit code the CLI uses, so a task never has to decide it twice:
2 for usage or inventory mistakes (nothing was touched), 1 for failures on hosts.
"""

from __future__ import annotations


class QueueopsError(Exception):
    """A problem an operator can act on; printed as one message, never a traceback."""

    exit_code = 1


class UsageError(QueueopsError):
    """Bad command-line options or environment (not root, not Linux, ...)."""

    exit_code = 2


class InventoryError(QueueopsError):
    """The inventory cannot be loaded or validated; names file, host and key."""

    exit_code = 2

    def __init__(
        self, message: str, file: str = "", host: str = "", key: str = "", reason: str = ""
    ) -> None:
        super().__init__(message)
        # Set when one host's variable is refused (lint shows it as a finding).
        self.file, self.host, self.key, self.reason = file, host, key, reason


class LabError(QueueopsError):
    """The local lab fleet could not be started, stopped or inspected."""

    exit_code = 1


class RemoteError(QueueopsError):
    """A command on a host failed; names the host and the command's output tail."""

    exit_code = 1


class RoleError(QueueopsError):
    """An Ansible role's variables or host refuse the change (its task's failure)."""
