"""tune-redis's requests to the host (see kinds/redis/host.py)."""

from __future__ import annotations

from typing import TypedDict

from queueops.transport.protocol import FileChangeRequest, Holder

MODULE = "queueops.kinds.redis.host"
INCLUDE_COMMENT = "# Added by queueops (tune-redis): the settings for queue use, applied live."


class RedisTarget(TypedDict):
    """Which Redis server, and its credentials ("" / None: from its main configuration)."""

    config: str
    address: str
    port: int | None
    user: str | None
    password: str | None


class RedisFactsRequest(RedisTarget):
    op: str
    dropin: str
    parameters: list[str]


class RedisApplyRequest(RedisTarget):
    op: str
    holder: Holder
    backup_dir: str
    config_sha256: str
    dropin_path: str
    dropin: FileChangeRequest | None
    # Append `include DROPIN` to the main configuration.
    include: bool
    # [parameter, value] pairs to CONFIG SET, in order.
    set: list[list[str]]
