"""Redis-backed sessions for running many instances: the storage, the refresh lock, the cheap check.

The cookie then holds only an opaque session id; tokens stay in Redis. Logout deletes the
server-side session, so a replayed cookie is anonymous on every instance, and a token refresh
runs once across all instances under a Redis lock (providers that rotate refresh tokens revoke
the whole grant when an old one is presented twice). Redis is an optional dependency: only this
package imports it, and only ``_sessions.backend`` imports this package.
"""

from __future__ import annotations

from .client import OUTAGE_ERRORS, client_warnings, reconnect_once, redis_client
from .lock import LOCK_LEASE, LOCK_TTL, HeldLock, RedisRefreshLock
from .peek import RedisPeek
from .storage import (
    RedisSessionStorage,
    RedisSide,
    forget,
    key_prefix,
    read,
    redis_storage,
    remaining_lifetime,
    replace_tokens,
    write_now,
)

__all__ = [
    "LOCK_LEASE",
    "LOCK_TTL",
    "OUTAGE_ERRORS",
    "HeldLock",
    "RedisPeek",
    "RedisRefreshLock",
    "RedisSessionStorage",
    "RedisSide",
    "client_warnings",
    "forget",
    "key_prefix",
    "read",
    "reconnect_once",
    "redis_client",
    "redis_storage",
    "remaining_lifetime",
    "replace_tokens",
    "write_now",
]
