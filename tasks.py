"""queueops tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

from queueops.cli.collection import collection
from queueops.lab.tasks import lab

ns = collection()
# The lab is this repository's test fleet, not part of the engine: only the repository's own
# task list has it.
ns.add_collection(lab)
