"""A small app protected by the plugin, and the constants the tests share about it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from aiohttp_oauth2_login import User, get_client, get_user, login_required, setup_oauth
from aiohttp_oauth2_login.testing import FakeProvider

KEY = "q7Xw0o2m5Ew3hY8eVnB5kq3P7r8g7Xb7m1j3t8Ue2Gk="
OLD_KEY = "Zs3vA0yT5d2L3s0k7S8m1n2b3v4c5x6z7a8s9d0f1g0="
#: setup_oauth's default cookie_name, and its name behind an https ``public_url``
COOKIE = "aiohttp_oauth2"
HOST_COOKIE = "__Host-" + COOKIE
#: an API client, and a browser asking for a page (the plugin answers JSON only to the first)
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
#: a raw control character (C0, DEL, C1): never in a line the plugin logs
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]
FakeFactory = Callable[..., Awaitable[FakeProvider]]


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


async def health(request: web.Request) -> web.Response:
    """No session involved."""
    return web.json_response({"ok": True})


def user_json(user: User) -> dict[str, Any]:
    """The profile fields of ``user`` as a JSON object."""
    return {
        "provider": user.provider,
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_verified": user.email_verified,
        "username": user.username,
    }


@login_required
async def session_tokens(request: web.Request) -> web.Response:
    """The session's tokens, untouched (no refresh): lets a test check what was stored, or talk
    to the provider directly."""
    token = (await get_client(request)).token
    return web.json_response(
        {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at,
            "refresh_expires_at": token.refresh_expires_at,
            "id_token": token.id_token,
        }
    )


@login_required
async def call_api(request: web.Request) -> web.Response:
    """``get_client`` calling the provider's ``api/me`` as the user: its status and body."""
    client = await get_client(request)
    async with client.get("api/me") as resp:
        return web.json_response({"status": resp.status, "body": await resp.json()})


def build_app(providers: list[Any], **options: Any) -> web.Application:
    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/private", private)
    app.router.add_view("/view", PrivateView)
    options.setdefault("secret_key", KEY)
    setup_oauth(app, providers=providers, **options)
    return app


async def who(client: Client, path: str = "/") -> str | None:
    """Who is signed in, as ``home`` at ``path`` answers (``None``: nobody)."""
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    user: str | None = (await resp.json())["user"]
    return user


def origin_of(client: Client) -> str:
    """The test server's origin (what a same-origin form post sends as ``Origin``)."""
    return str(client.make_url("/").origin())


def presented(fake: FakeProvider) -> list[str]:
    """Every refresh token presented at the provider's token endpoint, in order."""
    return [
        r.get("refresh_token", "")
        for r in fake.token_requests
        if r.get("grant_type") == "refresh_token"
    ]
