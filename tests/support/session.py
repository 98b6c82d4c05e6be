"""The plugin's session cookie as a test client holds it: read, decrypted, written, expired."""

from __future__ import annotations

import time
from typing import Any

from aiohttp_oauth2_login import CookieStorage
from aiohttp_oauth2_login.testing import find_login

from .app import COOKIE, Client


def cookie_storage(client: Client) -> CookieStorage:
    storage = find_login(client.app).storage
    assert isinstance(storage, CookieStorage)
    return storage


def session_cookie(client: Client, name: str = COOKIE, *, http: Any = None) -> str | None:
    """The value of the cookie ``name`` the browser (``http``, else the client) holds now."""
    http = http or client.session
    morsel = http.cookie_jar.filter_cookies(client.make_url("/")).get(name)
    return None if morsel is None else morsel.value


def set_session_cookie(client: Client, value: str, name: str = COOKIE) -> None:
    client.session.cookie_jar.update_cookies({name: value}, response_url=client.make_url("/"))


def oauth_session(client: Client, value: str | None = None, *, http: Any = None) -> dict[str, Any]:
    """The plugin's part of the (decrypted) session: of the cookie ``value``, else of the one the
    browser holds now (``{}`` when it holds none)."""
    if value is None:
        value = session_cookie(client, http=http)
    if not value:
        return {}
    opened = cookie_storage(client).decrypt(value)
    assert opened is not None, "the browser holds a cookie the app cannot read"
    data = opened[0].get("session", {}).get("oauth", {})
    assert isinstance(data, dict)
    return data


def with_expired_token(client: Client, provider: str = "fake") -> str:
    """A cookie value like the current one whose access token expired a moment ago."""
    storage = cookie_storage(client)
    opened = storage.decrypt(session_cookie(client) or "")
    assert opened is not None
    data = opened[0]
    data["session"]["oauth"]["t"][provider]["x"] = int(time.time()) - 5
    return storage.encrypt(data)


def expire_in_session(client: Client) -> None:
    """Make the session's access token expired, so the next API call refreshes first."""
    set_session_cookie(client, with_expired_token(client))
