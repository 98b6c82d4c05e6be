"""``get_client`` after ``@login_required``'s cheap check: no second session load (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from aiohttp_oauth2_login._sessions.cookie_storage import CookieStorage
from aiohttp_oauth2_login.testing import FakeProvider, login_flow, oidc_provider_for

from ..support.app import JSON, Client, build_app, call_api


@pytest.fixture
async def api_client(aiohttp_client: Any, fake: FakeProvider) -> Client:
    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/call", call_api)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    return client


async def test_a_known_cookie_is_not_opened_again(
    api_client: Client, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await api_client.get("/call", headers=JSON)  # may open the cookie (first sight)
    assert (await first.json())["status"] == 200
    opened: list[str] = []
    decrypt = CookieStorage.decrypt

    def counting(self: CookieStorage, value: str) -> Any:
        opened.append(value)
        return decrypt(self, value)

    monkeypatch.setattr(CookieStorage, "decrypt", counting)
    resp = await api_client.get("/call", headers=JSON)
    data = await resp.json()
    assert data["status"] == 200 and data["body"]["sub"] == "alice"
    assert opened == []  # user and tokens came from the check's cache, not a session load
    assert "Set-Cookie" not in resp.headers  # nothing was written
    assert fake.calls["api"] == 2
