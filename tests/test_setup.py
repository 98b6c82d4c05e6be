"""``setup_oauth``: validation before wiring, mounting, session reuse, the handle's URLs, the
plugin's HTTP session, and the ``on_login`` hook (README, Configuration; G9, L6)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import aiohttp_session
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import (
    ConfigurationError,
    CookieStorage,
    OAuthLogin,
    TokenSet,
    UnknownProvider,
    User,
    get_user,
    setup_oauth,
)
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import FakeProvider, login_as, login_flow, oidc_provider_for

from .support.app import HTML, KEY, OLD_KEY, Client, MakeClient, build_app, home, private, who


def _provider(name: str = "x", issuer: str | None = None) -> OIDCProvider:
    return OIDCProvider(
        name=name,
        issuer=issuer or f"https://{name}.idp.example",
        client_id="client",
        client_secret="secret",
    )


def _snapshot(app: web.Application) -> tuple[Any, ...]:
    return (
        list(app.router.resources()),
        list(app.middlewares),
        len(app.cleanup_ctx),
        len(app.on_startup),
        APP_KEY in app,
    )


class NotAProvider:
    name = "x"
    issuer = None


def _with(**options: Any) -> dict[str, Any]:
    return {"providers": [_provider()], "secret_key": KEY, **options}


async def _on_login(request: web.Request, user: User, token: TokenSet) -> None:
    return None


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("no providers", _with(providers=[])),
    ("providers None", _with(providers=None)),
    ("one provider, not a list", _with(providers=_provider())),
    ("providers generator", _with(providers=(p for p in [_provider()]))),
    ("providers string", _with(providers="x")),
    ("not a provider", _with(providers=[NotAProvider()])),
    ("a provider and junk", _with(providers=[_provider(), object()])),
    ("duplicate names", _with(providers=[_provider("a"), _provider("a", "https://b.example")])),
    (
        "shared issuer",
        _with(
            providers=[_provider("a", "https://idp.example"), _provider("b", "https://idp.example")]
        ),
    ),
    ("prefix empty", _with(prefix="")),
    ("prefix no slash", _with(prefix="auth")),
    ("prefix trailing slash", _with(prefix="/auth/")),
    ("prefix root", _with(prefix="/")),
    ("prefix double slash", _with(prefix="//auth")),
    ("prefix space", _with(prefix="/a b")),
    ("prefix query", _with(prefix="/auth?x=1")),
    ("prefix not str", _with(prefix=5)),
    ("http public url", _with(public_url="http://app.example.com")),
    ("http public url on a LAN address", _with(public_url="http://10.0.0.1:8080")),
    ("ftp public url", _with(public_url="ftp://app.example.com")),
    ("relative public url", _with(public_url="/app")),
    ("public url no host", _with(public_url="https://")),
    ("public url with query", _with(public_url="https://app.example.com/?a=b")),
    ("public url with fragment", _with(public_url="https://app.example.com/#x")),
    ("public url with credentials", _with(public_url="https://u:p@app.example.com")),
    ("public url not str", _with(public_url=42)),
    ("https without key", _with(public_url="https://app.example.com", secret_key=None)),
    ("short key", _with(secret_key="c2hvcnQ=")),
    ("bad key in list", _with(secret_key=[KEY, "nope"])),
    ("empty key list", _with(secret_key=[])),
    (
        "storage and redis_url",
        _with(storage=aiohttp_session.SimpleCookieStorage(), redis_url="redis://127.0.0.1:1/0"),
    ),
    ("storage of wrong type", _with(secret_key=None, storage=object())),
    ("on_login not callable", _with(on_login="hook")),
    ("default_next absolute", _with(default_next="https://evil.example")),
    ("default_next protocol relative", _with(default_next="//evil.example")),
    ("default_next empty", _with(default_next="")),
    ("lifetime zero", _with(session_lifetime=0)),
    ("lifetime negative", _with(session_lifetime=-1)),
    ("lifetime timedelta zero", _with(session_lifetime=timedelta(0))),
    ("lifetime negative timedelta", _with(session_lifetime=timedelta(seconds=-5))),
    ("lifetime str", _with(session_lifetime="3600")),
    ("lifetime bool", _with(session_lifetime=True)),
    ("lifetime None", _with(session_lifetime=None)),
    ("idle zero", _with(idle_timeout=0)),
    ("idle negative", _with(idle_timeout=-10)),
    ("idle str", _with(idle_timeout="60")),
    ("idle timedelta zero", _with(idle_timeout=timedelta(0))),
    ("http timeout zero", _with(http_timeout=0)),
    ("http timeout negative", _with(http_timeout=-1)),
    ("http timeout huge", _with(http_timeout=121)),
    ("http timeout str", _with(http_timeout="10")),
    ("http timeout bool", _with(http_timeout=True)),
    ("http timeout None", _with(http_timeout=None)),
    ("cookie name with space", _with(cookie_name="bad name")),
    ("cookie name with semicolon", _with(cookie_name="a;b")),
    ("cookie name with equals", _with(cookie_name="a=b")),
    ("cookie name empty", _with(cookie_name="")),
    ("cookie name non-ascii", _with(cookie_name="sitzung-ä")),
]


@pytest.mark.parametrize("options", [c[1] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_configuration_leaves_the_app_untouched(options: dict[str, Any]) -> None:
    app = web.Application()
    app.router.add_get("/", home)
    before = _snapshot(app)
    with pytest.raises(ConfigurationError) as info:
        setup_oauth(app, **options)
    assert isinstance(info.value, ValueError)
    assert _snapshot(app) == before
    assert not app.router.frozen


def test_a_key_of_the_wrong_type_is_a_configuration_error() -> None:
    app = web.Application()
    before = _snapshot(app)
    with pytest.raises(ConfigurationError):
        setup_oauth(app, **_with(secret_key=12345))
    assert _snapshot(app) == before


@pytest.mark.parametrize(
    "name", ["", "Bad", "a b", "a/b", "a.b", "-a", "x" * 33, "ü", "a?b", "..", None, 5]
)
def test_bad_provider_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigurationError):
        OIDCProvider(name=name, issuer="https://idp.example", client_id="c", client_secret="s")


@pytest.mark.parametrize(
    "public_url",
    ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080", "http://a.localhost"],
)
def test_http_public_url_is_fine_on_loopback(public_url: str) -> None:
    login = setup_oauth(web.Application(), **_with(public_url=public_url))
    assert URL(login.redirect_uri("x")).scheme == "http"


def test_setup_twice_is_refused() -> None:
    app = web.Application()
    setup_oauth(app, **_with())
    before = _snapshot(app)
    with pytest.raises(ConfigurationError, match="already"):
        setup_oauth(app, **_with())
    assert _snapshot(app) == before


def test_setup_on_a_mounted_app_is_refused() -> None:
    parent, child = web.Application(), web.Application()
    parent.add_subapp("/child", child)
    with pytest.raises(ConfigurationError):
        setup_oauth(child, **_with())
    assert APP_KEY not in child


def test_setup_on_a_frozen_app_is_refused() -> None:
    app = web.Application()
    app.freeze()
    with pytest.raises(ConfigurationError):
        setup_oauth(app, **_with())
    assert APP_KEY not in app


async def test_setup_on_a_started_app_is_refused(aiohttp_client: Any) -> None:
    app = web.Application()
    app.router.add_get("/", home)
    await aiohttp_client(app)
    before = _snapshot(app)
    with pytest.raises(ConfigurationError, match="before the application is started"):
        setup_oauth(app, **_with())
    assert _snapshot(app) == before


def test_setup_returns_the_handle_and_wires_the_app() -> None:
    app = web.Application()
    login = setup_oauth(app, **_with())
    assert isinstance(login, OAuthLogin)
    assert app[APP_KEY] is login
    # no middleware on the app or the login sub-app: public routes pay nothing for the plugin
    assert not app.middlewares and not login.login_app.middlewares
    assert len(app.on_response_prepare) == 1  # saves what a plain handler changed
    assert isinstance(login.storage, CookieStorage)
    assert set(login.providers) == {"x"}


def test_setup_accepts_a_key_list_and_timedeltas() -> None:
    login = setup_oauth(
        web.Application(),
        **_with(
            secret_key=[KEY, OLD_KEY],
            session_lifetime=timedelta(hours=2),
            idle_timeout=timedelta(hours=5),
        ),
    )
    assert login.config.session_lifetime == 7200
    assert login.config.idle_timeout == 7200  # never longer than the lifetime


def test_https_public_url_makes_cookies_secure() -> None:
    login = setup_oauth(web.Application(), **_with(public_url="https://app.example.com"))
    assert isinstance(login.storage, CookieStorage)
    assert login.storage.cookie_name.startswith("__Host-")
    assert login.config.secure_cookies


# ---- no secret key ---------------------------------------------------------------------------


async def test_no_secret_key_warns_and_still_works(aiohttp_client: Any, fake: FakeProvider) -> None:
    with pytest.warns(RuntimeWarning, match="secret_key"):
        app = build_app([oidc_provider_for(fake)], secret_key=None)
    client: Client = await aiohttp_client(app)
    resp = await login_flow(client)
    assert resp.status == 303
    assert (await client.get("/private")).status == 200


def test_two_apps_without_a_key_get_different_keys() -> None:
    with pytest.warns(RuntimeWarning):
        one = setup_oauth(web.Application(), providers=[_provider()])
    with pytest.warns(RuntimeWarning):
        two = setup_oauth(web.Application(), providers=[_provider()])
    assert isinstance(one.storage, CookieStorage) and isinstance(two.storage, CookieStorage)
    value = one.storage.encrypt({"created": 1, "session": {}})
    assert two.storage.decrypt(value) is None


# ---- mounting --------------------------------------------------------------------------------


async def test_custom_prefix_mounts_all_five_routes(make_client: MakeClient) -> None:
    client = await make_client(prefix="/login-stuff")
    chooser = await client.get("/login-stuff/login")
    assert chooser.status == 200
    start = await client.get("/login-stuff/login/fake", allow_redirects=False)
    assert start.status == 302
    redirect_uri = URL(start.headers["Location"]).query["redirect_uri"]
    assert URL(redirect_uri).path == "/login-stuff/callback/fake"
    callback = await client.get("/login-stuff/callback/fake")
    assert callback.status == 400
    assert (await client.get("/login-stuff/logout")).status == 200
    assert (await client.post("/login-stuff/logout")).status == 403
    assert (await client.get("/auth/login")).status == 404
    resp = await client.get("/private", headers=HTML, allow_redirects=False)
    assert URL(resp.headers["Location"]).path == "/login-stuff/login/fake"
    assert (await login_flow(client)).status == 303
    assert (await client.get("/private")).status == 200


async def test_host_app_mounted_as_a_sub_app(aiohttp_client: Any, fake: FakeProvider) -> None:
    parent = web.Application()
    parent.router.add_get("/", home)
    sub = build_app([oidc_provider_for(fake)])  # setup_oauth before mounting
    parent.add_subapp("/app", sub)
    client: Client = await aiohttp_client(parent)

    login = sub[APP_KEY]
    assert login.login_url("fake") == "/app/auth/login/fake"
    assert login.logout_url() == "/app/auth/logout"

    anonymous = await client.get("/app/private", headers=HTML, allow_redirects=False)
    assert anonymous.status == 302
    target = URL(anonymous.headers["Location"])
    assert target.path == "/app/auth/login/fake"
    assert target.query["next"] == "/app/private"

    start = await client.get("/app/auth/login/fake", allow_redirects=False)
    redirect_uri = URL(start.headers["Location"]).query["redirect_uri"]
    assert redirect_uri == str(client.make_url("/app/auth/callback/fake"))

    resp = await login_flow(client, app=sub, next="/app/view")
    assert resp.status == 303
    assert resp.headers["Location"] == "/app/view"
    assert fake.authorize_requests[-1]["redirect_uri"].endswith("/app/auth/callback/fake")
    view = await client.get("/app/view")
    assert view.status == 200
    assert await view.json() == {"view": True, "id": "alice"}
    assert (await client.get("/app/private")).status == 200


async def test_existing_session_middleware_is_reused(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = web.Application()
    storage = aiohttp_session.SimpleCookieStorage()
    aiohttp_session.setup(app, storage)
    app.router.add_get("/private", private)
    app.router.add_get("/", home)
    middlewares = list(app.middlewares)
    login = setup_oauth(app, providers=[oidc_provider_for(fake)], secret_key=KEY)
    assert list(app.middlewares) == middlewares
    assert login.storage is storage
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    resp = await client.get("/private")
    assert resp.status == 200
    assert (await resp.json())["id"] == "alice"


@pytest.mark.parametrize("reuse", [True, False], ids=["app-session-middleware", "own-middleware"])
async def test_aiohttp_session_string_keys_never_warn(
    aiohttp_client: Any, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, reuse: bool
) -> None:
    """aiohttp warns once per process per plain-string request key, and aiohttp-session's keys
    are such strings: setup_oauth spends both warnings, so a first request under ``-W error``
    (this suite's filter) never fails, with the app's own aiohttp-session middleware too."""
    seen = set(web.BaseRequest._seen_str_keys) - {
        aiohttp_session.SESSION_KEY,
        aiohttp_session.STORAGE_KEY,
    }
    monkeypatch.setattr(web.BaseRequest, "_seen_str_keys", seen)  # as in a fresh process
    app = web.Application()
    if reuse:
        aiohttp_session.setup(app, aiohttp_session.SimpleCookieStorage())
    app.router.add_get("/private", private)
    setup_oauth(app, providers=[oidc_provider_for(fake)], secret_key=KEY)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    assert (await client.get("/private")).status == 200


def test_existing_session_middleware_refuses_a_second_storage() -> None:
    app = web.Application()
    aiohttp_session.setup(app, aiohttp_session.SimpleCookieStorage())
    before = _snapshot(app)
    with pytest.raises(ConfigurationError):
        setup_oauth(app, **_with(storage=aiohttp_session.SimpleCookieStorage()))
    assert _snapshot(app) == before


async def test_custom_storage_is_used(aiohttp_client: Any, fake: FakeProvider) -> None:
    storage = aiohttp_session.SimpleCookieStorage(cookie_name="mine")
    # secret_key still protects the login-transaction cookies
    app = build_app([oidc_provider_for(fake)], secret_key=KEY, storage=storage)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    assert "mine" in client.session.cookie_jar.filter_cookies(client.make_url("/"))
    assert (await client.get("/private")).status == 200


def test_custom_storage_without_a_key_warns_about_transaction_cookies() -> None:
    app = web.Application()
    with pytest.warns(RuntimeWarning, match="secret_key"):
        setup_oauth(app, providers=[_provider()], storage=aiohttp_session.SimpleCookieStorage())


# ---- startup log and URL helpers -------------------------------------------------------------


async def test_redirect_uris_are_logged_at_startup(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp_oauth2_login")
    app = build_app(
        [oidc_provider_for(fake), _provider("second")],
        public_url="https://app.example.com/base",
    )
    assert not [r for r in caplog.records if "redirect URI" in r.getMessage()]
    await aiohttp_client(app)
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and "redirect URI" in r.getMessage()
    ]
    assert any("https://app.example.com/base/auth/callback/fake" in line for line in lines)
    assert any("https://app.example.com/base/auth/callback/second" in line for line in lines)


async def test_redirect_uri_log_without_public_url(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp_oauth2_login")
    await aiohttp_client(build_app([oidc_provider_for(fake)]))
    lines = [r.getMessage() for r in caplog.records if "redirect URI" in r.getMessage()]
    assert any("/auth/callback/fake" in line and "public_url" in line for line in lines)


@pytest.mark.parametrize(
    ("public_url", "prefix", "base"),
    [
        ("https://example.com", "/auth", ""),
        ("https://example.com/", "/auth", ""),
        ("https://example.com/app", "/auth", "/app"),
        ("https://example.com/app/", "/sso", "/app"),
        ("http://localhost:8080/a/b", "/auth", "/a/b"),
    ],
)
def test_handle_urls_with_public_url(public_url: str, prefix: str, base: str) -> None:
    login = setup_oauth(
        web.Application(),
        providers=[_provider("x"), _provider("y")],
        secret_key=KEY,
        public_url=public_url,
        prefix=prefix,
    )
    origin = str(URL(public_url).origin())
    assert login.redirect_uri("x") == f"{origin}{base}{prefix}/callback/x"
    assert login.redirect_uri("y") == f"{origin}{base}{prefix}/callback/y"
    assert login.login_url() == f"{base}{prefix}/login"
    assert login.login_url("x") == f"{base}{prefix}/login/x"
    login_url = URL(login.login_url("x", next="/p?q=1"))
    assert login_url.path == f"{base}{prefix}/login/x"
    assert login_url.query["next"] == "/p?q=1"
    assert login.logout_url() == f"{base}{prefix}/logout"


def test_handle_urls_without_public_url() -> None:
    login = setup_oauth(web.Application(), **_with())
    assert login.login_url("x") == "/auth/login/x"
    assert login.logout_url() == "/auth/logout"
    with pytest.raises(ValueError):
        login.redirect_uri("x")


def test_handle_refuses_unknown_providers() -> None:
    login = setup_oauth(web.Application(), **_with(public_url="https://example.com"))
    with pytest.raises(UnknownProvider):
        login.login_url("nope")
    with pytest.raises(UnknownProvider):
        login.redirect_uri("nope")


# ---- the plugin's HTTP session ---------------------------------------------------------------


async def test_injected_client_session_is_used_and_not_closed(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    async with aiohttp.ClientSession() as http:
        app = build_app([oidc_provider_for(fake)], client_session=http)
        client: Client = await aiohttp_client(app)
        login = app[APP_KEY]
        assert login.http is http
        assert (await login_flow(client)).status == 303
        await client.close()
        assert not http.closed


async def test_own_client_session_is_closed_at_cleanup(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([oidc_provider_for(fake)])
    login = app[APP_KEY]
    with pytest.raises(RuntimeError):
        login.http  # noqa: B018 - not running yet
    client: Client = await aiohttp_client(app)
    http = login.http
    assert not http.closed
    assert (await login_flow(client)).status == 303
    assert login.http is http  # one session for the app's lifetime
    await client.close()
    assert http.closed
    with pytest.raises(RuntimeError):
        login.http  # noqa: B018 - stopped


# ---- on_login --------------------------------------------------------------------------------

Hook = Callable[[web.Request, User, TokenSet], Any]


async def _run_hook(make_client: MakeClient, hook: Hook) -> tuple[Client, aiohttp.ClientResponse]:
    client = await make_client(on_login=hook)
    resp = await login_flow(client, next="/private")
    return client, resp


async def _anonymous(client: Client) -> bool:
    return await who(client) is None


async def test_on_login_receives_request_user_and_token(make_client: MakeClient) -> None:
    seen: list[tuple[Any, ...]] = []

    async def hook(request: web.Request, user: User, token: TokenSet) -> None:
        seen.append((request, user, token))
        assert await get_user(request) is None  # not signed in until the hook agrees

    client, resp = await _run_hook(make_client, hook)
    assert resp.status == 303
    assert resp.headers["Location"] == "/private"
    assert len(seen) == 1
    request, user, token = seen[0]
    assert isinstance(request, web.Request)
    assert isinstance(user, User) and (user.provider, user.id) == ("fake", "alice")
    assert isinstance(token, TokenSet) and token.access_token
    assert not await _anonymous(client)


async def test_on_login_response_refuses_the_login(make_client: MakeClient) -> None:
    async def hook(request: web.Request, user: User, token: TokenSet) -> web.Response:
        return web.Response(status=403, text="members only")

    client, resp = await _run_hook(make_client, hook)
    assert resp.status == 403
    assert await resp.text() == "members only"
    assert await _anonymous(client)
    assert (await client.get("/private")).status == 401


async def test_on_login_exception_refuses_the_login(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def hook(request: web.Request, user: User, token: TokenSet) -> None:
        raise LookupError("database is down, secret=hunter2")

    client, resp = await _run_hook(make_client, hook)
    assert resp.status == 403
    assert resp.headers["Cache-Control"] == "no-store"
    assert "hunter2" not in await resp.text()
    assert await _anonymous(client)


async def test_on_login_http_exception_refuses_the_login(make_client: MakeClient) -> None:
    async def hook(request: web.Request, user: User, token: TokenSet) -> None:
        raise web.HTTPForbidden(text="nope")

    client, resp = await _run_hook(make_client, hook)
    assert resp.status == 403
    assert await _anonymous(client)


async def test_on_login_none_logs_in(make_client: MakeClient) -> None:
    client, resp = await _run_hook(make_client, _on_login)
    assert resp.status == 303
    assert not await _anonymous(client)


async def test_login_as_skips_on_login(make_client: MakeClient) -> None:
    calls: list[User] = []

    async def hook(request: web.Request, user: User, token: TokenSet) -> None:
        calls.append(user)

    client = await make_client(on_login=hook)
    await login_as(client, "alice")
    assert not await _anonymous(client)
    assert calls == []
