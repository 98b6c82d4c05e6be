"""End-to-end logins against the fake provider through the real routes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aiohttp_oauth2_login import User
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import FakeProvider, login_flow

from ..support.app import Client, MakeClient


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


class _Broken(OIDCProvider):
    """A provider whose profile handling fails in a way nothing anticipated."""

    async def complete_login(self, *args: Any, **kwargs: Any) -> User:
        raise RuntimeError("upstream said: SECRET-VALUE-123")


async def test_an_unanticipated_failure_is_a_502_and_its_message_is_not_logged(
    make_client: MakeClient, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider = _Broken(
        name="fake", issuer=fake.issuer, client_id=fake.client_id, client_secret=fake.client_secret
    )
    client = await make_client(providers=[provider])
    with caplog.at_level(logging.DEBUG):
        resp = await login_flow(client)
    assert resp.status == 502
    assert "SECRET-VALUE-123" not in await resp.text()
    assert "SECRET-VALUE-123" not in caplog.text
    assert "RuntimeError" in caplog.text  # the type and place are logged, for the operator
    assert (await client.get("/private", headers={"Accept": "application/json"})).status == 401
