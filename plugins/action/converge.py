# Copyright: queueops
# MIT License (see galaxy.yml)
"""The roles' one task: the kind's converge task of queueops on this host (facts, plan,
apply), with the same guarantees and messages as `invoke`, one module run on a no-op."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible-core has no types
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("kind",))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        # queueops on the controller, loaded when the first host needs it.
        from queueops.roles.action import converge

        return converge(
            self,
            str(self._task.args.get("kind", "")),
            task_vars or {},
            self._templar.template,
            bool(self._play_context.check_mode),
        )
