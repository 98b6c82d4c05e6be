"""Failed sign-ins in Chromium: the "misconfigured" page of a wrong client secret (no "Try
again"), and "Try again" after a provider failure leading back to the page first asked for."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, expect

from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from ._harness import Served, build_rp
from .test_browser import CHROMIUM_ARGS, _only_loopback, chromium_context


@pytest.fixture
async def context(request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    async with chromium_context(request, args=CHROMIUM_ARGS, only=_only_loopback) as ctx:
        yield ctx


async def serve(start_app: Any, provider: OIDCProvider) -> Served:
    async def build(origin: str) -> web.Application:
        return build_rp(origin, [provider], userinfo_path="/userinfo")

    served: Served = await start_app(build)
    return served


async def test_a_wrong_client_secret_shows_the_misconfigured_page(
    context: BrowserContext, start_app: Any, fake_provider_factory: Any
) -> None:
    fake: FakeProvider = await fake_provider_factory(auto_approve=True)
    wrong = OIDCProvider(
        name="fake", issuer=fake.issuer, client_id=fake.client_id, client_secret="stale-secret"
    )
    app = await serve(start_app, wrong)
    page = await context.new_page()
    callback = app.url("/auth/callback/fake")
    async with page.expect_response(lambda r: r.url.startswith(callback)) as answer:
        await page.goto(app.url("/private"))
    assert (await answer.value).status == 502
    heading = page.get_by_role("heading", name="This site's sign-in is misconfigured")
    await expect(heading).to_be_visible()
    await expect(page.locator("main")).to_contain_text("trying again will not help")
    await expect(page.get_by_role("link", name="Try again")).to_have_count(0)
    assert "stale-secret" not in await page.content()
    assert fake.calls["token"] == 1


async def test_try_again_returns_to_the_page_first_asked_for(
    context: BrowserContext, start_app: Any, fake_provider_factory: Any
) -> None:
    fake: FakeProvider = await fake_provider_factory(auto_approve=True)
    app = await serve(start_app, oidc_provider_for(fake))
    fake.fail("token_500")
    page = await context.new_page()
    callback = app.url("/auth/callback/fake")
    async with page.expect_response(lambda r: r.url.startswith(callback)) as answer:
        await page.goto(app.url("/private?page=2"))
    assert (await answer.value).status == 502
    await expect(page.get_by_role("heading", name="Sign-in provider error")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("Please try again in a moment.")
    again = page.get_by_role("link", name="Try again")
    await expect(again).to_have_attribute("href", re.compile(r"^/auth/login/fake\?next=/private"))
    fake.reset()  # the provider is back
    await again.click()
    await expect(page).to_have_url(app.url("/private?page=2"))
    await expect(page.locator("body")).to_contain_text('"id": "alice"')
    assert fake.calls["token"] == 1  # the second login's exchange (reset cleared the first)
