"""tune-redis: Redis settings for queue use, in a drop-in file and live, without a restart."""

from __future__ import annotations

from collections.abc import Mapping

from queueops.fleet_run import HostJob, backup_dir, holder
from queueops.redis_plan import plan_redis, redis_apply_request, redis_facts_request
from queueops.redis_settings import RedisSettings
from queueops.remote import HostSession
from queueops.report import HostResult
from queueops.settings import HostSettings

TASK = "tune-redis"


def tune_redis(check: bool, redis: Mapping[str, RedisSettings]) -> HostJob:
    """The job of one host; `redis` holds the validated redis_queue settings by host name."""

    def job(session: HostSession, settings: HostSettings) -> HostResult:
        tuning = redis[settings.name]
        if not tuning.configured:
            why = "not in the redis group" if not tuning.in_group else "no setting is managed"
            skip = {"item": "redis", "action": "skip", "status": "ok", "detail": why}
            return HostResult(settings.name, "ok", items=[skip])
        facts = session.agent(redis_facts_request(tuning))
        plan = plan_redis(settings.name, tuning, facts)
        result = HostResult(
            settings.name,
            "changed" if plan.changed else "ok",
            items=plan.items(),
            diffs=plan.diffs(),
        )
        if check or not plan.changed:
            return result
        session.agent(redis_apply_request(plan, tuning, holder(TASK), backup_dir(TASK)))
        return result

    return job
