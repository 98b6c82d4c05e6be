"""The cheap login check behind ``@login_required`` and ``get_user`` (cookie storage only).

Most requests of a signed-in user carry a cookie the server has seen before: its value is
authenticated ciphertext, so the same value always decrypts to the same payload. This module
reads only the plugin's cookie from the raw ``Cookie`` header and keeps a bounded map from cookie
value to the few fields the check needs (user, login time, last activity), so a repeated cookie
costs a dictionary lookup instead of base64 + AES-GCM + JSON. Timeouts are still evaluated on
every request. Anything unusual (a cookie that does not open here, a login due for its activity
update, a session already loaded in this request) returns ``SLOW`` and the regular
aiohttp-session path decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import aiohttp_session
from aiohttp import web

from ..config import OAuthConfig
from ..tokens import TokenSet
from ..user import User
from .cookie_storage import CACHE_SIZE, CookieStorage
from .schema import (
    AUTH_KEY,
    NAMESPACE,
    TOUCH_EVERY,
    Login,
    clock_now,
    is_live,
    login_fields,
    token_sets,
)

__all__ = [
    "PEEKED",
    "SLOW",
    "Entry",
    "Hit",
    "PeekResult",
    "Slow",
    "check_entry",
    "in_charge",
    "entry_from_payload",
    "peek_user",
]


class Slow:
    """Type of ``SLOW``: "ask the regular session path"."""


SLOW: Final = Slow()
Entry = Login | None
PeekResult = User | None | Slow
_TAIL = 24  # base64 characters at the end of a cookie value: the 16-byte tag and then some
Tokens = Mapping[str, TokenSet]  # read-only (MappingProxyType): shared by requests
#: a cache entry: (cookie value, its login fields, its tokens), shared by every request with it
Hit = tuple[str, Entry, Tokens]
#: the cache entry the cheap check used for this request, so ``get_client`` takes the user and
#: the tokens from it instead of loading the session again (liveness is checked again there)
PEEKED: Final[Any] = (
    web.RequestKey[Hit]("aiohttp_oauth2_login.peeked")
    if hasattr(web, "RequestKey")
    else "aiohttp_oauth2_login.peeked"
)


def in_charge(request: web.Request, storage: object) -> bool:
    """Whether ``storage`` serves this request's session: it is attached, or nothing is yet
    (``attach`` would put it there), not an outer setup's session middleware."""
    return _serves(request._state, storage)


_STORAGE, _SESSION = aiohttp_session.STORAGE_KEY, aiohttp_session.SESSION_KEY


def _serves(state: dict[Any, Any], storage: object) -> bool:
    current = state.get(_STORAGE)
    return current is None or current is storage


def _open(storage: CookieStorage, value: str, scope: str) -> Hit | Slow:
    opened = storage.decrypt(value)
    if opened is None or opened[1] != 0:  # unreadable, or due for re-encryption: slow path
        return SLOW
    entry = entry_from_payload(opened[0], scope)
    if isinstance(entry, Slow):
        return SLOW
    return value, entry, _NO_TOKENS if entry is None else tokens_of(opened[0])


_NO_TOKENS: Final[Tokens] = MappingProxyType({})


def tokens_of(data: dict[str, Any]) -> Tokens:
    """The well-formed token sets of a login's payload, read-only (cached and shared)."""
    # entry_from_payload checked the path
    return MappingProxyType(token_sets(data["session"][NAMESPACE].get("t")))


def entry_from_payload(data: object, scope: str) -> Entry | Slow:
    """The login fields of an aiohttp-session payload ``{"created": ..., "session": {...}}``;
    ``None`` when it holds no login of the setup ``scope``, ``SLOW`` when it holds a malformed
    one (the full path clears it)."""
    mapping = data.get("session") if isinstance(data, dict) else None
    raw = mapping.get(NAMESPACE) if isinstance(mapping, dict) else None
    if not isinstance(raw, dict) or "u" not in raw or raw.get("b") != scope:
        return None
    login = login_fields(raw, scope)
    return SLOW if login is None else login


def peek_user(request: web.Request, config: OAuthConfig, storage: object) -> PeekResult:
    """The signed-in user, ``None`` when signed out, or ``SLOW``."""
    if not isinstance(storage, CookieStorage):
        return SLOW
    # the request's own dict: ``key in request`` raises and catches KeyError when it is missing
    state = request._state
    current = state.get(_STORAGE)
    if _SESSION in state or AUTH_KEY in state or (current is not None and current is not storage):
        return SLOW  # loaded or checked already, or another session middleware is in charge
    value = storage.load_cookie(request)  # the full path's strict reader, too
    if value is None:
        return None
    # keyed by the value's tail (it holds the AES-GCM tag: unique per ciphertext), so a 3 KB
    # value is not hashed on every request; the full value is then compared (memcmp)
    cache, tail = storage.peek_cache, value[-_TAIL:]
    hit = cache.get(tail)
    if hit is not None and hit[0] == value:
        cache.move_to_end(tail)
    else:
        opened = _open(storage, value, config.scope.path)
        if isinstance(opened, Slow):
            return SLOW
        hit = cache[tail] = opened
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    state[PEEKED] = hit
    return check_entry(hit[1], config)


def check_entry(entry: Entry, config: OAuthConfig) -> PeekResult:
    """Liveness (``schema.is_live``), evaluated on every request (never cached)."""
    if entry is None:
        return None
    now = clock_now()
    if not is_live(entry, config, now) or now - entry[2] >= TOUCH_EVERY:
        return SLOW  # expired (clear it) or due for an activity update: the slow path writes
    return entry[0]
