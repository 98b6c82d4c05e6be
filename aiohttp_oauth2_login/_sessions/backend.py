"""The session backend: the one module that names a concrete session storage.

``choose_backend`` turns ``setup_oauth``'s ``storage=`` / ``redis_url=`` / an aiohttp-session
middleware already on the app into a ``SessionBackend``: the storage, its cheap login check
(``peek``), the errors that mean "the store is down" (a 503 page, never a 500), the
cross-instance refresh lock, the binding to its setup, the size check and the shutdown. Views,
client, setup and middleware only talk to the backend, so a new storage is one module plus one
branch here. Redis is an optional dependency: it is imported only when a Redis storage is used.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp_session
from aiohttp import web
from aiohttp_session.redis_storage import RedisStorage

from ..config import OAuthConfig
from ..errors import ConfigurationError
from ..log import logger
from .cookie_storage import CookieStorage, generate_key, parse_keys
from .peek import SLOW, PeekResult, peek_user
from .redis_url import parse_redis_url

if TYPE_CHECKING:
    from .redis import RedisRefreshLock

__all__ = [
    "Peek",
    "Secret",
    "ServerSide",
    "SessionBackend",
    "check_redis_url",
    "choose_backend",
    "choose_secret",
    "server_side",
]

#: the cheap login check of a storage: the user, ``None`` (anonymous) or ``SLOW`` (load it)
Peek = Callable[[web.Request, OAuthConfig], Awaitable[PeekResult]]
Secret = str | bytes | Sequence[str | bytes]


class ServerSide(Protocol):
    """What a server-side storage adds: one session, seen by every instance at once."""

    async def forget(self, identity: str) -> None: ...

    async def read(self, identity: str) -> dict[str, Any] | None: ...

    async def write_now(self, session: aiohttp_session.Session) -> bool: ...

    async def replace_tokens(
        self, identity: str, provider: str, spent: str | None, fresh: dict[str, Any]
    ) -> bool: ...


def server_side(storage: object) -> ServerSide | None:
    """The server-side operations of ``storage`` (the storage in charge of a request), or
    ``None`` for a storage that keeps sessions in the browser."""
    if not isinstance(storage, RedisStorage):
        return None
    from .redis import RedisSide  # optional dependency: only with a Redis storage

    return RedisSide(storage)


async def _no_peek(request: web.Request, config: OAuthConfig) -> PeekResult:
    return SLOW


@dataclass(slots=True, eq=False)
class SessionBackend:
    """A session storage and everything the plugin needs to know about it."""

    storage: aiohttp_session.AbstractStorage
    peek: Peek = _no_peek
    #: the same check when it never waits (cookie storage): called without a coroutine
    quick_peek: Callable[[web.Request, OAuthConfig], PeekResult] | None = None
    #: errors meaning "the session store is unavailable" (a 503 page)
    outage_errors: tuple[type[BaseException], ...] = ()
    #: with server-side sessions, refreshes are single-flight across instances
    refresh_lock: RedisRefreshLock | None = None
    #: an aiohttp-session middleware of the app is in charge (the plugin adds none)
    reused: bool = False
    #: the plugin built the storage's client (``redis_url=``) and closes it
    owns_client: bool = False

    def fits(self, session: aiohttp_session.Session) -> bool:
        """Whether ``session`` can be stored (cookie storage: under 4096 bytes per cookie)."""
        return not isinstance(self.storage, CookieStorage) or self.storage.fits(session)

    def bind(self, scope: str) -> None:
        """Bind the storage's cookies or keys to one ``setup_oauth`` (its login path)."""
        if isinstance(self.storage, CookieStorage):
            self.storage.bind(scope)
        elif isinstance(self.storage, RedisStorage):
            from .redis import RedisSessionStorage

            if isinstance(self.storage, RedisSessionStorage):
                self.storage.bind(scope)

    async def aclose(self) -> None:
        """Application shutdown: background refresh writes, then the client the plugin built."""
        if self.refresh_lock is not None:  # refreshed tokens not yet written are lost
            await self.refresh_lock.aclose()
        if self.owns_client and isinstance(self.storage, RedisStorage):
            await self.storage._redis.aclose()


def check_redis_url(url: object) -> None:
    """Refuse a malformed ``redis_url`` (one server, Sentinel or Cluster) with the fix, before
    the optional redis client is imported; the message never repeats the URL (a password)."""
    parse_redis_url(url)


