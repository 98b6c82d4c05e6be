"""Redis-backed sessions for running many instances: ``redis_storage`` and the refresh lock.

The cookie then holds only an opaque session id; tokens stay in Redis. Logout deletes the
server-side session, so a replayed cookie is anonymous on every instance, and a token refresh
runs once across all instances under a Redis lock (providers that rotate refresh tokens revoke
the whole grant when an old one is presented twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.redis_storage import RedisStorage
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from ._secure_cookie import SecureDeleteMixin
from .errors import ProviderTimeout
from .log import logger

__all__ = [
    "OUTAGE_ERRORS",
    "RedisRefreshLock",
    "RedisSessionStorage",
    "forget",
    "read",
    "redis_client",
    "redis_storage",
    "write_now",
]

#: errors meaning "the session store is unavailable" (mapped to a 503 page, never a 500)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def redis_client(url: str, *, timeout: float = 2.0) -> aioredis.Redis:
    """A client with explicit socket timeouts: a stalled Redis must not stall requests."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=15
    )


class RedisSessionStorage(SecureDeleteMixin, RedisStorage):
    """aiohttp-session's ``RedisStorage`` with secure cookie deletion, session-id validation and
    the direct reads/writes the cross-instance refresh needs. Keys: ``<cookie_name>_<id>``."""

    def __init__(self, redis: aioredis.Redis, **kwargs: Any) -> None:
        super().__init__(redis, key_factory=lambda: secrets.token_hex(16), **kwargs)
        self.redis = redis

    def load_cookie(self, request: web.Request) -> str | None:
        value = super().load_cookie(request)
        return value if value is not None and _SESSION_ID.fullmatch(value) else None

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        if session.empty and session.identity is not None:
            await forget(self, str(session.identity))  # logout everywhere: nothing stays behind
            self.save_cookie(response, "")
            return
        await super().save_session(request, response, session)


def _client(storage: RedisStorage) -> aioredis.Redis:
    return storage._redis  # aiohttp-session keeps no public handle on its client


def _key(storage: RedisStorage, identity: str) -> str:
    return f"{storage.cookie_name}_{identity}"  # aiohttp-session's own key scheme


async def read(storage: RedisStorage, identity: str) -> dict[str, Any] | None:
    """The stored session data of ``identity`` as written by any instance."""
    raw = await _client(storage).get(_key(storage, identity))
    if raw is None:
        return None
    try:
        data = storage._decoder(raw if isinstance(raw, str) else raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


async def write_now(storage: RedisStorage, session: Session) -> None:
    """Persist ``session`` at once (not with the response): other instances see it now."""
    if session.identity is None:
        return
    data = storage._encoder(storage._get_session_data(session))
    await _client(storage).set(_key(storage, str(session.identity)), data, ex=session.max_age)


async def forget(storage: RedisStorage, identity: str) -> None:
    """Delete a server-side session (logout, or the pre-login session on rotation)."""
    await _client(storage).delete(_key(storage, identity))


def redis_storage(
    redis: aioredis.Redis | str,
    *,
    max_age: int,
    secure: bool,
    cookie_name: str = "aiohttp_oauth2",
) -> RedisSessionStorage:
    """The session storage ``setup_oauth(redis_url=...)`` builds: TTL = the absolute lifetime."""
    client = redis_client(redis) if isinstance(redis, str) else redis
    if secure and not cookie_name.startswith("__Host-"):
        cookie_name = "__Host-" + cookie_name
    return RedisSessionStorage(
        client,
        cookie_name=cookie_name,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )


class RedisRefreshLock:
    """A lease lock in Redis (``SET NX PX``; release only by its holder, atomically in Lua)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, lease: float = 15.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease = lease

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Hold the lock ``name``; waits (polling) while another instance holds it."""
        key, token = f"{self.prefix}:lock:{name}", secrets.token_hex(16)
        deadline = time.monotonic() + self.lease
        while not await self.redis.set(key, token, nx=True, px=int(self.lease * 1000)):
            if time.monotonic() >= deadline:
                logger.warning("refresh lock still held after %.0f s", self.lease)
                raise ProviderTimeout()
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            try:
                await self.redis.eval(_RELEASE, 1, key, token)
            except OUTAGE_ERRORS:
                logger.warning("could not release the refresh lock; its lease will expire")
