"""The plugin's pages in headless Chromium: the chooser, an error page and the sign-out
confirmation in three languages (the browser's locale), drawn by the built-in HTML and by the
app's ``render=`` hook, on a 360 px wide phone screen.

Each page is checked for what only a browser can tell: no CSP violation (console errors and
``securitypolicyviolation`` events), every provider icon rendered (a non-empty box), nothing
wider than the screen, and the language Chromium asked for. Screenshots of failing tests go to
``test-artifacts/`` (``chromium_context``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, expect

from aiohttp_oauth2_login import PageContext
from aiohttp_oauth2_login.providers import Facebook, GitHub, Google
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from ._harness import Served, build_rp
from .test_browser import CHROMIUM_ARGS, CspWatch, _only_loopback, chromium_context

PHONE = {"width": 360, "height": 740}
LONG_TITLE = "Acme Corporation Worldwide Single-Sign-On Identity Service"
SITE = "The Very Long Name Of An Example Web Shop For Testing Wrapping"

#: per locale: the texts the built-in pages must show
WORDS: dict[str, dict[str, str]] = {
    "en-US": {
        "lang": "en",
        "sign_in": "Sign in",
        "github": "Sign in with GitHub",
        "failed": "Sign-in failed",
        "retry": "Try again",
        "sign_out": "Sign out",
        "stay": "Stay signed in",
        "with": f"Signed in with {LONG_TITLE}",
    },
    "de-DE": {
        "lang": "de",
        "sign_in": "Anmelden",
        "github": "Mit GitHub anmelden",
        "failed": "Anmeldung fehlgeschlagen",
        "retry": "Erneut versuchen",
        "sign_out": "Abmelden",
        "stay": "Angemeldet bleiben",
        "with": f"Angemeldet über {LONG_TITLE}",
    },
    "zh-CN": {
        "lang": "zh-Hans",
        "sign_in": "登录",
        "github": "使用 GitHub 登录",
        "failed": "登录失败",
        "retry": "重试",
        "sign_out": "退出登录",
        "stay": "保持登录",
        "with": f"已通过 {LONG_TITLE} 登录",
    },
}


async def watch_csp(ctx: BrowserContext) -> CspWatch:
    """Collect the CSP violations of every page of ``ctx``."""
    watch = CspWatch()
    ctx.on("console", watch.on_console)
    await ctx.expose_binding("__reportCspViolation", watch.on_event)
    await ctx.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => "
        "window.__reportCspViolation(e.documentURI + ' ' + e.effectiveDirective + ' -> ' "
        "+ e.blockedURI))"
    )
    return watch


@pytest.fixture(params=sorted(WORDS))
def locale(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def phone(request: pytest.FixtureRequest, locale: str) -> AsyncIterator[BrowserContext]:
    """A fresh Chromium profile with a phone-sized screen, speaking ``locale``."""
    async with chromium_context(
        request, args=CHROMIUM_ARGS, only=_only_loopback, locale=locale, viewport=PHONE
    ) as ctx:
        yield ctx


async def serve_shop(start_app: Any, fake: FakeProvider, **options: Any) -> Served:
    """``build_rp`` with the three branded presets (never contacted here) and the fake
    provider under a long title, so that wrapping is tested too."""

    async def build(origin: str) -> web.Application:
        providers = [
            GitHub(client_id="gh", client_secret="s"),
            Google(client_id="g", client_secret="s"),
            Facebook(client_id="f", client_secret="s"),
            oidc_provider_for(fake, title=LONG_TITLE),
        ]
        return build_rp(origin, providers, userinfo_path="/userinfo", site_name=SITE, **options)

    served: Served = await start_app(build)
    return served


async def assert_fits_the_screen(page: Page) -> None:
    """Nothing is wider than the viewport: no horizontal scrolling on a phone."""
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"horizontal overflow: {widths}"


async def assert_icons_render(page: Page, count: int) -> None:
    icons = page.locator("a.btn svg")
    await expect(icons).to_have_count(count)
    for index in range(count):
        box = await icons.nth(index).bounding_box()
        assert box is not None and box["width"] >= 16 and box["height"] >= 16, (index, box)


async def test_built_in_pages_in_the_browsers_language(
    phone: BrowserContext, locale: str, start_app: Any, fake_provider: FakeProvider
) -> None:
    words = WORDS[locale]
    csp = await watch_csp(phone)
    app = await serve_shop(start_app, fake_provider)
    page = await phone.new_page()

    # the chooser: four branded buttons, the site's name, the browser's language
    await page.goto(app.url("/auth/login?next=/private"))
    await expect(page.locator("html")).to_have_attribute("lang", words["lang"])
    await expect(page.get_by_role("heading", name=words["sign_in"], exact=True)).to_be_visible()
    await expect(page.locator("header")).to_have_text(SITE)
    await expect(page.get_by_role("link", name=words["github"])).to_be_visible()
    await assert_icons_render(page, 4)
    await assert_fits_the_screen(page)

    # an error page: a callback without its login (translated title, hint, "Try again")
    answer = await page.goto(app.url("/auth/callback/fake?state=" + "A" * 43))
    assert answer is not None and answer.status == 400
    await expect(page.get_by_role("heading", name=words["failed"])).to_be_visible()
    await expect(page.get_by_role("link", name=words["retry"])).to_be_visible()
    await assert_fits_the_screen(page)

    # sign in (the fake approves alice), then the sign-out confirmation shows who it is
    await page.goto(app.url("/auth/login/fake?next=/private"))
    await expect(page).to_have_url(app.url("/private"))
    await page.goto(app.url("/auth/logout?next=/private"))
    await expect(page.get_by_role("heading", name=words["sign_out"])).to_be_visible()
    who = page.locator(".who")
    await expect(who).to_contain_text("alice")
    await expect(who).to_contain_text(words["with"])
    await assert_fits_the_screen(page)

    await page.get_by_role("link", name=words["stay"]).click()  # back, still signed in
    await expect(page).to_have_url(app.url("/private"))
    await expect(page.locator("body")).to_contain_text('"id": "alice"')

    await page.goto(app.url("/auth/logout?next=/"))
    await page.get_by_role("button", name=words["sign_out"]).click()
    await expect(page).to_have_url(app.url("/"))
    await expect(page.locator("body")).to_contain_text('"user": null')
    assert csp.of(app) == []


async def own_look(request: web.Request, ctx: PageContext) -> str | None:
    """The app's look for the chooser (its own markup around the plugin's icons and links);
    an inline script it adds must stay blocked by the plugin's CSP."""
    if ctx.kind != "chooser":
        return None
    buttons = "".join(
        f'<a class="btn" href="{b.login_url}" style="background:{b.color};color:{b.text_color}">'
        f"{b.icon_svg}<span>{b.label}</span></a>"
        for b in ctx.providers
    )
    return (
        f'<!doctype html><html lang="{ctx.html_lang}"><head><title>{ctx.title}</title>'
        "<style>.btn{display:flex;gap:8px;padding:8px;margin:4px 0}"
        "svg{width:24px;flex:none}</style>"
        "</head><body><h1 id='own'>"
        f"{ctx.title} ({ctx.gettext('Sign out')})</h1>{buttons}"
        "<script>document.title = 'script ran'</script></body></html>"
    )


@pytest.mark.parametrize("locale", ["de-DE"], indirect=True)
async def test_the_render_hooks_page_keeps_the_plugins_csp(
    phone: BrowserContext, start_app: Any, fake_provider: FakeProvider
) -> None:
    csp = await watch_csp(phone)
    app = await serve_shop(start_app, fake_provider, render=own_look)
    page = await phone.new_page()
    answer = await page.goto(app.url("/auth/login"))
    assert answer is not None
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    await expect(page.locator("#own")).to_have_text("Anmelden (Abmelden)")
    await assert_icons_render(page, 4)
    await expect(page.get_by_role("link", name="Mit GitHub anmelden")).to_be_visible()
    assert await page.title() == "Anmelden"  # the inline script did not run
    assert any("script-src" in seen or "default-src" in seen for seen in csp.of(app)), csp.seen

    # the other pages fall back to the built-in ones (the hook returned None)
    await page.goto(app.url("/auth/logout"))
    await expect(page.get_by_role("heading", name="Abmelden")).to_be_visible()
