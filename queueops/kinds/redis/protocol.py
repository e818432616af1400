"""tune-redis's requests to the host (see kinds/redis/host.py)."""

from __future__ import annotations

from typing import Any, TypedDict

from queueops.protocol import FileChangeRequest, FileInfo, Holder

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
    backups_keep: int
    config_sha256: str
    dropin_path: str
    dropin: FileChangeRequest | None
    # Append `include DROPIN` to the main configuration.
    include: bool
    # [parameter, value] pairs to CONFIG SET, in order.
    set: list[list[str]]


class RedisFacts(TypedDict):
    """What tune-redis plans from: the main configuration, the drop-in, the live values."""

    os_release: str
    config: str
    config_sha256: str | None
    # Whether the main configuration already includes the drop-in.
    include: bool
    dropin: FileInfo | None
    # address:port, never the password.
    address: str
    live: dict[str, str]
    used_memory: int
    redis_version: str | None
    pid: int
    lock: dict[str, Any] | None


class RedisApplied(TypedDict):
    # The values before and after, by parameter.
    old: dict[str, str]
    new: dict[str, str]
