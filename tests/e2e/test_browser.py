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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    async_playwright,
    expect,
)
from yarl import URL

from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import oidc_provider_for
from example_app import create_app

from ._harness import ARTIFACTS, Peer, Served, build_rp, require_chromium

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


@contextlib.asynccontextmanager
async def chromium_context(
    request: pytest.FixtureRequest,
    *,
    args: list[str],
    only: Callable[[Route], Awaitable[None]],
    **options: Any,
) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile whose requests ``only`` lets through; screenshots of
    its tabs under ``test-artifacts/`` if the test failed."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=args, headless=True
        )
        try:
            ctx = await browser.new_context(**options)
            ctx.set_default_timeout(TIMEOUT_MS)
            await ctx.route("**/*", only)
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


@pytest.fixture
async def context(request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile that reaches 127.0.0.1 only."""
    async with chromium_context(request, args=CHROMIUM_ARGS, only=_only_loopback) as ctx:
        yield ctx


async def hold_in_pairs(context: BrowserContext, url_prefix: str) -> list[Route]:
    """Hold the requests to ``url_prefix…`` until a second one is there too, then let both go:
    two tabs' requests are then certainly concurrent. Returns the held routes (to count)."""
    held: list[Route] = []
    both_there = asyncio.Event()

    async def hold(route: Route) -> None:
        held.append(route)
        if len(held) == 2:
            both_there.set()
        await asyncio.wait_for(both_there.wait(), TIMEOUT_MS / 1000)
        await route.continue_()

    await context.route(re.compile(re.escape(url_prefix)), hold)
    return held


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
    held = await hold_in_pairs(context, app.url("/auth/login/dev?"))
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


# ---- every page the plugin serves, in Chromium, through oidc-provider's real pages ---------------
# login (its provider list too), cancel at the provider, an error page, local logout and
# RP-initiated logout through the plugin's own confirmation page. The aiohttp-client tests cannot
# see what a browser refuses: here every CSP violation of the app's pages is collected.

PLUGIN_COOKIE = "aiohttp_oauth2"  # in the name of every cookie the plugin sets
OP_NAME = "op"
OP_TITLE = "Test OP"


@dataclass
class CspWatch:
    """CSP violations in a browser context: console errors and ``securitypolicyviolation``
    events (the latter through an init script, which the pages' CSP does not apply to)."""

    seen: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.seen.append(f"console {message.location.get('url')}: {message.text}")

    def on_event(self, source: Any, report: str) -> None:
        self.seen.append(f"event {report}")

    def of(self, served: Served) -> list[str]:
        """The violations reported by documents of ``served`` (not the provider's)."""
        return [seen for seen in self.seen if f" {served.origin}/" in seen]


@pytest.fixture
async def csp(context: BrowserContext) -> CspWatch:
    watch = CspWatch()
    context.on("console", watch.on_console)
    await context.expose_binding("__reportCspViolation", watch.on_event)
    await context.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => "
        "window.__reportCspViolation(e.documentURI + ' ' + e.effectiveDirective + ' -> ' "
        "+ e.blockedURI))"
    )
    return watch


async def signed_out(request: web.Request) -> web.Response:
    return web.Response(
        text="<!doctype html><title>Bye</title><h1>Signed out</h1>", content_type="text/html"
    )


