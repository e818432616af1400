"""tune-redis: Redis settings for queue use, in a drop-in file and live, without a restart."""

from __future__ import annotations

from queueops.inventory.host import HostSettings
from queueops.kinds.redis.plan import plan_redis, redis_apply_request, redis_facts_request
from queueops.kinds.redis.protocol import MODULE
from queueops.kinds.redis.settings import redis_of
from queueops.plan.report import HostResult
from queueops.transport.fleet import HostJob, backup_dir, holder
from queueops.transport.session import HostSession

TASK = "tune-redis"


def tune_redis(check: bool) -> HostJob:
    def job(session: HostSession, settings: HostSettings) -> HostResult:
        tuning = redis_of(settings)
        if not tuning.configured:
            why = "not in the redis group" if not tuning.in_group else "no setting is managed"
            skip = {"item": "redis", "action": "skip", "status": "ok", "detail": why}
            return HostResult(settings.name, "ok", items=[skip])
        facts = session.agent(MODULE, redis_facts_request(tuning))
        plan = plan_redis(settings.name, tuning, facts)
        result = HostResult.of(settings.name, plan)
        if check or not plan.changed:
            return result
        session.agent(MODULE, redis_apply_request(plan, tuning, holder(TASK), backup_dir(TASK)))
        return result

    return job
