"""A queue's jobs in the app's Redis: read them all atomically, delete exactly the exported
ones, push them back as Laravel pushes them."""

from __future__ import annotations

from queueops.agent.common import AgentError
from queueops.agent.hostlock import lock_holder, locked_message
from queueops.agent.laravel import app_user
from queueops.agent.redis_client import RedisClient, RedisReply, app_redis
from queueops.runbooks.host_audit import audited

TYPE_CHECKING = False
if TYPE_CHECKING:
    from queueops.agent.common import Operation
    from queueops.runbooks.protocol import (
        QueueDeleted,
        QueueJob,
        QueuePlace,
        QueueRead,
        QueueRequest,
        QueueRestored,
    )

READ_SCRIPT = """
return {redis.call('lrange', KEYS[1], 0, -1),
        redis.call('zrange', KEYS[2], 0, -1, 'WITHSCORES'),
        redis.call('zrange', KEYS[3], 0, -1, 'WITHSCORES')}
"""
# ARGV: state, payload pairs. Removes exactly these members; 1/0 for each.
DELETE_SCRIPT = """
local out = {}
for i = 1, #ARGV, 2 do
  local state, payload = ARGV[i], ARGV[i + 1]
  local n = 0
  if state == 'ready' then
    n = redis.call('lrem', KEYS[1], 1, payload)
    if n > 0 then redis.call('lpop', KEYS[4]) end
  elseif state == 'delayed' then
    n = redis.call('zrem', KEYS[2], payload)
  else
    n = redis.call('zrem', KEYS[3], payload)
  end
  out[#out + 1] = n
end
return out
"""
# ARGV: state, payload, score triples. As Laravel pushes: list + notify, or the delayed set.
RESTORE_SCRIPT = """
local n = 0
for i = 1, #ARGV, 3 do
  if ARGV[i] == 'delayed' then
    redis.call('zadd', KEYS[2], ARGV[i + 2], ARGV[i + 1])
  else
    redis.call('rpush', KEYS[1], ARGV[i + 1])
    redis.call('rpush', KEYS[4], 1)
  end
  n = n + 1
end
return n
"""


def queue_keys(prefix: str, queue: str) -> list[str]:
    base = f"{prefix}queues:{queue}"
    return [base, f"{base}:delayed", f"{base}:reserved", f"{base}:notify"]


def queue_redis_of(request: QueueRequest) -> tuple[RedisClient, QueuePlace]:
    """The app's queue Redis (its own resolved configuration), with the queue's keys."""
    if request["connection"] != "redis":
        raise AgentError(
            f"only the redis queue connection is supported, not {request['connection']}"
        )
    user = app_user(request["app_users"])
    client, public = app_redis(request["app_path"], request["php"], user, request["connection"])
    place: QueuePlace = {
        "endpoint": public["endpoint"],
        "prefix": public["prefix"],
        "queue": public["queue"],
        "keys": queue_keys(public["prefix"], request["queue"]),
    }
    return client, place


def _pairs(flat: list[str]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def queue_read(request: QueueRequest) -> QueueRead:
    """Every job of the queue (ready list, delayed and reserved sets) in one atomic read."""
    other = None if request.get("check") else lock_holder()
    if other:
        # Refused before anything is exported: the delete that follows would be refused too.
        raise AgentError(locked_message(other, "nothing was exported"))
    client, public = queue_redis_of(request)
    try:
        ready, delayed, reserved = client.call("EVAL", READ_SCRIPT, "3", *public["keys"][:3])
    except (RedisReply, OSError) as exc:
        raise AgentError(f"Redis at {public['endpoint']}: {exc}") from None
    finally:
        client.close()
    jobs: list[QueueJob] = [{"state": "ready", "payload": p, "score": None} for p in ready]
    jobs += [{"state": "delayed", "payload": p, "score": s} for p, s in _pairs(delayed)]
    jobs += [{"state": "reserved", "payload": p, "score": s} for p, s in _pairs(reserved)]
    counts = {"ready": len(ready), "delayed": len(delayed) // 2, "reserved": len(reserved) // 2}
    if request.get("check"):
        jobs = []
    return {**public, "jobs": jobs, "counts": counts}


def queue_delete(request: QueueRequest) -> QueueDeleted:
    """Remove exactly the exported members, atomically; a job pushed since stays."""

    def work() -> QueueDeleted:
        client, public = queue_redis_of(request)
        try:
            args = [x for job in request.get("jobs", []) for x in (job["state"], job["payload"])]
            removed = (
                client.call("EVAL", DELETE_SCRIPT, "4", *public["keys"], *args) if args else []
            )
        finally:
            client.close()
        flags = [bool(n) for n in removed]
        summary = f"removed {sum(flags)} of {len(flags)} exported jobs from {public['keys'][0]}"
        return {**public, "removed": flags, "summary": summary}

    return audited(request, work)


def queue_restore(request: QueueRequest) -> QueueRestored:
    """Push jobs back as Laravel does: ready and reserved ones to the list, delayed to the set."""

    def work() -> QueueRestored:
        client, public = queue_redis_of(request)
        try:
            args = [
                x
                for job in request.get("jobs", [])
                for x in (job["state"], job["payload"], str(job.get("score") or 0))
            ]
            pushed = client.call("EVAL", RESTORE_SCRIPT, "4", *public["keys"], *args) if args else 0
        finally:
            client.close()
        summary = f"pushed {pushed} jobs back to {public['keys'][0]}"
        return {**public, "pushed": pushed, "summary": summary}

    return audited(request, work)


OPERATIONS: dict[str, Operation] = {
    "queue_read": queue_read,
    "queue_delete": queue_delete,
    "queue_restore": queue_restore,
}
