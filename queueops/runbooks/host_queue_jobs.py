"""A queue's jobs in the app's Redis: read them all atomically, delete exactly the exported
ones, push them back as Laravel pushes them."""

from __future__ import annotations

import time

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
# KEYS: the queue's four keys, then this restore's marker. ARGV: force, the marker's text, its
# lifetime in seconds, then state, payload, score triples. As Laravel pushes: list + notify, or
# the delayed set. The pushes and the marker are one script, so Redis runs them all or none:
# -1 when the marker says these jobs were pushed back already. Key types are checked first
# (a script's error keeps what it wrote before it).
RESTORE_SCRIPT = """
if ARGV[1] ~= '1' and redis.call('exists', KEYS[5]) == 1 then return -1 end
local wanted = {list = {KEYS[1], KEYS[4]}, zset = {KEYS[2]}}
for kind, keys in pairs(wanted) do
  for _, key in ipairs(keys) do
    local found = redis.call('type', key)['ok']
    if found ~= 'none' and found ~= kind then
      return redis.error_reply(key .. ' is a ' .. found .. ', not a ' .. kind)
    end
  end
end
local n = 0
for i = 4, #ARGV, 3 do
  if ARGV[i] == 'delayed' then
    redis.call('zadd', KEYS[2], ARGV[i + 2], ARGV[i + 1])
  else
    redis.call('rpush', KEYS[1], ARGV[i + 1])
    redis.call('rpush', KEYS[4], 1)
  end
  n = n + 1
end
redis.call('set', KEYS[5], ARGV[2], 'EX', ARGV[3])
return n
"""
# How long Redis remembers that an export's jobs were pushed back (the operator's FILE.restored
# remembers it for good).
RESTORED_TTL = 30 * 86400


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
        return {"endpoint": public["endpoint"], "prefix": public["prefix"],
                "queue": public["queue"], "keys": public["keys"], "removed": flags,
                "summary": summary}  # fmt: skip

    return audited(request, work)


def restored_key(prefix: str, restore_id: str) -> str:
    if not restore_id or any(c not in "0123456789abcdef" for c in restore_id):
        raise AgentError(f"restore id {restore_id!r} is not a lowercase hex digest")
    return f"{prefix}queueops:restored:{restore_id}"


def queue_restore(request: QueueRequest) -> QueueRestored:
    """Push jobs back as Laravel does: ready and reserved ones to the list, delayed to the set;
    once per restore id (the export's host, queue and jobs), unless `force`."""

    def work() -> QueueRestored:
        client, public = queue_redis_of(request)
        marker = restored_key(public["prefix"], request.get("restore_id", ""))
        audit = request.get("audit") or {}
        note = f"{audit.get('operator', '?')} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
        try:
            args = [
                x
                for job in request.get("jobs", [])
                for x in (job["state"], job["payload"], str(job.get("score") or 0))
            ]
            force = "1" if request.get("force") else "0"
            pushed = client.call(
                "EVAL", RESTORE_SCRIPT, "5", *public["keys"], marker,
                force, note, str(RESTORED_TTL), *args,
            )  # fmt: skip
        except RedisReply as exc:
            raise AgentError(f"Redis at {public['endpoint']}: {exc}") from None
        finally:
            client.close()
        already = pushed == -1
        if already:
            summary = f"already pushed back to {public['keys'][0]} ({marker}): pushed nothing"
        else:
            summary = f"pushed {pushed} jobs back to {public['keys'][0]}"
        return {"endpoint": public["endpoint"], "prefix": public["prefix"],
                "queue": public["queue"], "keys": public["keys"],
                "pushed": max(0, int(pushed)), "already": already, "summary": summary}  # fmt: skip

    return audited(request, work)


OPERATIONS: dict[str, Operation] = {
    "queue_read": queue_read,
    "queue_delete": queue_delete,
    "queue_restore": queue_restore,
}
