"""queueops renders this role's files: see queueops/roles/filters.py."""

from __future__ import annotations

from queueops.roles.filters import Filters, worker_files


class FilterModule(Filters):
    def __init__(self) -> None:
        super().__init__(queueops_worker_files=worker_files)
