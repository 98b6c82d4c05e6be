"""Testing kit: the fake provider, ``login_as`` and ``login_flow`` for tests without the network.

The pytest fixtures live in ``aiohttp_oauth2_login.pytest_plugin`` (registered through the
``pytest11`` entry point); this module imports nothing from pytest, so the example app can use
the fake provider too.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from yarl import URL

from .._clock import now
from .._plugin import OAuthLogin
from .._sessions.schema import NAMESPACE, login_payload
from ..keys import APP_KEY
from ..providers import OIDCProvider
from ..tokens import TokenSet
from ..user import User
from ._fake.provider import FAILURE_MODES, FakeAccount, FakeProvider

__all__ = [
    "FAILURE_MODES",
    "FakeAccount",
    "FakeProvider",
    "find_login",
    "login_as",
    "login_flow",
    "oidc_provider_for",
]


def oidc_provider_for(fake: FakeProvider, *, name: str = "fake", **kwargs: Any) -> OIDCProvider:
    """An ``OIDCProvider`` configured for ``fake`` (its issuer must be known: start it first)."""
    return OIDCProvider(
        name=name,
        issuer=fake.issuer,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        **kwargs,
    )


def find_login(app: web.Application) -> OAuthLogin:
    """The ``OAuthLogin`` of ``app`` or of the first of its sub-apps that has one."""
    pending = [app]
    while pending:
        current = pending.pop(0)
        if APP_KEY in current:
            return current[APP_KEY]
        for resource in current.router.resources():
            sub = getattr(resource, "_app", None)
            if isinstance(sub, web.Application):
                pending.append(sub)
    raise LookupError("no application here was set up with setup_oauth()")


async def login_as(
    client: TestClient[Any, Any],
    user: User | str,
    *,
    provider: str | None = None,
    token: TokenSet | None = None,
    app: web.Application | None = None,
) -> User:
    """Log ``client`` in as ``user`` without the OAuth dance (writes a real session cookie).

    ``user`` may be a ``User`` or just an id; ``token`` defaults to a random access token valid
    for an hour. The session goes through the app's own storage, so cookie and Redis both work.
    """
    login = find_login(app if app is not None else client.app)
    name = provider or (user.provider if isinstance(user, User) else next(iter(login.providers)))
    login.provider(name)
    if isinstance(user, str):
        user = User(provider=name, id=user, name=user)
    token = token or TokenSet(
        access_token="test-" + secrets.token_urlsafe(16), expires_at=int(now()) + 3600
    )
    storage = login.storage
    session = await storage.new_session()
    session[NAMESPACE] = login_payload(
        user=user, provider=name, token=token, scope=login.config.scope.path
    )
    response = web.Response()
    await storage.save_session(make_mocked_request("GET", "/"), response, session)
    base = client.make_url("/")
    for cookie_name, morsel in response.cookies.items():
        client.session.cookie_jar.update_cookies({cookie_name: morsel.value}, response_url=base)
    return user


async def login_flow(
    client: TestClient[Any, Any],
    provider: str = "fake",
    *,
    next: str | None = None,
    account: str | None = None,
    app: web.Application | None = None,
) -> aiohttp.ClientResponse:
    """Run the real login through the fake provider like a browser would; returns the callback
    response (303 on success). With ``account``, the sign-in form is submitted for that account;
    without it the provider must auto-approve.
    """
    login = find_login(app if app is not None else client.app)
    start = URL(login.login_url(provider, next=next))
    resp = await client.get(start, allow_redirects=False)
    location = resp.headers.get("Location")
    if resp.status != 302 or location is None:
        return resp
    http = client.session
    if account is None:
        answer = await http.get(location, allow_redirects=False)
    else:
        page = await http.get(location, allow_redirects=False)
        interaction = _hidden_field(await page.text(), "interaction")
        form = {"interaction": interaction, "account": account, "action": "approve"}
        answer = await http.post(URL(location).with_query(None), data=form, allow_redirects=False)
    callback = answer.headers.get("Location")
    if answer.status != 302 or callback is None:
        return answer
    return await client.get(URL(callback).path_qs, allow_redirects=False)


def _hidden_field(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]
