"""``RedisSessionStorage``: aiohttp-session's Redis storage with the plugin's guarantees."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, cast

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData
from aiohttp_session.redis_storage import RedisStorage
from redis import asyncio as aioredis
from redis.exceptions import WatchError

from ..._clock import now
from ...errors import ConfigurationError
from ...log import logger
from ..cookies import exact, plugin_cookies, session_cookie
from ..deletion import SecureDeleteMixin
from ..schema import NAMESPACE
from .client import _SESSION_ID, Client, redis_client

__all__ = [
    "RedisSessionStorage",
    "RedisSide",
    "forget",
    "key_prefix",
    "read",
    "redis_storage",
    "remaining_lifetime",
    "replace_tokens",
    "write_now",
]


class RedisSessionStorage(SecureDeleteMixin, RedisStorage):
    """aiohttp-session's ``RedisStorage`` with secure cookie deletion, strict cookie parsing,
    session-id validation and the direct reads/writes the cross-instance refresh needs.
    Keys: ``<cookie_name>:<setup>_<id>``, one namespace per ``setup_oauth`` (``bind``). Every
    script and transaction touches one key, so sessions may spread over a Redis Cluster's slots.
    """

    def __init__(self, redis: Client, **kwargs: Any) -> None:
        def new_id() -> str:
            return secrets.token_hex(16)

        if isinstance(redis, aioredis.Redis):
            super().__init__(redis, key_factory=new_id, **kwargs)
        else:  # a RedisCluster, which aiohttp-session's type check refuses; all else is equal
            AbstractStorage.__init__(self, **kwargs)
            self._key_factory = new_id
            self._redis = redis  # type: ignore[assignment]
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
    except UnicodeDecodeError:
        return None
    data = _decoded(storage, text)
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
    """The stored text decoded, or ``None`` when it is not the storage's encoding."""
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


def _client(storage: RedisStorage) -> Client:
    if isinstance(storage, RedisSessionStorage):
        return storage.redis
    return storage._redis  # aiohttp-session keeps no public handle on its client


def _key(storage: RedisStorage, identity: str) -> str:
    if isinstance(storage, RedisSessionStorage):
        return f"{storage.key_prefix}_{identity}"
    return f"{storage.cookie_name}_{identity}"  # aiohttp-session's own key scheme


async def read(storage: RedisStorage, identity: str) -> dict[str, Any] | None:
    """The stored session data of ``identity`` as written by any instance."""
    loaded = await _load(storage, identity)
    return None if loaded is None else loaded[1]


def remaining_lifetime(session: Session, lifetime: int | None) -> int | None:
    """Seconds the session may still live: the absolute lifetime counts from the login."""
    raw = session.get(NAMESPACE)
    login_at = raw.get("li") if isinstance(raw, dict) else None
    if lifetime is None or not isinstance(login_at, int):
        return lifetime
    return max(1, login_at + lifetime - int(now()))


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
            data = None if raw is None else _decoded(storage, _text(raw))
        except UnicodeDecodeError:
            return False
        tokens = _tokens(data)
        stored = tokens.get(provider) if tokens is not None else None
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


class RedisSide:
    """The server-side operations of a Redis storage (``backend.ServerSide``)."""

    __slots__ = ("storage",)

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage

    async def forget(self, identity: str) -> None:
        await forget(self.storage, identity)

    async def read(self, identity: str) -> dict[str, Any] | None:
        return await read(self.storage, identity)

    async def write_now(self, session: Session) -> bool:
        return await write_now(self.storage, session)

    async def replace_tokens(
        self, identity: str, provider: str, spent: str | None, fresh: dict[str, Any]
    ) -> bool:
        return await replace_tokens(self.storage, identity, provider, spent, fresh)


def redis_storage(
    redis: Client | str,
    *,
    max_age: int,
    secure: bool,
    cookie_name: str = "aiohttp_oauth2",
) -> RedisSessionStorage:
    """The session storage ``setup_oauth(redis_url=...)`` builds: TTL = the absolute lifetime."""
    client = redis_client(redis) if isinstance(redis, str) else redis
    return RedisSessionStorage(
        client, max_age=max_age, **session_cookie(cookie_name, secure=secure)
    )
