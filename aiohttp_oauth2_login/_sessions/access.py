"""Every read and write of the plugin's session data, through aiohttp-session.

The layout and the liveness rule are ``schema``'s; server-side operations (Redis) go through
the backend's ``ServerSide`` seam. Login transactions live in cookies of their own
(``transactions``).
"""

from __future__ import annotations

from collections.abc import Collection

import aiohttp_session
from aiohttp import web

from ..config import OAuthConfig
from ..errors import ReauthenticationRequired
from ..log import logger
from ..tokens import TokenSet
from ..user import User
from .backend import ServerSide, server_side
from .peek import PEEKED, check_entry
from .schema import (
    AUTH_KEY,
    ENDED,
    NAMESPACE,
    TOUCH_EVERY,
    AuthState,
    clock_now,
    login_payload,
    parse_auth,
)

__all__ = [
    "NAMESPACE",
    "AuthState",
    "cached_auth",
    "clear_login",
    "drop_tokens",
    "load_auth",
    "persist_now",
    "reread_tokens",
    "session_id",
    "shed_carried",
    "login_payload",
    "start_login_session",
    "store_tokens",
    "stored_side",
]


def _namespace(session: aiohttp_session.Session) -> dict[str, object]:
    raw = session.get(NAMESPACE)
    return raw if isinstance(raw, dict) else {}


async def load_auth(request: web.Request, config: OAuthConfig) -> AuthState:
    """The visitor's state; timed-out logins are cleared, activity is recorded now and then."""
    cached = request.get(AUTH_KEY)
    if isinstance(cached, AuthState) and cached.scope == config.scope.path:
        return cached
    session = await aiohttp_session.get_session(request)
    raw = _namespace(session)
    now = clock_now()
    state = parse_auth(raw, config, now) if "u" in raw else None
    if state is None:
        state = AuthState(scope=config.scope.path)
        foreign = raw.get("b", config.scope.path) != config.scope.path
        if ("u" in raw or "t" in raw) and not foreign:  # expired or malformed login: forget it,
            session[NAMESPACE] = {ENDED: now}  # but not that there was one (carry_session_keys)
    else:
        last = raw["la"]
        assert isinstance(last, int)  # noqa: S101 - checked by parse_auth
        if now - last >= TOUCH_EVERY:
            session[NAMESPACE] = {**raw, "la": now}
    request[AUTH_KEY] = state
    return state


_STORAGE, _SESSION = aiohttp_session.STORAGE_KEY, aiohttp_session.SESSION_KEY


def cached_auth(request: web.Request, config: OAuthConfig, storage: object) -> AuthState | None:
    """The signed-in state taken from what the cheap check (``peek``) read from this request's
    cookie, without loading the session; ``None`` when ``load_auth`` must decide.

    Only for a request whose session nothing has loaded yet, served by ``storage``: the cached
    entry belongs to the exact cookie value it carries (authenticated ciphertext, G9), and the
    liveness rule is asked again now, so a timeout or a due activity update takes the full path.
    """
    state = request._state
    hit = state.get(PEEKED)
    if hit is None or _SESSION in state or state.get(_STORAGE) is not storage:
        return None
    cached = state.get(AUTH_KEY)
    if cached is not None:
        return (
            cached if isinstance(cached, AuthState) and cached.scope == config.scope.path else None
        )
    entry = hit[1]
    if entry is None or not isinstance(check_entry(entry, config), User):
        return None
    user = entry[0]
    auth = AuthState(user=user, tokens=dict(hit[2]), login_at=entry[1], scope=config.scope.path)
    state[AUTH_KEY] = auth
    return auth


async def start_login_session(
    request: web.Request,
    *,
    user: User,
    provider: str,
    token: TokenSet,
    scope: str,
    keep_id_token: bool = False,
    carry: Collection[str] = (),
) -> aiohttp_session.Session:
    """A brand-new session holding only the identity and its tokens.

    Rotation defeats session fixation (G9): nothing of the pre-login session is kept (its
    server-side copy is deleted), except the values of the app's own keys named in ``carry``
    (``setup_oauth(carry_session_keys=("cart",))``): data the app chose to keep, such as a
    shopping cart, copied by value into the new session. The plugin's own keys can never be
    carried. Carried data counts against the cookie budget; ``shed_carried`` drops it when the
    new session would not fit, so it can never make a login fail.

    Only an anonymous session's values are carried: one that never held a login (no plugin
    data at all). A session someone signed in with, even one whose login timed out, carries
    nothing, so on a shared browser one person's cart never reaches the next person's login.
    Carried values are visitor-controlled input: whoever can plant a session cookie (plain
    http, a cookie without the ``__Host-`` prefix, L3) chooses them, so the app must check
    them like any form field.
    """
    old = await aiohttp_session.get_session(request)
    anonymous = NAMESPACE not in old  # never signed in here (a login leaves ENDED behind)
    carried = (
        {key: old[key] for key in carry if key != NAMESPACE and key in old} if anonymous else {}
    )
    side = stored_side(request)
    if side is not None and old.identity is not None:  # the pre-login session must not linger
        await side.forget(str(old.identity))
    session = await aiohttp_session.new_session(request)
    now = clock_now()
    session.update(carried)
    session[NAMESPACE] = login_payload(
        user=user, provider=provider, token=token, scope=scope, keep_id_token=keep_id_token
    )
    request[AUTH_KEY] = AuthState(user=user, tokens={provider: token}, login_at=now, scope=scope)
    return session


def shed_carried(session: aiohttp_session.Session, carry: Collection[str]) -> bool:
    """Drop the carried keys from a new login session that is too large to store; whether any
    were there (logged by name, never by value)."""
    dropped = [key for key in carry if key != NAMESPACE and key in session]
    for key in dropped:
        del session[key]
    if dropped:
        logger.warning(
            "carry_session_keys %s dropped at sign-in: the session would not fit in its cookie",
            ", ".join(dropped),
        )
    return bool(dropped)


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


def stored_side(request: web.Request) -> ServerSide | None:
    """The server-side operations of the storage in charge of this request (``None`` for
    sessions kept in the browser)."""
    return server_side(request.get(aiohttp_session.STORAGE_KEY))


async def reread_tokens(request: web.Request, provider: str) -> TokenSet | None:
    """The provider's tokens as stored now (another instance may have refreshed them)."""
    side = stored_side(request)
    session = await aiohttp_session.get_session(request)
    if side is None or session.identity is None:
        return None
    data = await side.read(str(session.identity))
    if data is None:  # deleted meanwhile: signed out (on another instance) while we waited
        raise ReauthenticationRequired()
    mapping = data.get("session")
    raw = mapping.get(NAMESPACE) if isinstance(mapping, dict) else None
    tokens = raw.get("t") if isinstance(raw, dict) else None
    return TokenSet.from_session(tokens.get(provider)) if isinstance(tokens, dict) else None


async def persist_now(request: web.Request) -> None:
    """Write the session to the server-side store at once, so other instances see refreshed
    tokens now; raises ``ReauthenticationRequired`` when it was deleted meanwhile (never
    brought back)."""
    side = stored_side(request)
    session = await aiohttp_session.get_session(request)
    if side is not None and session.identity is not None:
        if not await side.write_now(session):
            raise ReauthenticationRequired()


async def session_id(request: web.Request) -> str | None:
    """The server-side session id, or ``None`` for sessions kept in the browser."""
    if stored_side(request) is None:
        return None
    identity = (await aiohttp_session.get_session(request)).identity
    return None if identity is None else str(identity)
