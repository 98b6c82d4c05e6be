"""No app-wide session middleware: public routes never touch the session, and what needs it
loads and saves it per request (``_sessions.middleware``) — in ``@login_required`` handlers, in
plain handlers (``on_response_prepare``), with a store outage as the 503 page (G17)."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login import (
    ConfigurationError,
    CookieStorage,
    get_client,
    login_required,
    logout,
    setup_oauth,
)
from aiohttp_oauth2_login._sessions.schema import TOUCH_EVERY
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import FakeProvider, login_flow, oidc_provider_for

from ..support.app import COOKIE, JSON, KEY, Client, home, private

pytestmark = pytest.mark.filterwarnings("ignore:aiohttp_oauth2_login. no secret_key")


PROVIDER = OIDCProvider(
    name="x", issuer="https://x.idp.example", client_id="client", client_secret="secret"
)


class StoreDown(ConnectionError):
    """What the counting storage raises while its store is "down"."""


class CountingStorage(CookieStorage):
    """The plugin's cookie storage, counting loads and saves, and able to be "down"."""

    def __init__(self) -> None:
        super().__init__(KEY, cookie_name=COOKIE)
        self.loads = self.saves = 0
        self.down = False

    async def load_session(self, request: web.Request) -> aiohttp_session.Session:
        self.loads += 1
        if self.down:
            raise StoreDown("connection refused")
        return await super().load_session(request)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: aiohttp_session.Session
    ) -> None:
        self.saves += 1
        if self.down:
            raise StoreDown("connection refused")
        await super().save_session(request, response, session)


class Clock:
    """The plugin's clock (``_clock.time``), moved by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


async def public(request: web.Request) -> web.Response:
    return web.json_response({"public": True})


async def plain_api(request: web.Request) -> web.Response:
    """A plain (undecorated) handler calling the provider's API through ``get_client``."""
    client = await get_client(request)
    async with client.get("api/me") as resp:
        return web.json_response({"status": resp.status})


async def plain_logout(request: web.Request) -> web.Response:
    await logout(request)
    return web.json_response({"ok": True})


async def cart(request: web.Request) -> web.Response:
    """The app's own session data, in a plain handler (needs the app-wide middleware)."""
    session = await aiohttp_session.get_session(request)
    session["cart"] = [*session.get("cart", []), "apple"]
    return web.json_response({"cart": session["cart"]})


@login_required
async def protected_cart(request: web.Request) -> web.Response:
    """Inside @login_required, aiohttp_session.get_session works and its change is saved."""
    return await cart(request)


async def _client(aiohttp_client: Any, fake: FakeProvider, **options: Any) -> Client:
    storage = options.pop("storage", None) or CountingStorage()
    app = web.Application()
    for path, handler in (
        ("/public", public),
        ("/", home),
        ("/private", private),
        ("/plain-api", plain_api),
        ("/plain-logout", plain_logout),
        ("/cart", cart),
        ("/protected-cart", protected_cart),
    ):
        app.router.add_get(path, handler)
    setup_oauth(
        app, providers=[oidc_provider_for(fake)], secret_key=KEY, storage=storage, **options
    )
    client: Client = await aiohttp_client(app)
    return client


def _storage(client: Client) -> CountingStorage:
    storage = client.app[APP_KEY].storage
    assert isinstance(storage, CountingStorage)
    return storage


def _cookie(client: Client) -> str | None:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/")).get(COOKIE)
    return None if found is None else found.value


async def test_the_app_and_the_login_sub_app_have_no_middleware(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, fake)
    login = client.app[APP_KEY]
    assert not client.app.middlewares and not login.login_app.middlewares
    assert client.app._run_middlewares is False  # aiohttp skips its middleware machinery


@pytest.mark.parametrize("signed_in", [False, True])
async def test_a_public_route_never_touches_the_session(
    aiohttp_client: Any, fake: FakeProvider, signed_in: bool
) -> None:
    client = await _client(aiohttp_client, fake)
    if signed_in:
        assert (await login_flow(client)).status == 303
    storage = _storage(client)
    loads, saves = storage.loads, storage.saves
    resp = await client.get("/public")
    assert resp.status == 200 and await resp.json() == {"public": True}
    assert "Set-Cookie" not in resp.headers
    assert (storage.loads, storage.saves) == (loads, saves)


