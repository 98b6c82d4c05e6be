"""The request-scoped authenticated client: bearer only to the API origin, refresh, write-back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from aiohttp_oauth2_login import (
    ReauthenticationRequired,
    get_client,
    login_required,
)
from aiohttp_oauth2_login.testing import FakeProvider, login_flow, oidc_provider_for

from ._app import Client, build_app


@login_required
async def api_me(request: web.Request) -> web.Response:
    client = await get_client(request)
    async with client.get("api/me") as resp:
        return web.json_response({"status": resp.status, "body": await resp.json()})


@login_required
async def api_burst(request: web.Request) -> web.Response:
    client = await get_client(request)

    async def one() -> int:
        async with client.get("/api/me") as resp:
            return resp.status

    statuses = await asyncio.gather(*(one() for _ in range(10)))
    return web.json_response({"statuses": statuses})


@login_required
async def foreign(request: web.Request) -> web.Response:
    client = await get_client(request)
    try:
        client.get("https://evil.example/steal")
    except ValueError as exc:
        return web.json_response({"refused": str(exc)})
    return web.json_response({"refused": None})


@pytest.fixture
async def api_client(aiohttp_client: Any, fake: FakeProvider) -> Client:
    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/call", api_me)
    app.router.add_get("/burst", api_burst)
    app.router.add_get("/foreign", foreign)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    return client


JSON = {"Accept": "application/json"}


async def test_calls_the_api_as_the_user(api_client: Client, fake: FakeProvider) -> None:
    resp = await api_client.get("/call", headers=JSON)
    data = await resp.json()
    assert data["status"] == 200
    assert data["body"]["sub"] == "alice"
    assert fake.calls["api"] == 1
    assert fake.calls["refresh"] == 0


async def test_absolute_urls_on_other_origins_are_refused(api_client: Client) -> None:
    data = await (await api_client.get("/foreign", headers=JSON)).json()
    assert data["refused"] is not None and "evil.example" in data["refused"]


async def test_expired_token_is_refreshed_once_for_ten_racing_requests(
    api_client: Client, fake: FakeProvider
) -> None:
    fake.expire_access_tokens()
    resp = await api_client.get("/burst", headers=JSON)
    assert (await resp.json())["statuses"] == [200] * 10
    assert fake.calls["refresh"] == 1
    # the refreshed tokens were written back: the next request needs no refresh
    resp = await api_client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1


async def test_a_401_triggers_one_refresh_and_a_retry(
    api_client: Client, fake: FakeProvider
) -> None:
    fake.expire_access_tokens()  # revoked early at the provider; the session thinks it is valid
    data = await (await api_client.get("/call", headers=JSON)).json()
    assert data["status"] == 200
    assert fake.calls["refresh"] == 1
    assert fake.calls["api"] == 2  # the refused call and its retry


async def test_refused_refresh_asks_for_login_again(api_client: Client, fake: FakeProvider) -> None:
    fake.expire_access_tokens()
    fake.fail("refresh_error")
    resp = await api_client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    resp = await api_client.get("/private", headers=JSON)  # the session was cleared
    assert resp.status == 401


async def test_reauthentication_required_without_login(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([oidc_provider_for(fake)])

    async def handler(request: web.Request) -> web.Response:
        try:
            await get_client(request)
        except ReauthenticationRequired:
            return web.Response(text="reauth")
        return web.Response(text="client")

    app.router.add_get("/x", handler)
    client = await aiohttp_client(app)
    assert await (await client.get("/x")).text() == "reauth"