async def start_oidc_rp(start_app: Any, op: Peer, *, rp_initiated_logout: bool) -> Served:
    """``build_rp`` (``/private`` needs a login) with oidc-provider as its one provider, and an
    HTML page ``/signed-out``."""

    async def build(origin: str) -> web.Application:
        client = op.control(
            "POST",
            "/reg",
            {
                "redirect_uris": [f"{origin}/auth/callback/{OP_NAME}"],
                "post_logout_redirect_uris": [f"{origin}/auth/logout/done"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        provider = OIDCProvider(
            name=OP_NAME,
            title=OP_TITLE,
            issuer=op.issuer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            rp_initiated_logout=rp_initiated_logout,
        )
        app = build_rp(origin, [provider], userinfo_path="/me")
        app.router.add_get("/signed-out", signed_out)
        return app

    served: Served = await start_app(build)
    return served


async def plugin_cookies(context: BrowserContext) -> list[str]:
    return [c["name"] for c in await context.cookies() if PLUGIN_COOKIE in c["name"]]


async def op_sign_in(page: Page, op: Peer, *, consent: bool = True) -> None:
    """On oidc-provider's login page: sign in as alice; then its consent page, if asked."""
    await expect(page).to_have_url(re.compile(re.escape(op.url("/interaction/"))))
    await page.locator("input[name=login]").fill("alice")
    await page.locator("input[name=password]").fill("any password")
    await page.get_by_role("button", name="Sign-in").click()
    if consent:
        await expect(page.get_by_role("heading", name="Authorize")).to_be_visible()
        await page.get_by_role("button", name="Continue").click()


async def sign_in_to_private(page: Page, app: Served, op: Peer) -> None:
    await page.goto(app.url("/private"))
    await op_sign_in(page, op)
    await expect(page).to_have_url(app.url("/private"))
    await expect(page.locator("body")).to_contain_text('"id": "alice"')


async def expect_login_form(page: Page, op: Peer) -> None:
    """The provider asks for credentials: no SSO session signs the browser in silently."""
    await expect(page).to_have_url(re.compile(re.escape(op.url("/interaction/"))))
    await expect(page.locator("input[name=login]")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign-in")).to_be_visible()


async def test_rp_initiated_logout_ends_the_provider_session(
    context: BrowserContext, csp: CspWatch, start_app: Any, oidc_provider: Peer
) -> None:
    app = await start_oidc_rp(start_app, oidc_provider, rp_initiated_logout=True)
    page = await context.new_page()
    await sign_in_to_private(page, app, oidc_provider)
    assert await plugin_cookies(context)

    await page.goto(app.url("/auth/logout?next=/signed-out"))  # the plugin's confirmation page
    await expect(page.get_by_role("heading", name="Sign out")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()

    # the POST's 303 to the end-session endpoint is let through: oidc-provider asks to confirm
    end_session = re.compile(re.escape(oidc_provider.url("/session/end")))
    try:
        await expect(page).to_have_url(end_session)
    except AssertionError as exc:
        raise AssertionError(f"not at the provider's logout page; CSP: {csp.seen}") from exc
    await expect(page.get_by_role("heading", name=re.compile("sign-out from"))).to_be_visible()
    await page.get_by_role("button", name="Yes, sign me out").click()

    await expect(page).to_have_url(app.url("/signed-out"))  # via /auth/logout/done
    await expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert await plugin_cookies(context) == []

    await page.goto(app.url("/private"))  # "Sign in" again: the provider's session is gone
    await expect_login_form(page, oidc_provider)
    assert csp.of(app) == []


async def test_local_logout_through_the_confirmation_page(
    context: BrowserContext, csp: CspWatch, start_app: Any, oidc_provider: Peer
) -> None:
    app = await start_oidc_rp(start_app, oidc_provider, rp_initiated_logout=False)
    page = await context.new_page()
    await sign_in_to_private(page, app, oidc_provider)

    await page.goto(app.url("/auth/logout?next=/signed-out"))
    await expect(page.get_by_role("heading", name="Sign out")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(app.url("/signed-out"))  # straight back, not to the provider
    await expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert await plugin_cookies(context) == []
    await page.goto(app.url("/"))
    await expect(page.locator("body")).to_contain_text('"user": null')

    # local only: the provider's session lives on, no password is asked; its consent is asked
    # again because logout revoked the grant (RFC 7009)
    await page.goto(app.url("/private"))
    await expect(page.get_by_role("heading", name="Authorize")).to_be_visible()
    await expect(page.locator("input[name=login]")).to_have_count(0)
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(app.url("/private"))
    await expect(page.locator("body")).to_contain_text('"id": "alice"')
    assert csp.of(app) == []


async def test_cancel_at_the_provider(
    context: BrowserContext, csp: CspWatch, start_app: Any, oidc_provider: Peer
) -> None:
    app = await start_oidc_rp(start_app, oidc_provider, rp_initiated_logout=False)
    page = await context.new_page()
    await page.goto(app.url("/auth/login?next=/private"))  # the plugin's list of providers
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name=f"Sign in with {OP_TITLE}").click()
    await expect(page).to_have_url(re.compile(re.escape(oidc_provider.url("/interaction/"))))

    callback = app.url(f"/auth/callback/{OP_NAME}")
    async with page.expect_response(lambda r: r.url.startswith(callback)) as answer:
        await page.get_by_role("link", name="[ Cancel ]").click()  # error=access_denied
    assert (await answer.value).status == 403
    await expect(page).to_have_url(re.compile(re.escape(callback)))
    await expect(page.get_by_role("heading", name="Sign-in cancelled")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("Sign-in was cancelled.")
    await expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert await plugin_cookies(context) == []  # the transaction cookie is consumed
    await page.goto(app.url("/"))
    await expect(page.locator("body")).to_contain_text('"user": null')
    assert csp.of(app) == []


async def test_a_replayed_callback_shows_the_error_page(
    context: BrowserContext, csp: CspWatch, start_app: Any, oidc_provider: Peer
) -> None:
    app = await start_oidc_rp(start_app, oidc_provider, rp_initiated_logout=False)
    page = await context.new_page()
    callbacks: list[str] = []
    callback = app.url(f"/auth/callback/{OP_NAME}?")
    page.on("request", lambda r: callbacks.append(r.url) if r.url.startswith(callback) else None)
    await sign_in_to_private(page, app, oidc_provider)
    assert len(callbacks) == 1

    answer = await page.goto(callbacks[0])  # the same code and state once more
    assert answer is not None and answer.status == 400
    await expect(page.get_by_role("heading", name="Sign-in failed")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("already used")
    await expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert "code=" not in await page.content()  # the page never echoes the URL
    assert csp.of(app) == []


async def test_the_testing_kits_provider_on_an_origin_of_its_own(
    context: BrowserContext, start_app: Any, fake_provider_factory: Any, csp: CspWatch
) -> None:
    """The testing kit's fake provider, served apart from the app (as a user's test suite
    runs it): its sign-in form posts to itself and the answer redirects to the app, which
    Chromium checks against the page's ``form-action`` too."""
    fake = await fake_provider_factory()  # shows its sign-in page (no auto-approve)

    async def build(origin: str) -> web.Application:
        return build_rp(origin, [oidc_provider_for(fake)], userinfo_path="/userinfo")

    app: Served = await start_app(build)
    page = await context.new_page()
    await page.goto(app.url("/private"))
    await expect(page).to_have_url(re.compile(re.escape(f"{fake.issuer}/authorize")))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(app.url("/private"))
    await expect(page.locator("body")).to_contain_text('"id": "alice"')
    assert not csp.seen, csp.seen
