"""In Chromium: without an app-wide session middleware, a plain handler's session change (here
``logout()`` followed by a redirect) reaches the browser through ``on_response_prepare``, which
adds the ``Set-Cookie`` headers itself."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from playwright.async_api import BrowserContext, expect

from aiohttp_oauth2_login import get_user, logout
from example_app import create_app

from ._harness import Served
from .test_browser import context, dev_sign_in  # noqa: F401 - the Chromium fixture

__all__ = ["context"]


async def plain_sign_out(request: web.Request) -> web.Response:
    """A plain (undecorated) handler: signs out locally, then redirects home."""
    if await get_user(request) is not None:
        await logout(request)
    raise web.HTTPSeeOther("/")


async def test_a_plain_handlers_logout_reaches_the_browser(
    context: BrowserContext,  # noqa: F811 - the fixture imported above
    start_app: Any,
) -> None:
    async def build(origin: str) -> web.Application:
        app = create_app(public_url=origin, environ={})
        app.router.add_get("/plain-sign-out", plain_sign_out)
        return app

    app: Served = await start_app(build)
    page = await context.new_page()
    await page.goto(app.url("/profile"))
    await dev_sign_in(page, app)
    await expect(page).to_have_url(app.url("/profile"))
    await expect(page.locator("main")).to_contain_text("Alice Example")

    await page.goto(app.url("/plain-sign-out"))
    await expect(page).to_have_url(app.url("/"))
    await expect(page.get_by_role("link", name="Sign in with Development sign-in")).to_be_visible()
    await page.goto(app.url("/profile"))  # the cleared session cookie was stored by the browser
    await expect(page).to_have_url(re.compile(re.escape(app.url("/dev-provider/authorize"))))
