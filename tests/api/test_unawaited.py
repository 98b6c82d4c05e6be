"""A forgotten ``await`` never lets anyone in: the public coroutines fail loudly when they are
used as a truth value or dropped unawaited, and work as before when awaited (issue 10, item 6)."""

from __future__ import annotations

import asyncio
import gc
import logging
import operator
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from aiohttp_oauth2_login import (
    AuthenticatedClient,
    get_client,
    get_user,
    logout,
    require_login,
)
from aiohttp_oauth2_login.testing import FakeProvider, login_as, oidc_provider_for

from ..support.app import JSON, Client, build_app

PUBLIC: dict[str, Callable[[web.Request], Coroutine[Any, Any, Any]]] = {
    "get_user": get_user,
    "require_login": require_login,
    "logout": logout,
    "get_client": get_client,
}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and r.levelno >= logging.ERROR
    ]


# handlers written the wrong way, as a hurried user might


async def if_get_user(request: web.Request) -> web.Response:
    if get_user(request):  # type: ignore[truthy-bool]  # the bug under test
        return web.Response(text="secret")
    return web.Response(text="please sign in")


async def if_not_get_user(request: web.Request) -> web.Response:
    if not get_user(request):  # type: ignore[truthy-bool]  # the bug under test
        raise web.HTTPUnauthorized()
    return web.Response(text="secret")


async def user_or_guest(request: web.Request) -> web.Response:
    who = get_user(request) or "guest"  # type: ignore[truthy-bool]  # the bug under test
    return web.Response(text=f"secret for {who}")


async def is_not_none(request: web.Request) -> web.Response:
    if get_user(request) != None:  # noqa: E711  # the bug under test
        return web.Response(text="secret")
    return web.Response(text="please sign in")


async def is_none(request: web.Request) -> web.Response:
    if get_user(request) == None:  # noqa: E711  # the bug under test
        raise web.HTTPUnauthorized()
    return web.Response(text="secret")


async def forgot_logout(request: web.Request) -> web.Response:
    logout(request)  # type: ignore[unused-coroutine]  # the bug under test
    return web.Response(text="signed out?")


# the same calls, awaited in every way asyncio offers


async def every_await(request: web.Request) -> web.Response:
    first = await get_user(request)
    gathered = await asyncio.gather(get_user(request), get_user(request))
    tasked = await asyncio.create_task(get_user(request))
    waited = await asyncio.wait_for(get_user(request), 5)
    body: dict[str, Any] = {
        "await": first and first.id,
        "gather": [u and u.id for u in gathered],
        "create_task": tasked and tasked.id,
        "wait_for": waited and waited.id,
    }
    if first is not None:
        required = await asyncio.gather(require_login(request), asyncio.sleep(0, "x"))
        body["require_login"] = [required[0].id, required[1]]
        body["require_login_task"] = (await asyncio.create_task(require_login(request))).id
        client = await asyncio.wait_for(get_client(request), 5)
        assert isinstance(client, AuthenticatedClient)
        body["get_client"] = client.token.access_token
        clients = await asyncio.gather(get_client(request))
        body["get_client_gather"] = clients[0].token.access_token
    return web.json_response(body)


async def require_in_task(request: web.Request) -> web.Response:
    user = await asyncio.wait_for(require_login(request), 5)
    return web.json_response({"id": user.id})


async def logout_in_task(request: web.Request) -> web.Response:
    await asyncio.create_task(logout(request))
    return web.Response(text="signed out")


