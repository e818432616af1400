"""queueops renders this role's files: see queueops/roles/filters.py."""

from __future__ import annotations

from queueops.roles.filters import Filters, redis_live, redis_plan


class FilterModule(Filters):
    def __init__(self) -> None:
        super().__init__(queueops_redis_plan=redis_plan, queueops_redis_live=redis_live)
