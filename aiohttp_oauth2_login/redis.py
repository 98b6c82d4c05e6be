"""Redis-backed sessions for running many instances: ``redis_storage`` and the refresh lock.

The cookie then holds only an opaque session id; tokens stay in Redis. Logout deletes the
server-side session, so a replayed cookie is anonymous on every instance, and a token refresh
runs once across all instances under a Redis lock (providers that rotate refresh tokens revoke
the whole grant when an old one is presented twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp_session
from aiohttp import web
from aiohttp_session import Session, SessionData
from aiohttp_session.redis_storage import RedisStorage
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from ._cookies import exact, plugin_cookies
from ._fastpath import (
    SLOW,
    Entry,
    PeekResult,
    Slow,
    check_entry,
    entry_from_payload,
)
from ._secure_cookie import SecureDeleteMixin
from ._session import NAMESPACE
from .config import OAuthConfig
from .errors import ConfigurationError, ProviderTimeout
from .keys import AUTH_KEY
from .log import logger

__all__ = [
    "OUTAGE_ERRORS",
    "RedisPeek",
    "RedisRefreshLock",
    "RedisSessionStorage",
    "forget",
    "key_prefix",
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
    """aiohttp-session's ``RedisStorage`` with secure cookie deletion, strict cookie parsing,
    session-id validation and the direct reads/writes the cross-instance refresh needs.
    Keys: ``<cookie_name>:<setup>_<id>``, one namespace per ``setup_oauth`` (``bind``)."""

    def __init__(self, redis: aioredis.Redis, **kwargs: Any) -> None:
        super().__init__(redis, key_factory=lambda: secrets.token_hex(16), **kwargs)
        self.redis = redis
        self.key_prefix = self.cookie_name
        self._scope: str | None = None

    def bind(self, scope: str) -> None:
        """Keep this setup's sessions in a namespace of their own: a session id issued by
        another ``setup_oauth`` of the app tree finds nothing here."""
        if self._scope is not None and self._scope != scope:
            raise ConfigurationError(
                "one Redis session storage serves two setup_oauth calls; give each its own"
            )
        self._scope = scope
        self.key_prefix = key_prefix(self.cookie_name, scope)

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
        """The session id, read strictly (``_cookies``): a duplicated name is anonymous."""
        value = plugin_cookies(request, exact(self.cookie_name)).get(self.cookie_name)
        return value if value is not None and _SESSION_ID.fullmatch(value) else None

    async def load_session(self, request: web.Request) -> Session:
        identity = self.load_cookie(request)
        data = None if identity is None else await read(self, identity)
        if identity is None or data is None:
            return Session(None, data=None, new=True, max_age=self.max_age)
        return Session(identity, data=cast(SessionData, data), new=False, max_age=self.max_age)

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


def key_prefix(cookie_name: str, scope: str) -> str:
    """``<cookie_name>:<12 hex digits of the setup's login path>``: one namespace per setup."""
    return f"{cookie_name}:{hashlib.sha256(scope.encode()).hexdigest()[:12]}"


def _client(storage: RedisStorage) -> aioredis.Redis:
    return storage._redis  # aiohttp-session keeps no public handle on its client


def _key(storage: RedisStorage, identity: str) -> str:
    if isinstance(storage, RedisSessionStorage):
        return f"{storage.key_prefix}_{identity}"
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


class _BatchedReader:
    """``GET``s issued in one event-loop pass travel as one ``MGET`` (one round trip for many
    concurrent requests); each caller still gets exactly its own key's value."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._waiting: dict[str, list[asyncio.Future[bytes | None]]] = {}

    async def get(self, key: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.setdefault(key, []).append(future)
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._fetch(batch))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _fetch(self, batch: dict[str, list[asyncio.Future[bytes | None]]]) -> None:
        keys = list(batch)
        try:
            values = await self._redis.mget(keys)
        except BaseException as exc:  # handed to every waiter (RedisError → 503 upstream)
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for key, value in zip(keys, values, strict=True):
            raw = value.encode() if isinstance(value, str) else value
            for future in batch[key]:
                if not future.done():
                    future.set_result(raw)


_BACKGROUND: set[asyncio.Task[None]] = set()
_PARSED_MAX = 4096


class RedisPeek:
    """The cheap login check for Redis sessions: the session id from the raw ``Cookie`` header,
    a batched read, and the last parse of that session reused while its stored bytes are equal.
    Nothing is cached across a change: a logout elsewhere is seen on the very next request."""

    def __init__(self, storage: RedisSessionStorage) -> None:
        self.storage = storage
        self.reader = _BatchedReader(storage.redis)
        self._parsed: OrderedDict[str, tuple[bytes, Entry]] = OrderedDict()

    async def peek_user(self, request: web.Request, config: OAuthConfig) -> PeekResult:
        if aiohttp_session.SESSION_KEY in request or AUTH_KEY in request:
            return SLOW
        # the same strict reader as the full path (``load_cookie``): a duplicate is anonymous
        identity = self.storage.load_cookie(request)
        if identity is None:
            return None
        raw = await self.reader.get(_key(self.storage, identity))
        if raw is None:
            return None
        hit = self._parsed.get(identity)
        if hit is not None and hit[0] == raw:
            entry = hit[1]
        else:
            try:
                data = self.storage._decoder(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                return SLOW
            opened = entry_from_payload(data, config.scope.path)
            if isinstance(opened, Slow):
                return SLOW
            entry = opened
            self._parsed[identity] = (raw, entry)
            if len(self._parsed) > _PARSED_MAX:
                self._parsed.popitem(last=False)
        return check_entry(entry, config)
