"""Two ``setup_oauth`` calls in one application tree never accept each other's sessions or login
transactions, even with the same ``secret_key`` and cookie name (G12).

The tree: ``/public`` lets anyone of the provider in; ``/admin`` only ``corp.example`` addresses
(``allowed_email_domains``, checked at login only). A session issued by ``/public`` must be
anonymous at ``/admin`` — on the fast path, on the full path, with cookie and Redis storage —
and a login transaction started at ``/public`` must not complete at ``/admin``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import ConfigurationError, CookieStorage, get_user, setup_oauth
from aiohttp_oauth2_login._sessions.middleware import attach
from aiohttp_oauth2_login._sessions.redis import key_prefix
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.testing import FakeProvider, login_flow, oidc_provider_for

from .support.app import COOKIE, KEY, Client, private, who
from .support.redis_peer import RedisPeer


async def whoami(request: web.Request) -> web.Response:
    """The fast path: the login check reads the cookie without loading the session."""
    user = await get_user(request)
    return web.json_response({"user": user.id if user else None})


async def whoami_full(request: web.Request) -> web.Response:
    """The full path: the session is loaded first, so the cheap check steps aside."""
    attach(request, request.config_dict[APP_KEY].backend)  # what get_user does first
    await aiohttp_session.get_session(request)
    user = await get_user(request)
    return web.json_response({"user": user.id if user else None})


def _part(fake: FakeProvider, **options: Any) -> web.Application:
    sub = web.Application()
    sub.router.add_get("/", whoami)
    sub.router.add_get("/full", whoami_full)
    sub.router.add_get("/private", private)
    setup_oauth(sub, providers=[oidc_provider_for(fake)], secret_key=KEY, **options)
    return sub


def _tree(fake: FakeProvider, **options: Any) -> web.Application:
    root = web.Application()
    root.add_subapp("/public", _part(fake, **options))
    root.add_subapp("/admin", _part(fake, allowed_email_domains=["corp.example"], **options))
    return root


async def _login_at_public(client: Client) -> None:
    public = client.app._subapps[0]
    assert (await login_flow(client, app=public)).status == 303
    assert await who(client, "/public/") == "alice"
    assert await who(client, "/public/full") == "alice"


async def test_a_cookie_session_of_one_setup_is_anonymous_in_the_other(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client: Client = await aiohttp_client(_tree(fake))
    await _login_at_public(client)
    # /admin would never have let alice (alice@example.com) in: its rules ran only at login
    assert await who(client, "/admin/") is None
    assert await who(client, "/admin/full") is None
    resp = await client.get("/admin/private", allow_redirects=False)
    assert resp.status == 401
    assert (await client.get("/public/private")).status == 200  # still signed in at /public


async def test_a_redis_session_of_one_setup_is_anonymous_in_the_other(
    aiohttp_client: Any, fake: FakeProvider, redis_server: RedisPeer
) -> None:
    client: Client = await aiohttp_client(_tree(fake, redis_url=redis_server.url))
    await _login_at_public(client)
    assert await who(client, "/admin/") is None
    assert await who(client, "/admin/full") is None
    assert (await client.get("/admin/private", allow_redirects=False)).status == 401
    assert (await client.get("/public/private")).status == 200
    # each setup keeps its sessions under a key namespace of its own
    with redis_server.client() as r:
        keys = {str(k) for k in r.keys("*")}
    public_prefix = key_prefix(COOKIE, "/public/auth/login")
    assert keys and all(k.startswith(public_prefix + "_") for k in keys)
    assert key_prefix(COOKIE, "/admin/auth/login") != public_prefix


async def test_signing_in_at_the_restricted_setup_is_still_refused(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """The control: /admin's own rule refuses alice, so the test above proves the binding."""
    client: Client = await aiohttp_client(_tree(fake))
    admin = client.app._subapps[1]
    assert (await login_flow(client, app=admin)).status == 403
    assert await who(client, "/admin/") is None


