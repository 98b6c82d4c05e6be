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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, cast

import aiohttp_session
from aiohttp import web
from aiohttp_session import Session, SessionData
from aiohttp_session.redis_storage import RedisStorage
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import OAuthConfig
from ..errors import ConfigurationError, ProviderTimeout
from ..keys import AUTH_KEY
from ..log import logger
from .access import NAMESPACE
from .cookies import exact, plugin_cookies
from .deletion import SecureDeleteMixin
from .peek import (
    SLOW,
    Entry,
    PeekResult,
    Slow,
    check_entry,
    entry_from_payload,
    in_charge,
)

__all__ = [
    "OUTAGE_ERRORS",
    "HeldLock",
    "RedisPeek",
    "RedisRefreshLock",
    "RedisSessionStorage",
    "client_warnings",
    "forget",
    "key_prefix",
    "read",
    "reconnect_once",
    "redis_client",
    "redis_storage",
    "replace_tokens",
    "write_now",
]

#: errors meaning "the session store is unavailable" (mapped to a 503 page, never a 500)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError,)  # redis-py wraps socket errors
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def reconnect_once() -> Retry:
    """redis-py's retry policy for the plugin's clients: a command that fails with a
    ``ConnectionError`` (a pooled connection left dead by a Redis restart) is sent once more, at
    once, on a new connection. Never on a ``TimeoutError``: a hung Redis stays a 503 within one
    socket timeout."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_client(url: str, *, timeout: float = 2.0) -> aioredis.Redis:
    """A client with explicit socket timeouts (a stalled Redis must not stall requests) that
    reconnects once when a pooled connection turns out dead (``reconnect_once``).

    Build the client you pass in ``storage=`` the same way (or with the same ``retry=``,
    ``socket_timeout=`` and ``socket_connect_timeout=``): redis-py's ``Redis.from_url`` retries
    nothing, so each pooled connection costs one 503 after a Redis restart, and ``Redis()``
    retries timeouts ten times, so a hung Redis holds requests far beyond the timeout."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
        retry=reconnect_once(),
    )


def client_warnings(redis: aioredis.Redis) -> list[str]:
    """What a client passed in (``storage=``) lacks for the plugin's outage guarantees."""
    try:
        pool = redis.connection_pool
        probe = pool.connection_class(**pool.connection_kwargs)  # never connected
        retries, errors = probe.retry.get_retries(), probe.retry._supported_errors
        timeout = probe.socket_timeout
    except Exception:  # noqa: BLE001 - an unusual pool: nothing to say about it
        return []
    found = []
    if retries < 1 or not any(issubclass(RedisConnectionError, e) for e in errors):
        found.append(
            "it does not reconnect on a dead connection: a 503 per pooled connection "
            "after a Redis restart"
        )
    if retries >= 1 and any(issubclass(RedisTimeoutError, e) for e in errors):
        found.append("it retries timeouts: a hung Redis holds requests for several timeouts")
    if timeout is None:
        found.append("it has no socket timeout: a hung Redis holds requests forever")
    return found


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
        found = None if identity is None else await _load(self, identity)
        if identity is None or found is None:
            return Session(None, data=None, new=True, max_age=self.max_age)
        text, data = found
        return _LoadedSession(identity, cast(SessionData, data), self.max_age, text)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """New sessions are created (``NX``), existing ones only updated (``XX``): a session
        deleted by a logout on another instance is never brought back by a late write here,
        and tokens another request refreshed meanwhile are never replaced by the older copy
        this request loaded (``_update``)."""
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
        elif isinstance(session, _LoadedSession):
            written = await _update(self, str(identity), session, ttl)
        else:
            written = await _set(self, str(identity), session, ttl, new=False)
        self.save_cookie(response, str(identity) if written else "", max_age=ttl)


class _LoadedSession(Session):
    """A session read from Redis, with the stored text it was read from (``loaded``)."""

    def __init__(self, identity: str, data: SessionData, max_age: int | None, loaded: str) -> None:
        super().__init__(identity, data=data, new=False, max_age=max_age)
        self.loaded = loaded


