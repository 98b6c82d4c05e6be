"""``carry_session_keys``: the app's chosen pre-login session data (a cart) survives the session
rotation at login; nothing else of the pre-login session does (G9, session fixation)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web

from aiohttp_oauth2_login._sessions.backend import SessionBackend
from aiohttp_oauth2_login.testing import login_flow, oidc_provider_for

from ..support.app import COOKIE, Client, build_app, who


async def fill(request: web.Request) -> web.Response:
    """The visitor's pre-login session: a cart, a planted value and a fake plugin key."""
    session = await aiohttp_session.get_session(request)
    session["cart"] = [{"sku": "A-1", "qty": 2}]
    session["tracking"] = "before-login"
    session["wishlist"] = ["B-7"]
    return web.json_response({"ok": True})


async def show(request: web.Request) -> web.Response:
    session = await aiohttp_session.get_session(request)
    keys = sorted(k for k in session if k != "oauth")
    return web.json_response({k: session[k] for k in keys})


@pytest.fixture
async def shop(aiohttp_client: Any, fake: Any) -> Any:
    async def make(**options: Any) -> Client:
        app = build_app([oidc_provider_for(fake)], **options)
        app.router.add_get("/fill", fill)
        app.router.add_get("/show", show)
        client: Client = await aiohttp_client(app)
        return client

    return make


async def test_the_cart_survives_login_and_nothing_else_does(shop: Any) -> None:
    client = await shop(carry_session_keys=("cart", "wishlist"))
    assert (await client.get("/fill")).status == 200
    before = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    assert (await login_flow(client)).status == 303
    after = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    assert after != before  # a new session (rotated), not the old one with a login added
    assert await who(client) == "alice"
    assert await (await client.get("/show")).json() == {
        "cart": [{"sku": "A-1", "qty": 2}],
        "wishlist": ["B-7"],
    }


async def test_without_carry_session_keys_nothing_survives(shop: Any) -> None:
    client = await shop(session_middleware=True)  # the app's own handlers use the session
    await client.get("/fill")
    assert (await login_flow(client)).status == 303
    assert await who(client) == "alice"
    assert await (await client.get("/show")).json() == {}


async def test_a_cart_that_does_not_fit_makes_way_for_the_login(
    shop: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The carried data counts against the cookie budget: if the new session is too large with
    it, the login goes on without it (and says so), rather than failing."""
    client = await shop(carry_session_keys=("cart",))
    await client.get("/fill")
    monkeypatch.setattr(SessionBackend, "fits", lambda self, session: "cart" not in session)
    with caplog.at_level(logging.WARNING, logger="aiohttp_oauth2_login"):
        assert (await login_flow(client)).status == 303
    assert await who(client) == "alice"
    assert await (await client.get("/show")).json() == {}
    warned = [r.getMessage() for r in caplog.records if "carry_session_keys" in r.getMessage()]
    assert len(warned) == 1 and "cart" in warned[0] and "A-1" not in warned[0]


async def test_a_failed_login_keeps_the_pre_login_session(shop: Any) -> None:
    """Nothing is rotated (or lost) when the login fails: the cart is still there."""
    client = await shop(carry_session_keys=("cart",))
    await client.get("/fill")
    resp = await client.get("/auth/callback/fake?state=" + "A" * 43, allow_redirects=False)
    assert resp.status == 400
    assert (await (await client.get("/show")).json())["cart"] == [{"sku": "A-1", "qty": 2}]
