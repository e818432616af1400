# Copyright: queueops
# MIT License (see galaxy.yml)
"""`invoke render` for one host, on the controller: every kind's files under `dest`,
without contacting the host."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible-core has no types
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest",))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        from queueops.roles.action import render

        return render(task_vars or {}, self._templar.template, str(self._task.args["dest"]))
