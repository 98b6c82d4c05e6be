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
from ._session import NAMESPACE
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
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError,)  # redis-py wraps socket errors
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

    @classmethod
    def from_storage(cls, plain: RedisStorage) -> RedisSessionStorage:
        """The same settings as aiohttp-session's own ``RedisStorage``, with these guarantees."""
        params = plain.cookie_params
        return cls(
            _client(plain),
            cookie_name=plain.cookie_name,
            domain=params["domain"],
            max_age=plain.max_age,
            path=params["path"],
            secure=params["secure"],
            httponly=params["httponly"],
            samesite=params["samesite"],
            encoder=plain._encoder,
            decoder=plain._decoder,
        )

    def load_cookie(self, request: web.Request) -> str | None:
        value = super().load_cookie(request)
        return value if value is not None and _SESSION_ID.fullmatch(value) else None

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """New sessions are created (``NX``), existing ones only updated (``XX``): a session
        deleted by a logout on another instance is never brought back by a late write here."""
        identity = session.identity
        if session.empty:
            if identity is not None:
                await forget(self, str(identity))  # logout everywhere: nothing stays behind
                self.save_cookie(response, "")
            return
        ttl = remaining_lifetime(session, self.max_age)
        if identity is None:
            identity = self._key_factory()
            written = await _set(self, str(identity), session, ttl, new=True)
        else:
            written = await _set(self, str(identity), session, ttl, new=False)
        self.save_cookie(response, str(identity) if written else "", max_age=ttl)


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


def remaining_lifetime(session: Session, lifetime: int | None) -> int | None:
    """Seconds the session may still live: the absolute lifetime counts from the login."""
    raw = session.get(NAMESPACE)
    login_at = raw.get("li") if isinstance(raw, dict) else None
    if lifetime is None or not isinstance(login_at, int):
        return lifetime
    return max(1, login_at + lifetime - int(time.time()))


async def _set(
    storage: RedisStorage, identity: str, session: Session, ttl: int | None, *, new: bool
) -> bool:
    """``SET NX`` for a new session, ``SET XX`` for an existing one; whether it was written."""
    data = storage._encoder(storage._get_session_data(session))
    key = _key(storage, identity)
    return bool(await _client(storage).set(key, data, ex=ttl, nx=new, xx=not new))


async def write_now(storage: RedisStorage, session: Session) -> bool:
    """Persist an existing ``session`` at once (other instances see it now); ``False`` when it
    was deleted meanwhile (a logout elsewhere): it is then not brought back."""
    if session.identity is None:
        return False
    ttl = remaining_lifetime(session, storage.max_age)
    return await _set(storage, str(session.identity), session, ttl, new=False)


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
