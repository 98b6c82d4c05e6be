"""End-to-end logins against the fake provider through the real routes."""

from __future__ import annotations

from aiohttp_oauth2_login.testing import FakeProvider, login_flow

from ._app import Client


async def test_full_login_then_private_page(client: Client, fake: FakeProvider) -> None:
    resp = await login_flow(client, next="/private?x=1")
    assert resp.status == 303
    assert resp.headers["Location"] == "/private?x=1"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    page = await client.get("/private")
    assert page.status == 200
    assert await page.json() == {"id": "alice", "provider": "fake", "name": "Alice Example"}
    assert fake.calls["token"] == 1
