"""The plugin's session layout and the one rule that says whether a login is alive.

The plugin's data lives under one key (``NAMESPACE``) of the aiohttp-session ``Session``, so an
app's own session data (cookie or Redis) can live beside it::

    {"u": user, "t": {provider: tokens}, "li": login time, "la": last activity,
     "b": the setup it belongs to (its login path, ``config.scope``),
     "lo": a pending RP-initiated logout, "e": when a login here timed out (only key left)}

Only a complete, validated identity of this setup counts as logged in; anything malformed,
timed out, of a removed provider or of another ``setup_oauth`` is anonymous (G9, G12). Both
the full session load (``access``) and the cheap check (``peek``) ask ``is_live``, so the two
can never disagree about a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from .._clock import now
from ..config import OAuthConfig
from ..tokens import TokenSet
from ..user import User

__all__ = [
    "ENDED",
    "LOGOUT",
    "NAMESPACE",
    "TOUCH_EVERY",
    "AUTH_KEY",
    "AuthState",
    "Login",
    "clock_now",
    "is_live",
    "login_fields",
    "login_payload",
    "parse_auth",
    "token_sets",
]

NAMESPACE: Final = "oauth"
LOGOUT: Final = "lo"  # a pending RP-initiated logout: {"s": state, "x": next}
#: what a timed-out login leaves: the session is no longer one that never signed in (G9: its
#: app data is not carried into the next login)
ENDED: Final = "e"
TOUCH_EVERY: Final = 60  # seconds between last-activity updates (each update is a Set-Cookie)
_FUTURE_SLACK = 60  # seconds a login time may lie ahead of this clock (other instances)

#: (user, login time, last activity): what the liveness rule needs
Login = tuple[User, int, int]


@dataclass(slots=True)
class AuthState:
    """What the session says about the visitor for one setup (``scope``), read once per
    request: with nested setups, a state cached by the outer one is never the inner one's."""

    user: User | None = None
    tokens: dict[str, TokenSet] = field(default_factory=dict)
    login_at: int | None = None
    scope: str = ""


#: The visitor's parsed session state, cached on the request: a ``web.RequestKey`` where aiohttp
#: has them (from 3.14 plain string request keys warn), a string before.
AUTH_KEY: Final[Any] = (
    web.RequestKey[AuthState]("aiohttp_oauth2_login.auth")
    if hasattr(web, "RequestKey")
    else "aiohttp_oauth2_login.auth"
)


def clock_now() -> int:
    """Seconds since the epoch: the one clock every session timeout is measured with."""
    return int(now())


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
    now = clock_now()
    return {
        "u": user.to_session(),
        "t": {provider: token.to_session(keep_id_token=keep_id_token)},
        "li": now,
        "la": now,
        "b": scope,
    }


def login_fields(raw: dict[str, object], scope: str) -> Login | None:
    """The login of setup ``scope`` in the plugin's data ``raw``, or ``None`` (none, another
    setup's, or malformed)."""
    if raw.get("b") != scope:
        return None
    user = User.from_session(raw.get("u"))
    login_at, last = raw.get("li"), raw.get("la")
    if user is None or not isinstance(login_at, int) or not isinstance(last, int):
        return None
    return user, login_at, last


def is_live(login: Login, config: OAuthConfig, now: int) -> bool:
    """The liveness rule: a configured provider, within the absolute and the idle lifetime,
    and not from the future."""
    user, login_at, last = login
    return (
        user.provider in config.provider_names
        and now < login_at + config.session_lifetime
        and now < last + config.idle_timeout
        and login_at <= now + _FUTURE_SLACK
    )


def token_sets(stored: object) -> dict[str, TokenSet]:
    """The well-formed token sets of a login's ``"t"`` field, by provider; malformed ones are
    skipped (a session written by another version never breaks a request)."""
    tokens: dict[str, TokenSet] = {}
    if isinstance(stored, dict):
        for name, value in stored.items():
            token = TokenSet.from_session(value)
            if token is not None and isinstance(name, str):
                tokens[name] = token
    return tokens


def parse_auth(raw: dict[str, object], config: OAuthConfig, now: int) -> AuthState | None:
    """The logged-in state in ``raw``, or ``None`` when absent, malformed or not alive."""
    login = login_fields(raw, config.scope.path)
    if login is None or not is_live(login, config, now):
        return None
    tokens = token_sets(raw.get("t"))
    user, login_at, _ = login
    return AuthState(user=user, tokens=tokens, login_at=login_at, scope=config.scope.path)
