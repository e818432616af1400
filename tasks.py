"""queueops tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

from invoke.collection import Collection

from queueops.lab.tasks import lab

ns = Collection(lab)