async def _load(storage: RedisStorage, identity: str) -> tuple[str, dict[str, Any]] | None:
    """``read``, with the stored text as well."""
    raw = await _client(storage).get(_key(storage, identity))
    if raw is None:
        return None
    try:
        text = _text(raw)
        data = storage._decoder(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return (text, data) if isinstance(data, dict) else None


# KEYS[1] the session; ARGV: SHA-1 of the stored text the writer last saw, its new text, the
# TTL in seconds ("" = none). 1: written; 0: gone (a logout: not brought back); else the text
# stored now (changed meanwhile: the writer merges and tries again).
_UPDATE = """
local current = redis.call("get", KEYS[1])
if not current then
    return 0
end
if current ~= ARGV[2] and redis.sha1hex(current) ~= ARGV[1] then
    return current
end
if ARGV[3] == "" then
    redis.call("set", KEYS[1], ARGV[2])
else
    redis.call("set", KEYS[1], ARGV[2], "ex", ARGV[3])
end
return 1
"""
_UPDATE_ATTEMPTS = 5


async def _update(
    storage: RedisStorage, identity: str, session: _LoadedSession, ttl: int | None
) -> bool:
    """Write an existing session over the stored one if that is still what was loaded (one
    round trip), else over the stored one merged in (``_merged``); whether it was written (not
    when deleted meanwhile). Redis errors propagate, ``WatchError`` when others kept writing."""
    key, client = _key(storage, identity), _client(storage)
    data, seen = storage._get_session_data(session), session.loaded
    for _ in range(_UPDATE_ATTEMPTS):
        digest = hashlib.sha1(seen.encode("utf-8"), usedforsecurity=False).hexdigest()
        expiry = "" if ttl is None else str(ttl)
        got = await client.eval(_UPDATE, 1, key, digest, storage._encoder(data), expiry)
        if isinstance(got, int):
            return bool(got)
        seen = _text(got)
        data = _merged(storage, storage._get_session_data(session), session.loaded, seen)
    raise WatchError(f"the session changed {_UPDATE_ATTEMPTS} times while it was saved")


def _merged(storage: RedisStorage, data: SessionData, loaded: str, stored: str) -> SessionData:
    """``data`` with, for each provider, the tokens in ``stored`` wherever they differ from
    both the ``loaded`` ones and this request's: another request refreshed them (the provider
    may have rotated the loaded refresh token away) or dropped them since this request loaded
    the session, and this request did not refresh them itself."""
    ours = _tokens(data)
    if ours is None:  # this request holds no tokens (signed out, anonymous): nothing to keep
        return data
    before, now = _tokens(_decoded(storage, loaded)) or {}, _tokens(_decoded(storage, stored)) or {}
    tokens = dict(ours)
    for name in {*before, *now}:
        kept = now.get(name)
        if kept == before.get(name) or kept == ours.get(name):
            continue
        logger.debug("kept the %s tokens another request stored meanwhile", name)
        if kept is None:
            tokens.pop(name, None)
        else:
            tokens[name] = kept
    mapping = data["session"]
    return {**data, "session": {**mapping, NAMESPACE: {**mapping[NAMESPACE], "t": tokens}}}


def _decoded(storage: RedisStorage, text: str) -> object:
    try:
        return storage._decoder(text)
    except (ValueError, RecursionError):
        return None


def _tokens(data: object) -> dict[str, Any] | None:
    """The ``{provider: tokens}`` of decoded session data (``session["oauth"]["t"]``)."""
    mapping = data.get("session") if isinstance(data, dict) else None
    oauth = mapping.get(NAMESPACE) if isinstance(mapping, dict) else None
    tokens = oauth.get("t") if isinstance(oauth, dict) else None
    return tokens if isinstance(tokens, dict) else None


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
    client = _client(storage)
    if await client.set(key, data, ex=ttl, nx=new, xx=not new):
        return True
    if not new:
        return False
    # SET NX sent again after its reply was lost with a dead connection (``reconnect_once``):
    # the key is ours if it holds exactly what was sent (a fresh 128-bit id never collides)
    stored = await client.get(key)
    return stored is not None and _text(stored) == data


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8")


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


async def replace_tokens(
    storage: RedisStorage,
    identity: str,
    provider: str,
    spent: str | None,
    fresh: dict[str, Any],
) -> bool:
    """Write refreshed tokens (``TokenSet.to_session`` form) into the stored session, but only
    over the tokens they replace (refresh token ``spent``), atomically (``WATCH``/``MULTI``):
    a session deleted meanwhile (a logout) is not brought back, tokens another writer stored
    meanwhile are not overwritten, and nothing else of the session changes. Whether the
    session holds ``fresh`` now. Redis errors (``WatchError`` included) propagate."""
    key = _key(storage, identity)
    async with _client(storage).pipeline(transaction=True) as pipe:
        await pipe.watch(key)
        raw = await pipe.get(key)
        try:
            data = None if raw is None else storage._decoder(_text(raw))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False
        mapping = data.get("session") if isinstance(data, dict) else None
        oauth = mapping.get(NAMESPACE) if isinstance(mapping, dict) else None
        tokens = oauth.get("t") if isinstance(oauth, dict) else None
        stored = tokens.get(provider) if isinstance(tokens, dict) else None
        if not isinstance(stored, dict):
            return False  # signed out meanwhile
        if stored.get("r") == fresh.get("r"):
            return True  # already written (by the request itself, or an earlier attempt)
        if stored.get("r") != spent:
            return False  # other tokens: never overwrite them with older ones
        assert isinstance(tokens, dict)  # noqa: S101 - checked above
        tokens[provider] = fresh
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set(key, storage._encoder(data), xx=True, keepttl=True)
        await pipe.execute()
        return True


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


#: seconds: a holder renews its lock three times per lease; a waiter that sees no renewal for a
#: whole lease takes the lock over (the holder is gone)
LOCK_LEASE = 5.0
#: seconds a lock key lives in Redis without renewal: only for the locks of crashed holders. Long
#: on purpose, so that a lock survives a Redis restart (AOF) however long the outage lasted:
#: waiters measure the lease on their own clock, never by this TTL
LOCK_TTL = 3600.0
_POLL = 0.05  # seconds between a waiter's attempts
_RETRY_MAX = 0.5  # seconds: longest pause between background attempts while Redis is down

# KEYS[1] the lock; ARGV: our value, TTL (ms), the value of a holder to take over ("" = none).
# 1: acquired (free, or ours already: a retried command), 2: taken over, else the holder's value.
_ACQUIRE = """
local current = redis.call("get", KEYS[1])
if not current or current == ARGV[1] then
    redis.call("set", KEYS[1], ARGV[1], "px", ARGV[2])
    return 1
end
if ARGV[3] ~= "" and current == ARGV[3] then
    redis.call("set", KEYS[1], ARGV[1], "px", ARGV[2])
    return 2
end
return current
"""
# KEYS[1] the lock; ARGV: the holder's prefix, its next value, TTL (ms). 1: renewed, 0: lost.
_RENEW = """
local current = redis.call("get", KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then
    redis.call("set", KEYS[1], ARGV[2], "px", ARGV[3])
    return 1
end
return 0
"""
# KEYS[1] the lock; ARGV[1] the holder's prefix: deleted only by its holder.
_RELEASE = """
local current = redis.call("get", KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class RedisRefreshLock:
    """One refresh per session across instances: a lock in Redis, held by a live holder.

    The holder renews the lock (a new value) every ``lease / 3`` seconds while it holds it; a
    waiter that sees the same value for a whole ``lease`` on its own clock takes the lock over,
    so a crashed holder costs the others at most one lease, and a Redis restart (the lock comes
    back from the AOF) costs nothing while the holder lives: it releases as soon as Redis is
    back. A holder whose refreshed tokens could not be written (Redis down) keeps the lock until
    they are written (``HeldLock.write``): no instance presents the refresh token the provider
    has just rotated away. Waiters give up after ``wait`` seconds (``ProviderTimeout``).
    Release is atomic and only by the holder (Lua)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        lease: float = LOCK_LEASE,
        wait: float = 15.0,
        ttl: float = LOCK_TTL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease = lease
        self.wait = wait
        self.ttl = ttl
        self._tasks: set[asyncio.Task[None]] = set()
        self._unwritten = 0  # refresh results waiting for Redis

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[HeldLock]:
        """Hold the lock ``name``; waits (polling) while another instance holds it."""
        held = HeldLock(self, f"{self.prefix}:lock:{name}")
        await self._acquire(held)
        held.start()
        try:
            yield held
        finally:
            if not held.handed_over:
                await held.release()

    async def _acquire(self, held: HeldLock) -> None:
        started = time.monotonic()
        seen: bytes | str = ""  # the holder's value, as last seen
        seen_at = started
        while True:
            stale = seen if time.monotonic() - seen_at >= self.lease else ""
            got = await self.redis.eval(_ACQUIRE, 1, held.key, held.value, self._ttl_ms, stale)
            if got == 2:
                logger.warning("took over a refresh lock not renewed for %g s", self.lease)
            if got in (1, 2):
                return
            now = time.monotonic()
            if got != seen and isinstance(got, bytes | str):
                seen, seen_at = got, now
            if now - started >= self.wait:
                logger.warning("refresh lock still held after %.0f s", self.wait)
                raise ProviderTimeout()
            await asyncio.sleep(_POLL)

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        """Background jobs still running: writes waiting for Redis, renewals, releases."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Stop the background jobs (application shutdown)."""
        if self._unwritten:
            logger.error(
                "%d refreshed token set(s) could not be written: Redis was unavailable until "
                "shutdown (those sessions must sign in again)",
                self._unwritten,
            )
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class HeldLock:
    """A held ``RedisRefreshLock``: renewed in the background until released."""

    def __init__(self, lock: RedisRefreshLock, key: str) -> None:
        self.lock = lock
        self.key = key
        self.owner = secrets.token_hex(16) + "."  # the prefix of every value this holder writes
        self.value = self.owner + "0"
        self.handed_over = False
        self._renewal: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Renew the lock every ``lease / 3`` seconds until it is released."""
        self._renewal = self.lock._spawn(self._renew())

    async def _renew(self) -> None:
        lock, count = self.lock, 0
        while True:
            await asyncio.sleep(lock.lease / 3)
            count += 1
            try:
                kept = await lock.redis.eval(
                    _RENEW, 1, self.key, self.owner, f"{self.owner}{count}", lock._ttl_ms
                )
            except OUTAGE_ERRORS:
                continue  # Redis is down: the lock is renewed again when it is back
            if not kept:
                logger.warning("a refresh lock was taken over from its live holder")
                return

    async def write(
        self,
        now: Awaitable[object],
        *,
        later: Callable[[], Awaitable[object]],
        done: Callable[[], None],
    ) -> None:
        """Write a refresh result: ``now`` at once; if the session store is unavailable, keep
        the lock and run ``later`` in the background until it succeeds, then release the lock.
        ``done`` runs once the result is written (or the attempt ended otherwise)."""
        try:
            await now
        except OUTAGE_ERRORS as exc:
            logger.warning(
                "session store unavailable (%s): refreshed tokens are kept in memory and "
                "written when it is back",
                type(exc).__name__,
            )
            self.handed_over = True
            self.lock._spawn(self._write_later(later, done))
            return
        except BaseException:
            done()
            raise
        done()

    async def _write_later(
        self, later: Callable[[], Awaitable[object]], done: Callable[[], None]
    ) -> None:
        lock = self.lock
        lock._unwritten += 1
        try:
            try:
                if await _until_done(later, lock.ttl, "write the refreshed tokens"):
                    logger.info("refreshed tokens written after the session store came back")
            except Exception as exc:  # noqa: BLE001 - whatever it was, the lock is released
                logger.error("could not write the refreshed tokens: %s", type(exc).__name__)
            await self.release()
        finally:
            lock._unwritten -= 1
            done()

    async def release(self) -> None:
        """Stop renewing and delete the lock (if still ours); retried in the background while
        Redis is unavailable, so that a Redis restart does not bring back a stale lock."""
        if self._renewal is not None:
            self._renewal.cancel()
        try:
            await self._release()
        except OUTAGE_ERRORS:
            logger.warning("could not release the refresh lock; retrying in the background")
            self.lock._spawn(self._release_later())

    async def _release(self) -> None:
        await self.lock.redis.eval(_RELEASE, 1, self.key, self.owner)

    async def _release_later(self) -> None:
        await _until_done(self._release, self.lock.ttl, "release the refresh lock")


async def _until_done(job: Callable[[], Awaitable[object]], limit: float, what: str) -> bool:
    """Run ``job`` until it no longer fails with a Redis error (short pauses, at most ``limit``
    seconds in all); whether it succeeded."""
    deadline = time.monotonic() + limit
    pause = _POLL
    while True:
        try:
            await job()
            return True
        except OUTAGE_ERRORS as exc:
            if time.monotonic() >= deadline:
                logger.error("could not %s within %.0f s: %s", what, limit, type(exc).__name__)
                return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, _RETRY_MAX)


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
        if not in_charge(request, self.storage):
            return SLOW  # an outer setup's session middleware is in charge
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
