"""The fake provider's sign-in page (the example app's dev provider) wraps long account names,
emails and client ids instead of overflowing a phone-sized viewport (issue 12 §2), in Chromium."""

from __future__ import annotations

import secrets

import pytest
from yarl import URL

from aiohttp_oauth2_login.testing import FakeAccount, FakeProvider

from ..e2e.test_browser import CHROMIUM_ARGS, _only_loopback, chromium_context
from ..support.jwt import s256

LONG_NAME = "Maximiliana" * 8  # no space to break at
LONG_EMAIL = "a.very.long.local.part.without.any.break" * 2 + "@subdomain.example.com"


@pytest.mark.parametrize("personality", ["oidc", "github"])
async def test_long_accounts_wrap_at_360_px(
    request: pytest.FixtureRequest, personality: str
) -> None:
    account = FakeAccount(sub="long-" + "x" * 60, name=LONG_NAME, email=LONG_EMAIL)
    fake = FakeProvider(
        personality=personality,
        client_id="client-" + "c" * 100,
        accounts=[account, FakeAccount(sub="bob", name="Bob")],
    )
    issuer = await fake.start()
    try:
        path = "/authorize" if personality == "oidc" else "/login/oauth/authorize"
        verifier = secrets.token_urlsafe(48)
        url = URL(issuer + path).with_query(
            client_id=fake.client_id,
            response_type="code",
            redirect_uri="http://127.0.0.1:9/auth/callback/" + "p" * 120,
            scope="openid " + " ".join(f"scope{n}" for n in range(30)),
            state="st",
            code_challenge=s256(verifier),
            code_challenge_method="S256",
        )
        viewport = {"width": 360, "height": 640}
        async with chromium_context(
            request, args=CHROMIUM_ARGS, only=_only_loopback, viewport=viewport
        ) as context:
            page = await context.new_page()
            response = await page.goto(str(url))
            assert response is not None and response.status == 200
            assert await page.get_by_text(LONG_EMAIL).is_visible()
            inner = await page.evaluate("window.innerWidth")
            assert inner == 360
            assert await page.evaluate("document.documentElement.scrollWidth") <= inner
            for text in (LONG_NAME, LONG_EMAIL, fake.client_id):
                box = await page.get_by_text(text, exact=True).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner
    finally:
        await fake.stop()
