"""The roles' Jinja filters: each role renders its files with queueops itself, so the roles
and the Invoke tasks run the same checks on the same variables and render the same
templates/, byte for byte. Each kind gives its role's filters (Kind.role_filters); each role's
filter_plugins/ file only hands them to Ansible. queueops must be importable by the Python
that runs ansible-playbook (the project's virtualenv)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from queueops.errors import QueueopsError
from queueops.kinds import KINDS


def ansible_filter(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """queueops' refusals as Ansible's filter errors: the task fails with the same message
    `invoke` prints (file, host, key and why)."""
    from ansible.errors import AnsibleFilterError

    @functools.wraps(function)
    def wrapped(*args: Any) -> dict[str, Any]:
        try:
            return function(*args)
        except QueueopsError as exc:
            raise AnsibleFilterError(str(exc)) from None

    return wrapped


def role_filters(role: str) -> dict[str, Callable[..., dict[str, Any]]]:
    """Every filter of the kind whose role is `role`, as Ansible takes them."""
    for kind in KINDS:
        if kind.role == role:
            return {name: ansible_filter(f) for name, f in kind.role_filters().items()}
    raise LookupError(f"no kind has the role {role!r}")


class Filters:
    """A role's FilterModule: `class FilterModule(Filters): role = "horizon"`."""

    role = ""

    def filters(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return role_filters(self.role)