def choose_secret(secret_key: Secret | None, *, secure: bool) -> Secret:
    """The key(s) for cookies: the session cookie and the login-transaction cookies."""
    if secret_key is not None:
        parse_keys(secret_key)  # validated now, before the app is touched
        return secret_key
    if secure:
        raise ConfigurationError(
            "secret_key is required with an https public_url; generate one with "
            "'python -m aiohttp_oauth2_login keygen'"
        )
    warnings.warn(
        "aiohttp_oauth2_login: no secret_key given, using a random key: sessions and pending "
        "logins end when the process restarts, and with several instances a login must "
        "finish where it started. Never run like this in production.",
        RuntimeWarning,
        stacklevel=3,
    )
    return generate_key()


def _existing_session_storage(app: web.Application) -> aiohttp_session.AbstractStorage | None:
    """The storage of an aiohttp-session middleware already on ``app`` (reused, not doubled)."""
    for middleware in app.middlewares:
        if getattr(middleware, "__module__", None) == "aiohttp_session":
            found = inspect.getclosurevars(middleware).nonlocals.get("storage")
            if isinstance(found, aiohttp_session.AbstractStorage):
                return found
            raise ConfigurationError("cannot use the app's aiohttp-session middleware")
    return None


def _redis_storage(url: str, *, max_age: int, secure: bool, name: str) -> RedisStorage:
    """``redis_url=``: aiohttp-session's RedisStorage with TTL = the absolute lifetime."""
    try:
        from .redis import redis_storage
    except ImportError as exc:  # the optional dependency is missing
        raise ConfigurationError(
            "redis_url needs the redis client: pip install 'aiohttp-oauth2-login[redis]'"
        ) from exc
    return redis_storage(url, max_age=max_age, secure=secure, cookie_name=name)


def _storage(
    app: web.Application,
    storage: aiohttp_session.AbstractStorage | None,
    secret: Secret,
    *,
    secure: bool,
    cookie_name: str,
    max_age: int,
) -> tuple[aiohttp_session.AbstractStorage, bool]:
    """(the session storage, whether an existing aiohttp-session middleware is reused)."""
    existing = _existing_session_storage(app)
    if existing is not None:
        if storage is not None:
            raise ConfigurationError(
                "the app already has aiohttp-session's middleware and its storage is used: "
                "do not pass storage= or redis_url="
            )
        return existing, True
    if type(storage) is RedisStorage:  # aiohttp-session's own: add logout-everywhere & friends
        from .redis import RedisSessionStorage

        return RedisSessionStorage.from_storage(storage), False
    if storage is not None:
        return storage, False
    return CookieStorage(secret, cookie_name=cookie_name, secure=secure, max_age=max_age), False


def choose_backend(
    app: web.Application,
    *,
    storage: aiohttp_session.AbstractStorage | None,
    redis_url: str | None,
    secret: Secret,
    config: OAuthConfig,
    cookie_name: str,
) -> SessionBackend:
    """The backend for ``setup_oauth``'s storage options (validated by the caller)."""
    secure, lifetime = config.secure_cookies, config.session_lifetime
    if redis_url is not None:
        storage = _redis_storage(redis_url, max_age=lifetime, secure=secure, name=cookie_name)
    chosen, reused = _storage(
        app, storage, secret, secure=secure, cookie_name=cookie_name, max_age=lifetime
    )
    backend = SessionBackend(chosen, reused=reused, owns_client=redis_url is not None)
    if isinstance(chosen, CookieStorage):
        cookie_storage = chosen

        quick_peek = functools.partial(peek_user, storage=cookie_storage)

        async def peek(request: web.Request, config: OAuthConfig) -> PeekResult:
            return peek_user(request, config, cookie_storage)

        backend.peek, backend.quick_peek = peek, quick_peek
    elif isinstance(chosen, RedisStorage):
        from .redis import (
            OUTAGE_ERRORS,
            RedisPeek,
            RedisRefreshLock,
            RedisSessionStorage,
            client_warnings,
        )

        backend.outage_errors = OUTAGE_ERRORS
        # waiters give up once a holder has had time for the refresh itself (the provider
        # call) and the Redis reads and writes around it
        wait = config.limits.total_timeout + 5.0
        backend.refresh_lock = RedisRefreshLock(chosen._redis, prefix=chosen.cookie_name, wait=wait)
        if redis_url is None:
            for problem in client_warnings(chosen._redis):
                logger.warning(
                    "the Redis client of the session storage: %s; build it with "
                    "aiohttp_oauth2_login.redis.redis_client(url)",
                    problem,
                )
        if isinstance(chosen, RedisSessionStorage):
            backend.peek = RedisPeek(chosen).peek_user
    return backend