async def test_a_login_transaction_of_one_setup_does_not_complete_in_the_other(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client: Client = await aiohttp_client(_tree(fake))
    start = await client.get("/public/auth/login/fake", allow_redirects=False)
    assert start.status == 302
    (tx_name,) = [name for name in start.cookies if "-tx-" in name]
    tx_value = start.cookies[tx_name].value
    answer = await client.session.get(start.headers["Location"], allow_redirects=False)
    callback = URL(answer.headers["Location"])
    assert callback.path == "/public/auth/callback/fake"
    # the browser carries /public's transaction cookie to /admin's callback (same name: over
    # https both would be __Host- cookies with Path=/)
    before = fake.calls["token"]
    resp = await client.get(
        URL("/admin/auth/callback/fake").with_query(callback.query),
        headers={"Cookie": f"{tx_name}={tx_value}"},
        allow_redirects=False,
    )
    assert resp.status == 400
    assert fake.calls["token"] == before  # refused before the code was ever redeemed
    assert await who(client, "/admin/") is None


def test_one_cookie_storage_cannot_serve_two_setups() -> None:
    storage = CookieStorage(KEY)
    storage.bind("/public/auth/login")
    storage.bind("/public/auth/login")  # the same setup again (a restart) is fine
    with pytest.raises(ConfigurationError, match="two setup_oauth"):
        storage.bind("/admin/auth/login")


# ---- nested setups: the host app and a sub-app of it both call setup_oauth --------------------


@web.middleware
async def user_for_templates(request: web.Request, handler: Any) -> web.StreamResponse:
    """What many apps do: the outer app looks the user up for every page (full path)."""
    await aiohttp_session.get_session(request)
    user = await get_user(request)
    response = await handler(request)
    response.headers["X-Page-User"] = user.id if user else "-"
    return response


def _nested(fake: FakeProvider, **admin: Any) -> web.Application:
    root = web.Application()
    root.router.add_get("/", whoami)
    # user_for_templates calls aiohttp_session.get_session: the app-wide middleware it needs
    setup_oauth(root, providers=[oidc_provider_for(fake)], secret_key=KEY, session_middleware=True)
    root.middlewares.append(user_for_templates)
    root.add_subapp("/admin", _part(fake, allowed_email_domains=["corp.example"], **admin))
    return root


async def test_the_outer_setups_checked_user_is_not_the_inner_setups(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """The outer setup's per-request result is never reused by the inner one."""
    client: Client = await aiohttp_client(_nested(fake))
    assert (await login_flow(client)).status == 303  # at the root's own /auth
    assert await who(client, "/") == "alice"
    assert (await client.get("/admin/private", allow_redirects=False)).status == 401
    assert await who(client, "/admin/") is None
    assert await who(client, "/admin/full") is None


@pytest.mark.parametrize("storage", ["cookie", "redis"])
async def test_an_inner_setup_signs_in_through_the_outer_session_middleware(
    aiohttp_client: Any, fake: FakeProvider, storage: str, request: pytest.FixtureRequest
) -> None:
    """With an outer session middleware in charge, the inner setup's cheap check steps aside
    (its own storage holds nothing), so the fast and the full path agree."""
    options: dict[str, Any] = {"cookie_name": "admin_sid"}
    if storage == "redis":
        peer: RedisPeer = request.getfixturevalue("redis_server")
        options = {"redis_url": peer.url}
    client: Client = await aiohttp_client(_nested(fake, **options))
    alice = fake.accounts["alice"]
    fake.accounts["alice"] = dataclasses.replace(alice, email="alice@corp.example")
    (admin,) = [sub for sub in client.app._subapps if APP_KEY in sub]
    assert (await login_flow(client, app=admin)).status == 303
    assert (await client.get("/admin/private")).status == 200
    assert await who(client, "/admin/") == "alice"
    assert await who(client, "/admin/full") == "alice"
    assert await who(client, "/") is None  # the root's own setup: not signed in there
