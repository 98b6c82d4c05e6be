"""A handler of the root app, outside the application ``setup_oauth`` was called on, reads the
session without a session middleware (read-only mode): a session-store outage there is the same
503 page as inside, never a 500 (G17)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from aiohttp_oauth2_login import get_user, login_required, setup_oauth
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from ..support.app import KEY


class StoreDown(ConnectionError):
    """What the backend's storage raises while its store is unreachable."""


async def whoami(request: web.Request) -> web.Response:
    user = await get_user(request)
    return web.json_response({"user": user.id if user else None})


@login_required
async def private(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def down(aiohttp_client: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Any:
    sub = web.Application()
    setup_oauth(sub, providers=[oidc_provider_for(fake)], secret_key=KEY)
    root = web.Application()
    root.router.add_get("/", whoami)
    root.router.add_get("/private", private)
    root.add_subapp("/app", sub)
    backend = sub[APP_KEY].backend

    async def unreachable(*args: Any) -> Any:
        raise StoreDown("connection refused")

    monkeypatch.setattr(backend, "outage_errors", (StoreDown,))
    monkeypatch.setattr(backend, "peek", unreachable)
    monkeypatch.setattr(backend, "quick_peek", None)  # the check must go to the store
    return await aiohttp_client(root)


@pytest.mark.parametrize("path", ["/", "/private"])
async def test_a_store_outage_in_read_only_mode_is_the_503_page(down: Any, path: str) -> None:
    resp = await down.get(path, headers={"Accept": "text/html"}, allow_redirects=False)
    assert resp.status == 503
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "temporarily unavailable" in await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    resp = await down.get(path, headers={"Accept": "application/json"})
    assert resp.status == 503
    assert (await resp.json())["error"] == "temporarily_unavailable"
