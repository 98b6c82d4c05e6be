"""Testing kit: the fake provider, ``login_as`` and ``login_flow`` for tests without the network.

``FakeProvider(personality="github" | "google" | "facebook")`` imitates those providers closely
enough that the real presets sign in against it; ``preset_for(fake)`` builds the preset wired to it.

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
from ..providers import Facebook, GitHub, Google, OIDCProvider, Provider
from ..providers.facebook import GRAPH_VERSION
from ..tokens import TokenSet
from ..user import User
from ._fake.provider import FAILURE_MODES, PERSONALITIES, FakeAccount, FakeProvider, live_fakes

__all__ = [
    "FAILURE_MODES",
    "PERSONALITIES",
    "FakeAccount",
    "FakeProvider",
    "fake_for",
    "find_login",
    "login_as",
    "login_flow",
    "oidc_provider_for",
    "preset_for",
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


def preset_for(fake: FakeProvider, **kwargs: Any) -> Provider:
    """The preset of *fake*'s personality (``GitHub``, ``Google``, ``Facebook``; ``OIDCProvider``
    named ``"fake"`` for plain OIDC) with its client credentials and endpoints pointed at *fake*
    (its issuer must be known: start it first). ``kwargs`` go to the preset and win."""
    base = fake.issuer.rstrip("/")
    options: dict[str, Any] = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    if fake.personality == "github":
        options["base_url"] = base  # served like GitHub Enterprise Server: REST under /api/v3
        return GitHub(**{**options, **kwargs})
    if fake.personality == "google":
        options.update(issuer=fake.issuer, api_base_url=base + "/")
        return Google(**{**options, **kwargs})
    if fake.personality == "facebook":
        version = kwargs.get("graph_version", GRAPH_VERSION)
        options.update(
            authorize_url=f"{base}/{version}/dialog/oauth", api_base_url=f"{base}/{version}/"
        )
        return Facebook(**{**options, **kwargs})
    options.update(name="fake", issuer=fake.issuer)
    return OIDCProvider(**{**options, **kwargs})


def fake_for(provider: Provider) -> FakeProvider | None:
    """The started (or mounted) fake that serves *provider*: same client id, and the provider's
    issuer or endpoints under the fake's issuer URL. The newest wins; ``None`` if there is none."""
    urls = [
        getattr(provider, attr, None)
        for attr in ("issuer", "authorize_url", "token_url", "userinfo_url", "api_base_url")
    ]
    for fake in live_fakes():
        try:
            base = fake.issuer.rstrip("/")
        except RuntimeError:  # mounted, issuer not set yet
            continue
        if fake.client_id != provider.client_id:
            continue
        if any(isinstance(u, str) and (u == base or u.startswith(base + "/")) for u in urls):
            return fake
    return None


def _account_of(fake: FakeProvider, user: User) -> str:
    """The fake's account for *user*: the one the preset would call ``user.id``, else by
    username, else a new one named after the id."""
    for sub in list(fake.accounts):
        if fake.user_id(sub) == user.id:
            return sub
    if user.username is not None and user.username in fake.accounts:
        return user.username
    return user.id


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
    fake: FakeProvider | None = None,
) -> User:
    """Log ``client`` in as ``user`` without the OAuth dance (writes a real session cookie).

    ``user`` may be a ``User`` or an account name. When a started fake serves the provider (or
    ``fake=`` names one), the user is that fake account as the preset would see it and the
    token is issued by the fake, so ``get_client`` calls work; otherwise ``user`` becomes
    ``User(id=user, name=user)`` with a random token. An explicit ``token`` is stored as given.
    The session goes through the app's own storage, so cookie and Redis both work.
    """
    login = find_login(app if app is not None else client.app)
    name = provider or (user.provider if isinstance(user, User) else next(iter(login.providers)))
    preset = login.provider(name)
    fake = fake if fake is not None else fake_for(preset)
    if fake is not None:
        sub = user if isinstance(user, str) else _account_of(fake, user)
        if isinstance(user, str):
            user = preset.user_from_profile(fake.profile(sub))
        if token is None:
            body = fake.issue_token(
                sub,
                scope=" ".join(preset.scopes),
                authorize_params=preset.extra_authorize_params(),
            )
            token = TokenSet.from_response(body)
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
