"""Sessions: the encrypted cookie storage, and every read and write of the plugin's session data.

The plugin's data lives under one key of the aiohttp-session ``Session`` (so an app's own
session, Redis or cookie, can be shared)::

    {"u": user, "t": {provider: tokens}, "li": login time, "la": last activity,
     "b": the setup it belongs to (``config.scope``)}

(Login transactions live in cookies of their own: ``_tx_cookies``.)

Only a complete validated identity counts as logged in; anything malformed is anonymous.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp_session
from aiohttp import web
from aiohttp_session.redis_storage import RedisStorage

from ..config import OAuthConfig
from ..errors import ReauthenticationRequired
from ..keys import AUTH_KEY
from ..tokens import TokenSet
from ..user import User

__all__ = [
    "NAMESPACE",
    "AuthState",
    "clear_login",
    "drop_tokens",
    "load_auth",
    "persist_now",
    "reread_tokens",
    "session_id",
    "login_payload",
    "start_login_session",
    "store_tokens",
]

NAMESPACE = "oauth"
TOUCH_EVERY = 60  # seconds between last-activity updates (each update is a Set-Cookie)


@dataclass(slots=True)
class AuthState:
    """What the session says about the visitor for one setup (``scope``), read once per
    request: with nested setups, a state cached by the outer one is never the inner one's."""

    user: User | None = None
    tokens: dict[str, TokenSet] = field(default_factory=dict)
    login_at: int | None = None
    scope: str = ""


def clock_now() -> int:
    """Seconds since the epoch: the one clock every session timeout is measured with."""
    return int(time.time())


def _namespace(session: aiohttp_session.Session) -> dict[str, object]:
    raw = session.get(NAMESPACE)
    return raw if isinstance(raw, dict) else {}


def _parse_auth(raw: dict[str, object], config: OAuthConfig, now: int) -> AuthState | None:
    """The logged-in state in ``raw``, or ``None`` when absent, malformed or timed out."""
    user = User.from_session(raw.get("u"))
    login_at, last = raw.get("li"), raw.get("la")
    if user is None or not isinstance(login_at, int) or not isinstance(last, int):
        return None
    if user.provider not in config.provider_names:  # a provider removed from the configuration
        return None
    if raw.get("b") != config.scope.path:  # issued by another setup_oauth of the app tree
        return None
    if now >= login_at + config.session_lifetime or now >= last + config.idle_timeout:
        return None
    if login_at > now + 60:
        return None
    stored = raw.get("t")
    tokens: dict[str, TokenSet] = {}
    if isinstance(stored, dict):
        for name, value in stored.items():
            token = TokenSet.from_session(value)
            if token is not None and isinstance(name, str):
                tokens[name] = token
    return AuthState(user=user, tokens=tokens, login_at=login_at, scope=config.scope.path)


async def load_auth(request: web.Request, config: OAuthConfig) -> AuthState:
    """The visitor's state; timed-out logins are cleared, activity is recorded now and then."""
    cached = request.get(AUTH_KEY)
    if isinstance(cached, AuthState) and cached.scope == config.scope.path:
        return cached
    session = await aiohttp_session.get_session(request)
    raw = _namespace(session)
    now = int(time.time())
    state = _parse_auth(raw, config, now) if "u" in raw else None
    if state is None:
        state = AuthState(scope=config.scope.path)
        foreign = raw.get("b", config.scope.path) != config.scope.path
        if ("u" in raw or "t" in raw) and not foreign:  # expired or malformed login: forget it
            session.pop(NAMESPACE, None)
            session.changed()
    else:
        last = raw["la"]
        assert isinstance(last, int)  # noqa: S101 - checked by _parse_auth
        if now - last >= TOUCH_EVERY:
            session[NAMESPACE] = {**raw, "la": now}
    request[AUTH_KEY] = state
    return state


async def start_login_session(
    request: web.Request,
    *,
    user: User,
    provider: str,
    token: TokenSet,
    scope: str,
    keep_id_token: bool = False,
) -> aiohttp_session.Session:
    """A brand-new session holding only the identity, its tokens and other tabs' transactions.

    Rotation defeats session fixation (SECURITY.md 21); the other live transactions are carried
    over so that logins started in other tabs of this browser can still complete.
    """
    old = await aiohttp_session.get_session(request)
    storage = _server_side(request)
    if storage is not None and old.identity is not None:  # the pre-login session must not linger
        from . import redis as redis_sessions  # optional dependency: only with a RedisStorage

        await redis_sessions.forget(storage, str(old.identity))
    session = await aiohttp_session.new_session(request)
    now = int(time.time())
    session[NAMESPACE] = login_payload(
        user=user, provider=provider, token=token, scope=scope, keep_id_token=keep_id_token
    )
    request[AUTH_KEY] = AuthState(user=user, tokens={provider: token}, login_at=now, scope=scope)
    return session


