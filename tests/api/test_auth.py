"""``@login_required``, ``require_login``, ``get_user``: redirects, 401 and 403
(README, Routes)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from aiohttp_oauth2_login import (
    ReauthenticationRequired,
    User,
    get_user,
    login_required,
    logout,
    require_login,
)
from aiohttp_oauth2_login.testing import FakeProvider, login_as, oidc_provider_for

from ..support.app import COOKIE, HTML, JSON, Client, FakeFactory, PrivateView, build_app, private


async def _me(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({"id": user.id, "provider": user.provider})


def _allow_sync(verdict: bool) -> Callable[[User], bool]:
    def allow(user: User) -> bool:
        assert isinstance(user, User)
        return verdict

    return allow


def _allow_async(verdict: bool) -> Callable[[User], Awaitable[bool]]:
    async def allow(user: User) -> bool:
        assert isinstance(user, User)
        return verdict

    return allow


async def _direct(request: web.Request) -> web.Response:
    """Uses ``require_login`` without the decorator."""
    user = await require_login(request)
    return web.json_response({"id": user.id})


async def _direct_other(request: web.Request) -> web.Response:
    user = await require_login(request, providers=("other",), allow=_allow_sync(True))
    return web.json_response({"id": user.id})


@login_required
async def _reauth(request: web.Request) -> web.Response:
    raise ReauthenticationRequired()


class MethodView(web.View):
    @login_required
    async def get(self) -> web.Response:
        user = await get_user(self.request)
        assert user is not None
        return web.json_response({"method": True, "id": user.id})

    async def post(self) -> web.Response:
        return web.json_response({"open": True})


class Handlers:
    """Handlers as methods of a plain object: ``(self, request)``."""

    @login_required
    async def me(self, request: web.Request) -> web.Response:
        return await _me(request)


def _add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/submit", login_required(_me))
    router.add_get("/only-other", login_required(providers=("other",))(_me))
    router.add_get("/only-other-str", login_required(providers="other")(_me))
    router.add_get("/allow-sync-yes", login_required(allow=_allow_sync(True))(_me))
    router.add_get("/allow-sync-no", login_required(allow=_allow_sync(False))(_me))
    router.add_get("/allow-async-yes", login_required(allow=_allow_async(True))(_me))
    router.add_get("/allow-async-no", login_required(allow=_allow_async(False))(_me))
    router.add_get("/direct", _direct)
    router.add_get("/direct-other", _direct_other)
    router.add_get("/reauth", _reauth)
    router.add_view("/method-view", MethodView)
    router.add_get("/bound", Handlers().me)


@pytest.fixture
async def one(aiohttp_client: Any, fake: FakeProvider) -> Client:
    """An app with the single provider ``fake``."""
    app = build_app([oidc_provider_for(fake)])
    _add_routes(app)
    client: Client = await aiohttp_client(app)
    return client


@pytest.fixture
async def two(
    aiohttp_client: Any, fake: FakeProvider, fake_provider_factory: FakeFactory
) -> Client:
    """An app with two providers, ``fake`` and ``other``."""
    other = await fake_provider_factory(auto_approve=True)
    app = build_app([oidc_provider_for(fake), oidc_provider_for(other, name="other")])
    _add_routes(app)
    client: Client = await aiohttp_client(app)
    return client


def _login_target(resp: Any) -> URL:
    return URL(resp.headers["Location"])


# ---- anonymous visitors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/private", "/view", "/private?x=1&y=%2F", "/direct", "/method-view", "/bound"]
)
async def test_browser_navigation_redirects_to_the_provider(one: Client, path: str) -> None:
    resp = await one.get(path, headers=HTML, allow_redirects=False)
    assert resp.status == 302
    target = _login_target(resp)
    assert target.path == "/auth/login/fake"
    assert not target.is_absolute()
    assert target.query.getall("next") == [URL(path).path_qs]
    assert resp.headers["Cache-Control"] == "no-store"


async def test_head_navigation_redirects_too(one: Client) -> None:
    resp = await one.head("/private", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    assert _login_target(resp).path == "/auth/login/fake"


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/private", JSON),
        ("GET", "/private", {"Accept": "*/*"}),
        ("GET", "/private", {}),
        ("GET", "/view", JSON),
        ("POST", "/submit", HTML),
        ("POST", "/submit", JSON),
        ("GET", "/direct", JSON),
        ("GET", "/bound", {}),
    ],
)
async def test_api_requests_get_401_json(
    one: Client, method: str, path: str, headers: dict[str, str]
) -> None:
    resp = await one.request(method, path, headers=headers, allow_redirects=False)
    assert resp.status == 401
    assert resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["error"] == "login_required"
    login_url = URL(body["login_url"])
    assert login_url.path == "/auth/login/fake"
    assert login_url.query["next"] == path


async def test_two_providers_redirect_to_the_chooser(two: Client) -> None:
    resp = await two.get("/private?a=b", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    target = _login_target(resp)
    assert target.path == "/auth/login"
    assert target.query["next"] == "/private?a=b"
    api = await two.get("/private", headers=JSON)
    assert URL((await api.json())["login_url"]).path == "/auth/login"


@pytest.mark.parametrize("path", ["/only-other", "/only-other-str", "/direct-other"])
async def test_only_one_allowed_provider_goes_straight_to_it(two: Client, path: str) -> None:
    resp = await two.get(path, headers=HTML, allow_redirects=False)
    assert resp.status == 302
    assert _login_target(resp).path == "/auth/login/other"


async def test_get_user_is_none_when_anonymous(one: Client) -> None:
    resp = await one.get("/")
    assert await resp.json() == {"user": None}


# ---- signed-in visitors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/private", {"id": "alice", "provider": "fake", "name": "Alice Example"}),
        ("/view", {"view": True, "id": "alice"}),
        ("/direct", {"id": "alice"}),
        ("/method-view", {"method": True, "id": "alice"}),
        ("/bound", {"id": "alice", "provider": "fake"}),
        ("/allow-sync-yes", {"id": "alice", "provider": "fake"}),
        ("/allow-async-yes", {"id": "alice", "provider": "fake"}),
    ],
)
async def test_signed_in_user_gets_through(
    one: Client, path: str, expected: dict[str, Any]
) -> None:
    await login_as(one, "alice")
    resp = await one.get(path, headers=HTML, allow_redirects=False)
    assert resp.status == 200
    assert await resp.json() == expected


async def test_post_when_signed_in(one: Client) -> None:
    await login_as(one, "alice")
    resp = await one.post("/submit")
    assert resp.status == 200


async def test_undecorated_view_method_stays_open(one: Client) -> None:
    resp = await one.post("/method-view")
    assert resp.status == 200
    assert await resp.json() == {"open": True}


@pytest.mark.parametrize("path", ["/only-other", "/only-other-str", "/direct-other"])
async def test_user_of_another_provider_gets_403(two: Client, path: str) -> None:
    await login_as(two, "alice", provider="fake")
    for headers in (HTML, JSON):
        resp = await two.get(path, headers=headers, allow_redirects=False)
        assert resp.status == 403
        assert resp.headers["Cache-Control"] == "no-store"


async def test_user_of_the_allowed_provider_gets_through(two: Client) -> None:
    await login_as(two, "carol", provider="other")
    resp = await two.get("/only-other")
    assert resp.status == 200
    assert await resp.json() == {"id": "carol", "provider": "other"}


@pytest.mark.parametrize("path", ["/allow-sync-no", "/allow-async-no"])
async def test_allow_false_gives_403(one: Client, path: str) -> None:
    await login_as(one, "alice")
    resp = await one.get(path, headers=HTML, allow_redirects=False)
    assert resp.status == 403
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "alice" not in await resp.text()


@pytest.mark.parametrize("path", ["/allow-sync-no", "/allow-async-no"])
async def test_allow_is_not_consulted_for_anonymous_visitors(one: Client, path: str) -> None:
    resp = await one.get(path, headers=JSON)
    assert resp.status == 401


@pytest.mark.parametrize(("headers", "status"), [(HTML, 302), (JSON, 401)])
async def test_reauthentication_required_clears_the_session(
    one: Client, headers: dict[str, str], status: int
) -> None:
    await login_as(one, "alice")
    resp = await one.get("/reauth", headers=headers, allow_redirects=False)
    assert resp.status == status
    if status == 302:
        target = _login_target(resp)
    else:
        target = URL((await resp.json())["login_url"])
    assert target.path == "/auth/login/fake"
    assert target.query["next"] == "/reauth"
    assert resp.cookies[COOKIE].value == ""
    assert await (await one.get("/")).json() == {"user": None}
    assert (await one.get("/private", headers=JSON)).status == 401


async def test_programmatic_logout(aiohttp_client: Any, fake: FakeProvider) -> None:
    async def bye(request: web.Request) -> web.Response:
        await logout(request)
        return web.json_response({"user": await get_user(request)})

    app = build_app([oidc_provider_for(fake)])
    app.router.add_post("/bye", bye)
    client: Client = await aiohttp_client(app)
    await login_as(client, "alice")
    resp = await client.post("/bye")
    assert await resp.json() == {"user": None}
    assert await (await client.get("/")).json() == {"user": None}


# ---- misuse and decoration -------------------------------------------------------------------


def _bare_request() -> web.Request:
    return make_mocked_request("GET", "/", app=web.Application())


@pytest.mark.parametrize(
    "call",
    [
        lambda r: get_user(r),
        lambda r: require_login(r),
        lambda r: logout(r),
        lambda r: private(r),
        lambda r: login_required(_me)(r),
    ],
)
async def test_without_setup_oauth_is_a_clear_runtime_error(
    call: Callable[[web.Request], Awaitable[Any]],
) -> None:
    with pytest.raises(RuntimeError, match="setup_oauth"):
        await call(_bare_request())


async def test_protected_route_without_setup_is_a_500_not_a_bypass(aiohttp_client: Any) -> None:
    app = web.Application()
    app.router.add_get("/private", private)
    client = await aiohttp_client(app)
    resp = await client.get("/private")
    assert resp.status == 500


def test_decorated_function_keeps_its_identity() -> None:
    async def handler(request: web.Request) -> web.Response:
        """The docstring."""
        return web.Response()

    for wrapped in (
        login_required(handler),
        login_required()(handler),
        login_required(providers=("a",), allow=_allow_sync(True))(handler),
    ):
        assert wrapped.__name__ == "handler"
        assert wrapped.__doc__ == "The docstring."
        assert wrapped.__wrapped__ is handler  # type: ignore[attr-defined]
        assert inspect.iscoroutinefunction(wrapped)
    assert private.__name__ == "private"


def test_decorated_view_stays_a_view() -> None:
    assert issubclass(PrivateView, web.View)
    assert PrivateView.get.__name__ == "get"
    assert inspect.iscoroutinefunction(PrivateView.get)

    class Local(web.View):
        async def get(self) -> web.Response:
            return web.Response()

    assert login_required(Local) is Local
    assert login_required(providers=("x",))(Local) is Local


def test_login_required_rejects_non_handlers() -> None:
    with pytest.raises(TypeError):
        login_required(42)  # type: ignore[call-overload]
