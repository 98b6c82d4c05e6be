"""A small app protected by the plugin, shared by the tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from aiohttp_oauth2_login import get_user, login_required, setup_oauth

KEY = "q7Xw0o2m5Ew3hY8eVnB5kq3P7r8g7Xb7m1j3t8Ue2Gk="
OLD_KEY = "Zs3vA0yT5d2L3s0k7S8m1n2b3v4c5x6z7a8s9d0f1g0="

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@login_required
async def private(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({"id": user.id, "provider": user.provider, "name": user.name})


@login_required
class PrivateView(web.View):
    async def get(self) -> web.Response:
        user = await get_user(self.request)
        assert user is not None
        return web.json_response({"view": True, "id": user.id})


async def home(request: web.Request) -> web.Response:
    user = await get_user(request)
    return web.json_response({"user": user.id if user else None})


def build_app(providers: list[Any], **options: Any) -> web.Application:
    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/private", private)
    app.router.add_view("/view", PrivateView)
    options.setdefault("secret_key", KEY)
    setup_oauth(app, providers=providers, **options)
    return app