async def _client(aiohttp_client: Any, fake: FakeProvider) -> Client:
    app = build_app([oidc_provider_for(fake)])
    for path, handler in {
        "/if": if_get_user,
        "/if-not": if_not_get_user,
        "/or": user_or_guest,
        "/not-none": is_not_none,
        "/none": is_none,
        "/forgot-logout": forgot_logout,
        "/every-await": every_await,
        "/require-in-task": require_in_task,
        "/logout-in-task": logout_in_task,
    }.items():
        app.router.add_get(path, handler)
    client: Client = await aiohttp_client(app)
    return client


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_truth_value_raises_and_names_the_fix(name: str, caplog: pytest.LogCaptureFixture) -> None:
    request = make_mocked_request("GET", "/")
    call = PUBLIC[name]
    with pytest.raises(TypeError, match=rf"use 'await {name}\(request\)'"):
        bool(call(request))
    with pytest.raises(TypeError, match=rf"use 'await {name}\(request\)'"):
        not call(request)  # type: ignore[truthy-bool]  # noqa: B015 - the misuse under test
    for compare in (operator.eq, operator.ne):  # `get_user(request) != None`
        with pytest.raises(TypeError, match=rf"use 'await {name}\(request\)'"):
            compare(call(request), None)
    gc.collect()
    assert _errors(caplog) == []  # the TypeError was the report: no second one, and no warning


def test_get_user_points_to_require_login() -> None:
    with pytest.raises(TypeError, match=r"'await require_login\(request\)'"):
        bool(get_user(make_mocked_request("GET", "/")))


@pytest.mark.parametrize("path", ["/if", "/if-not", "/or", "/not-none", "/none"])
@pytest.mark.parametrize("signed_in", [False, True])
async def test_a_truthiness_check_never_lets_anyone_in(
    aiohttp_client: Any, fake: FakeProvider, path: str, signed_in: bool
) -> None:
    client = await _client(aiohttp_client, fake)
    if signed_in:
        await login_as(client, "alice")
    resp = await client.get(path)
    assert resp.status == 500  # loud for everyone, from the first try in development
    assert "secret" not in await resp.text()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_a_dropped_call_is_logged_at_error_and_warns(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.warns(RuntimeWarning, match=f"coroutine '{name}' was never awaited") as seen:
        PUBLIC[name](make_mocked_request("GET", "/"))  # type: ignore[unused-coroutine]
        gc.collect()
    assert [w.filename for w in seen] == [__file__]  # points at the line that dropped it
    assert [m.split(":")[0] for m in _errors(caplog)] == [f"{name}(request) was never awaited"]


async def test_a_forgotten_logout_is_logged_at_error(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _client(aiohttp_client, fake)
    await login_as(client, "alice")
    with pytest.warns(RuntimeWarning, match="coroutine 'logout' was never awaited"):
        assert (await client.get("/forgot-logout")).status == 200
    assert _errors(caplog) == ["logout(request) was never awaited: the user is still signed in"]
    assert (await client.get("/private", headers=JSON)).status == 200  # what the log warns of


async def test_every_way_of_awaiting_still_works(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _client(aiohttp_client, fake)
    anonymous = await client.get("/every-await")
    assert await anonymous.json() == {
        "await": None,
        "gather": [None, None],
        "create_task": None,
        "wait_for": None,
    }
    refused = await client.get("/require-in-task", headers=JSON)
    assert refused.status == 401
    assert (await refused.json())["error"] == "login_required"

    await login_as(client, "alice")
    body = await (await client.get("/every-await")).json()
    access = body.pop("get_client")
    assert isinstance(access, str) and len(access) >= 16
    assert body.pop("get_client_gather") == access
    assert body == {
        "await": "alice",
        "gather": ["alice", "alice"],
        "create_task": "alice",
        "wait_for": "alice",
        "require_login": ["alice", "x"],
        "require_login_task": "alice",
    }
    assert await (await client.get("/require-in-task")).json() == {"id": "alice"}
    assert (await client.get("/logout-in-task")).status == 200
    assert (await client.get("/private", headers=JSON)).status == 401  # signed out for real
    assert _errors(caplog) == []


async def test_a_task_cancelled_before_it_starts_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = asyncio.create_task(get_user(make_mocked_request("GET", "/")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closed = logout(make_mocked_request("GET", "/"))
    closed.close()
    del task, closed
    gc.collect()
    assert _errors(caplog) == []


def test_it_is_a_coroutine_for_asyncio() -> None:
    coro = get_user(make_mocked_request("GET", "/"))
    assert isinstance(coro, Coroutine)
    assert asyncio.iscoroutine(coro)
    coro.close()
