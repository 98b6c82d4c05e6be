"""The whole flow in a real browser: Playwright driving Debian's headless Chromium.

The example app is served on a free port (in this process); the browser clicks through its pages,
the development provider's sign-in page and oidc-provider's login and consent pages. Requests to
anything but 127.0.0.1 are aborted (the provider pages ask for web fonts), so the browser never
leaves this machine. When a test fails, a screenshot of every open tab is saved under
``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, Route, async_playwright, expect
from yarl import URL

from example_app import create_app

from ._harness import ARTIFACTS, Peer, Served, require_chromium

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
TIMEOUT_MS = 15_000


async def _only_loopback(route: Route) -> None:
    if URL(route.request.url).host == "127.0.0.1":
        await route.continue_()
    else:
        await route.abort()


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture
async def context(request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile; screenshots of its tabs if the test failed."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            ctx = await browser.new_context()
            ctx.set_default_timeout(TIMEOUT_MS)
            await ctx.route("**/*", _only_loopback)
            yield ctx
            if _failed(request):
                ARTIFACTS.mkdir(exist_ok=True)
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
                for number, page in enumerate(ctx.pages):
                    # best effort: a crashed tab must not hide the test's own failure
                    with contextlib.suppress(Exception):
                        await page.screenshot(
                            path=ARTIFACTS / f"{name}-tab{number}.png", full_page=True
                        )
        finally:
            await browser.close()


async def serve_example_app(start_app: Any, environ: dict[str, str] | None = None) -> Served:
    async def build(origin: str) -> web.Application:
        return create_app(public_url=origin, environ=environ or {})

    served: Served = await start_app(build)
    return served


async def dev_sign_in(page: Page, app: Served, *, account: str = "Alice Example") -> None:
    """On the development provider's sign-in page: choose the account, press "Sign in"."""
    await expect(page).to_have_url(re.compile(re.escape(app.url("/dev-provider/authorize"))))
    await expect(page.get_by_role("heading", name="Development sign-in")).to_be_visible()
    await page.get_by_label(account).check()
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_and_out_with_the_development_provider(
    context: BrowserContext, start_app: Any
) -> None:
    app = await serve_example_app(start_app)
    page = await context.new_page()
    await page.goto(app.url("/"))
    await page.get_by_role("link", name="Sign in with Development sign-in").click()
    await dev_sign_in(page, app)

    await expect(page).to_have_url(app.url("/profile"))
    await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("Alice Example")
    await expect(page.locator("main")).to_contain_text("alice@example.com")
    await expect(page.locator("main")).to_contain_text("sub: alice")  # get_client's userinfo

    await page.locator("main").get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(app.url("/"))
    await expect(page.get_by_role("link", name="Sign in with Development sign-in")).to_be_visible()

    await page.goto(app.url("/profile"))  # protected again: straight to the sign-in page
    await expect(page).to_have_url(re.compile(re.escape(app.url("/dev-provider/authorize"))))
    await expect(page.get_by_role("heading", name="Development sign-in")).to_be_visible()


async def test_two_tabs_sign_in_at_once(context: BrowserContext, start_app: Any) -> None:
    """Two tabs of one browser start a login at the same moment; both complete, in the
    opposite order.

    "At the same moment" is made certain: both requests to ``/auth/login/dev`` are held until
    the other one is there too, so neither carries the cookie the other one sets (a browser
    restoring two protected tabs does the same).
    """
    app = await serve_example_app(start_app)
    held: list[Route] = []
    both_there = asyncio.Event()

    async def hold_login_start(route: Route) -> None:
        held.append(route)
        if len(held) == 2:
            both_there.set()
        await asyncio.wait_for(both_there.wait(), TIMEOUT_MS / 1000)
        await route.continue_()

    await context.route(re.compile(re.escape(app.url("/auth/login/dev?"))), hold_login_start)
    first, second = await context.new_page(), await context.new_page()
    for page in (first, second):
        await page.goto(app.url("/"))
    link = "Sign in with Development sign-in"
    await asyncio.gather(
        first.get_by_role("link", name=link).click(),
        second.get_by_role("link", name=link).click(),
    )
    for page in (first, second):
        await expect(page.get_by_role("heading", name="Development sign-in")).to_be_visible()
    assert len(held) == 2

    await dev_sign_in(second, app, account="Bob Example")
    await expect(second).to_have_url(app.url("/profile"))
    await expect(second.locator("main")).to_contain_text("Bob Example")
    await dev_sign_in(first, app)
    await expect(first).to_have_url(app.url("/profile"))
    await expect(first.locator("main")).to_contain_text("Alice Example")

    await second.reload()  # one browser, one session: the last sign-in wins in every tab
    await expect(second.locator("main")).to_contain_text("Alice Example")


async def test_sign_in_through_oidc_provider_pages(
    context: BrowserContext, start_app: Any, oidc_provider: Peer
) -> None:
    registered: dict[str, str] = {}

    async def build(origin: str) -> web.Application:
        client = oidc_provider.control(
            "POST",
            "/reg",
            {
                "redirect_uris": [f"{origin}/auth/callback/oidc"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        registered.update(client)
        environ = {
            "OIDC_ISSUER": oidc_provider.issuer,
            "OIDC_CLIENT_ID": client["client_id"],
            "OIDC_CLIENT_SECRET": client["client_secret"],
        }
        return create_app(public_url=origin, environ=environ)

    app: Served = await start_app(build)
    page = await context.new_page()
    await page.goto(app.url("/"))
    await page.get_by_role("link", name="Sign in with OpenID Connect").click()

    await expect(page).to_have_url(re.compile(re.escape(oidc_provider.url("/interaction/"))))
    await page.locator("input[name=login]").fill("alice")
    await page.locator("input[name=password]").fill("any password")
    await page.get_by_role("button", name="Sign-in").click()
    await expect(page.get_by_role("heading", name="Authorize")).to_be_visible()
    await page.get_by_role("button", name="Continue").click()

    await expect(page).to_have_url(app.url("/profile"))
    await expect(page.locator("main")).to_contain_text("Alice Example")
    await expect(page.locator("main")).to_contain_text("alice@example.com")
    api_card = await page.locator("section", has_text="From the provider's API").inner_text()

    await page.locator("main").get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(app.url("/"))
    await page.goto(app.url("/profile"))  # protected again: back to the provider
    await expect(page).to_have_url(re.compile(re.escape(oidc_provider.url("/interaction/"))))

    # the profile page's get_client demo reached the provider's userinfo endpoint (discovery
    # says it is /me here), as it does with the development provider
    assert "sub: alice" in api_card, api_card