async def test_a_signed_in_check_on_the_fast_path_loads_nothing(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    storage = _storage(client)
    loads = storage.loads
    for path in ("/private", "/"):
        resp = await client.get(path, headers=JSON)
        assert resp.status == 200 and "Set-Cookie" not in resp.headers
    assert storage.loads == loads  # the cookie fast path decided


async def test_the_decorator_saves_the_activity_update(
    aiohttp_client: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    before = _cookie(client)
    clock = Clock()
    monkeypatch.setattr(plugin_clock, "time", clock)
    clock.offset = TOUCH_EVERY + 1
    resp = await client.get("/private", headers=JSON)
    assert resp.status == 200
    assert COOKIE in resp.cookies  # the new last-activity time went out with this response
    assert _cookie(client) != before


async def test_a_plain_handler_saves_the_activity_update(
    aiohttp_client: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    clock = Clock()
    monkeypatch.setattr(plugin_clock, "time", clock)
    clock.offset = TOUCH_EVERY + 1
    resp = await client.get("/")  # get_user in a plain handler
    assert await resp.json() == {"user": "alice"}
    assert COOKIE in resp.cookies


async def test_a_plain_handlers_get_client_refresh_is_saved(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    fake.expire_access_tokens()  # the API answers 401: one refresh
    resp = await client.get("/plain-api")
    assert await resp.json() == {"status": 200}
    assert fake.calls["refresh"] == 1
    assert COOKIE in resp.cookies  # the refreshed tokens went out with the response
    resp = await client.get("/plain-api")
    assert await resp.json() == {"status": 200}
    assert fake.calls["refresh"] == 1  # the saved tokens are used: no second refresh


async def test_a_plain_handlers_logout_is_saved(aiohttp_client: Any, fake: FakeProvider) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    resp = await client.get("/plain-logout")
    assert resp.status == 200 and COOKIE in resp.cookies
    assert (await (await client.get("/")).json()) == {"user": None}
    assert (await client.get("/private", headers=JSON)).status == 401


async def test_get_session_inside_login_required_is_saved(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    assert await (await client.get("/protected-cart")).json() == {"cart": ["apple"]}
    assert await (await client.get("/protected-cart")).json() == {"cart": ["apple", "apple"]}


async def test_get_session_in_a_plain_handler_names_the_option(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _client(aiohttp_client, fake)
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        resp = await client.get("/cart")
    assert resp.status == 500
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None
    message = str(record.exc_info[1])
    assert message.startswith("Install aiohttp_session middleware")
    assert "session_middleware=True" in message and "aiohttp_session.setup" in message


@pytest.mark.parametrize(
    "options", [{"session_middleware": True}, {"carry_session_keys": ["cart"]}]
)
async def test_session_middleware_restores_get_session_everywhere(
    aiohttp_client: Any, fake: FakeProvider, options: dict[str, Any]
) -> None:
    client = await _client(aiohttp_client, fake, **options)
    assert len(client.app.middlewares) == 1
    assert not client.app.on_response_prepare  # the middleware saves
    assert await (await client.get("/cart")).json() == {"cart": ["apple"]}
    assert await (await client.get("/cart")).json() == {"cart": ["apple", "apple"]}
    assert (await login_flow(client)).status == 303
    assert (await (await client.get("/private", headers=JSON)).json())["id"] == "alice"


def test_session_middleware_false_wins_over_carry_session_keys() -> None:
    app = web.Application()
    setup_oauth(
        app,
        providers=[PROVIDER],
        secret_key=KEY,
        carry_session_keys=["cart"],
        session_middleware=False,
    )
    assert not app.middlewares


@pytest.mark.parametrize("value", ["yes", 1, object()])
def test_a_bad_session_middleware_value_is_refused(value: object) -> None:
    app = web.Application()
    with pytest.raises(ConfigurationError, match="session_middleware"):
        setup_oauth(
            app,
            providers=[PROVIDER],
            secret_key=KEY,
            session_middleware=value,  # type: ignore[arg-type]
        )
    assert APP_KEY not in app


async def test_an_aiohttp_session_app_is_unchanged(aiohttp_client: Any, fake: FakeProvider) -> None:
    """An app that installed aiohttp-session's middleware itself: the plugin adds nothing and
    uses its storage; the app's plain handlers keep calling get_session."""
    app = web.Application()
    storage = aiohttp_session.SimpleCookieStorage(cookie_name=COOKIE)
    aiohttp_session.setup(app, storage)
    app.router.add_get("/cart", cart)
    app.router.add_get("/private", private)
    middlewares = list(app.middlewares)
    login = setup_oauth(app, providers=[oidc_provider_for(fake)], secret_key=KEY)
    assert list(app.middlewares) == middlewares and not app.on_response_prepare
    assert login.storage is storage
    client: Client = await aiohttp_client(app)
    assert await (await client.get("/cart")).json() == {"cart": ["apple"]}
    assert (await login_flow(client)).status == 303
    assert (await client.get("/private", headers=JSON)).status == 200


@pytest.mark.parametrize("path", ["/private", "/", "/plain-api", "/plain-logout"])
async def test_a_store_outage_is_the_503_page(
    aiohttp_client: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Protected or plain handler: the load fails, the answer is the 503 page, never a 500."""
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    login = client.app[APP_KEY]
    monkeypatch.setattr(login.backend, "outage_errors", (StoreDown,))
    _storage(client).down = True
    clock = Clock()
    monkeypatch.setattr(plugin_clock, "time", clock)
    clock.offset = TOUCH_EVERY + 1  # the fast path defers to the store
    resp = await client.get(path, headers=JSON)
    assert resp.status == 503
    assert (await resp.json())["error"] == "temporarily_unavailable"


async def test_a_store_outage_while_saving_a_plain_handlers_change_keeps_the_answer(
    aiohttp_client: Any,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Too late to change the answer: logged, the change is lost, the response goes out."""
    client = await _client(aiohttp_client, fake)
    assert (await login_flow(client)).status == 303
    login = client.app[APP_KEY]
    monkeypatch.setattr(login.backend, "outage_errors", (StoreDown,))
    storage = _storage(client)

    async def down_on_save(*args: Any) -> None:
        raise StoreDown("connection refused")

    monkeypatch.setattr(storage, "save_session", down_on_save)
    clock = Clock()
    monkeypatch.setattr(plugin_clock, "time", clock)
    clock.offset = TOUCH_EVERY + 1  # the activity update makes the session changed
    with caplog.at_level(logging.ERROR, logger="aiohttp_oauth2_login"):
        resp = await client.get("/")
    assert resp.status == 200 and await resp.json() == {"user": "alice"}
    assert COOKIE not in resp.cookies
    assert any("session change is lost" in r.getMessage() for r in caplog.records)
