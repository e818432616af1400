"""queueops tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

from queueops.cli.collection import collection

ns = collection()