def login_payload(
    *,
    user: User,
    provider: str,
    token: TokenSet,
    scope: str,
    keep_id_token: bool = False,
) -> dict[str, object]:
    """The plugin's session data for a fresh login (also used by ``testing.login_as``);
    ``scope`` binds it to one ``setup_oauth`` (``OAuthConfig.scope``)."""
    now = int(time.time())
    raw: dict[str, object] = {
        "u": user.to_session(),
        "t": {provider: token.to_session(keep_id_token=keep_id_token)},
        "li": now,
        "la": now,
        "b": scope,
    }
    return raw


async def clear_login(request: web.Request, config: OAuthConfig) -> AuthState:
    """Forget everything in this browser's session; returns what it held (for revocation)."""
    before = await load_auth(request, config)
    session = await aiohttp_session.get_session(request)
    session.invalidate()
    request[AUTH_KEY] = AuthState(scope=config.scope.path)
    return before


async def store_tokens(
    request: web.Request, provider: str, token: TokenSet, *, keep_id_token: bool = False
) -> None:
    """Write refreshed tokens back into the session (saved with this request's response)."""
    session = await aiohttp_session.get_session(request)
    raw = dict(_namespace(session))
    stored = raw.get("t")
    tokens = dict(stored) if isinstance(stored, dict) else {}
    tokens[provider] = token.to_session(keep_id_token=keep_id_token)
    raw["t"] = tokens
    session[NAMESPACE] = raw
    state = request.get(AUTH_KEY)
    if isinstance(state, AuthState):
        state.tokens[provider] = token


async def drop_tokens(request: web.Request, provider: str) -> None:
    """Forget a provider's tokens that can no longer be used (the user must sign in again)."""
    session = await aiohttp_session.get_session(request)
    raw = dict(_namespace(session))
    stored = raw.get("t")
    if isinstance(stored, dict) and provider in stored:
        raw["t"] = {k: v for k, v in stored.items() if k != provider}
        session[NAMESPACE] = raw
    state = request.get(AUTH_KEY)
    if isinstance(state, AuthState):
        state.tokens.pop(provider, None)


def _server_side(request: web.Request) -> RedisStorage | None:
    storage = request.get(aiohttp_session.STORAGE_KEY)
    return storage if isinstance(storage, RedisStorage) else None


async def reread_tokens(request: web.Request, provider: str) -> TokenSet | None:
    """The provider's tokens as stored in Redis now (another instance may have refreshed them)."""
    storage = _server_side(request)
    session = await aiohttp_session.get_session(request)
    if storage is None or session.identity is None:
        return None
    from . import redis as redis_sessions  # optional dependency: only with a RedisStorage

    data = await redis_sessions.read(storage, str(session.identity))
    if data is None:  # deleted meanwhile: signed out (on another instance) while we waited
        raise ReauthenticationRequired()
    mapping = data.get("session")
    raw = mapping.get(NAMESPACE) if isinstance(mapping, dict) else None
    tokens = raw.get("t") if isinstance(raw, dict) else None
    return TokenSet.from_session(tokens.get(provider)) if isinstance(tokens, dict) else None


async def persist_now(request: web.Request) -> None:
    """Write the session to Redis at once, so other instances see refreshed tokens now; raises
    ``ReauthenticationRequired`` when it was deleted meanwhile (never brought back)."""
    storage = _server_side(request)
    session = await aiohttp_session.get_session(request)
    if storage is not None and session.identity is not None:
        from . import redis as redis_sessions  # optional dependency: only with a RedisStorage

        if not await redis_sessions.write_now(storage, session):
            raise ReauthenticationRequired()


async def session_id(request: web.Request) -> str | None:
    """The server-side session id (Redis), or ``None`` for cookie sessions."""
    if _server_side(request) is None:
        return None
    identity = (await aiohttp_session.get_session(request)).identity
    return None if identity is None else str(identity)
