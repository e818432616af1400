"""queueops renders this role's files: see queueops/roles/filters.py and its kind."""

from __future__ import annotations

from queueops.roles.filters import Filters


class FilterModule(Filters):
    role = "scheduler"
