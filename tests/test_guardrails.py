"""Guardrails for mistakes that used to fail silently (SECURITY.md L6): a proxy or a second host
name without ``public_url``, a refused logout, redirect URIs hidden by unconfigured logging, a
``Secure`` session cookie on an http site, ``get_client`` without a login, ``get_user`` outside
the sub-app that has the login, and ``@login_required`` on a plain ``def``."""

from __future__ import annotations

import functools
import logging
import os
import select
import subprocess
import sys
import textwrap
import time
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import (
    ConfigurationError,
    ReauthenticationRequired,
    _guard,
    get_client,
    get_user,
    login_required,
    logout,
    require_login,
    setup_oauth,
)
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import login_as

from .support.app import CONTROL, HTML, JSON, KEY, build_app, home
from .support.peers import ROOT


def _provider(name: str = "fake") -> OIDCProvider:
    """A provider that is never contacted by these tests (no discovery before a login starts)."""
    return OIDCProvider(
        name=name, issuer=f"https://{name}.example", client_id="cid", client_secret="csecret"
    )


@pytest.fixture(autouse=True)
def fresh_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh process would: no cause warned about yet."""
    monkeypatch.setattr(_guard, "_WARNED", set())


def _infos(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and r.levelno == logging.INFO and text in r.getMessage()
    ]


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login"
        and r.levelno == logging.WARNING
        and text in r.getMessage()
    ]


# ---- a reverse proxy or a second host name without public_url ---------------------------------


async def test_forwarding_headers_without_public_url_warn_once(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()]))
    proxied = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "app.example.com",
    }
    for _ in range(3):
        assert (await client.get("/auth/login", headers={**proxied, **JSON})).status == 200
    found = _warnings(caplog, "reverse proxy")
    assert len(found) == 1, found
    assert "public_url='https://app.example.com'" in found[0]
    assert "X-Forwarded-For/X-Forwarded-Proto/X-Forwarded-Host" in found[0]


async def test_the_login_redirect_checks_too_but_other_routes_do_not(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()]))
    proxied = {"Forwarded": "for=203.0.113.9;proto=https;host=shop.example.org"}
    assert (await client.get("/", headers=proxied)).status == 200  # the app's own route
    assert _warnings(caplog, "reverse proxy") == []
    resp = await client.get("/private", headers={**proxied, **HTML}, allow_redirects=False)
    assert resp.status == 302
    found = _warnings(caplog, "reverse proxy")
    assert len(found) == 1 and "public_url='https://shop.example.org'" in found[0]


async def test_forwarding_headers_with_public_url_are_expected(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()], public_url="http://127.0.0.1:8080"))
    headers = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1", "Host": "127.0.0.1"}
    assert (await client.get("/auth/login", headers={**headers, **JSON})).status == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_host_other_than_public_url_warns_once(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()], public_url="http://localhost:8080"))
    for _ in range(2):
        await client.get("/auth/login", headers={"Host": "127.0.0.1:8080", **JSON})
    found = _warnings(caplog, "public_url is http://localhost:8080")
    assert len(found) == 1, found
    assert "host 127.0.0.1" in found[0] and "proxy_set_header Host $host" in found[0]


async def test_two_host_names_without_public_url_warn_once(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()]))
    await client.get("/auth/login", headers={"Host": "localhost:8080", **JSON})
    assert _warnings(caplog, "reached as") == []
    for _ in range(2):
        await client.get("/auth/login", headers={"Host": "127.0.0.1:8080", **JSON})
    found = _warnings(caplog, "reached as")
    assert len(found) == 1
    assert "localhost and as 127.0.0.1" in found[0]
    assert "public_url='http://127.0.0.1:8080'" in found[0]


async def test_forged_proxy_headers_are_quoted_safely_never_used(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(build_app([_provider()]))
    headers = {"X-Forwarded-Host": "evil.example/<script>", "X-Forwarded-Proto": "javascript"}
    resp = await client.get("/private", headers={**headers, **HTML}, allow_redirects=False)
    assert resp.headers["Location"].startswith("/auth/login/fake?next=")  # built from the app
    (line,) = _warnings(caplog, "reverse proxy")
    assert "public_url='https://<the host browsers use>'" in line
    assert "evil" not in line and not CONTROL.search(line)


# ---- a refused logout says why -----------------------------------------------------------------


async def test_logout_from_another_origin_logs_why(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    client = await aiohttp_client(build_app([_provider()], public_url="http://localhost:8080"))
    await login_as(client, "alice")
    resp = await client.post("/auth/logout", headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    (line,) = _infos(caplog, "sign-out refused")  # INFO: any site can make browsers send it
    assert "origin https://evil.example" in line
    assert "http://localhost:8080 (from public_url)" in line
    assert await (await client.get("/")).json() == {"user": "alice"}


async def test_logout_without_origin_logs_why_naming_public_url(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    client = await aiohttp_client(build_app([_provider()]))
    resp = await client.post("/auth/logout", skip_auto_headers=["Origin"])
    assert resp.status == 403
    (line,) = _infos(caplog, "sign-out refused")
    assert "there is no Origin header" in line and "Sec-Fetch-Site" in line
    assert "set public_url" in line


# ---- redirect URIs are visible with default logging --------------------------------------------

_SCRIPT = """
import logging, sys
from aiohttp import web
from aiohttp_oauth2_login import setup_oauth
from aiohttp_oauth2_login.providers import OIDCProvider

mode = sys.argv[1]
if mode == "warning":
    logging.basicConfig(level=logging.WARNING)
elif mode == "info":
    logging.basicConfig(level=logging.INFO)
app = web.Application()
setup_oauth(
    app,
    providers=[OIDCProvider(name="corp", issuer="https://sso.example", client_id="c",
                            client_secret="s")],
    secret_key=sys.argv[2],
    public_url="http://localhost:8080",
)
web.run_app(app, host="127.0.0.1", port=0)
"""
_URI_LINE = "redirect URI to register for corp: http://localhost:8080/auth/callback/corp"


def _run_app_until_started(mode: str) -> str:
    """Run the tiny app with ``web.run_app`` until it says it is running; its stderr so far."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT), mode, KEY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = b"", b""
    deadline = time.monotonic() + 30
    try:
        while b"Running on" not in out:  # aiohttp prints it once startup (our hook) is done
            left = deadline - time.monotonic()
            assert left > 0 and process.poll() is None, (out, err)
            ready, _, _ = select.select([process.stdout, process.stderr], [], [], left)
            for stream in ready:
                chunk = os.read(stream.fileno(), 65536)
                if stream is process.stdout:
                    out += chunk
                else:
                    err += chunk
    finally:
        process.terminate()
        rest_out, rest_err = process.communicate(timeout=10)
    return (err + rest_err).decode()


def test_redirect_uris_reach_stderr_when_logging_is_not_configured() -> None:
    err = _run_app_until_started("none")
    assert err.count(_URI_LINE) == 1, err


def test_configured_logging_decides_alone() -> None:
    assert _URI_LINE not in _run_app_until_started("warning")  # WARNING chosen: nothing extra
    err = _run_app_until_started("info")
    assert err.count(_URI_LINE) == 1, err  # through logging, once
    assert f"INFO:aiohttp_oauth2_login:{_URI_LINE}" in err


# ---- a Secure session cookie on an http site -----------------------------------------------------


def test_a_secure_storage_on_an_http_public_url_is_refused() -> None:
    app = web.Application()
    storage = aiohttp_session.SimpleCookieStorage(secure=True)
    with pytest.raises(ConfigurationError, match="secure=True") as caught:
        setup_oauth(
            app,
            providers=[_provider()],
            secret_key=KEY,
            storage=storage,
            public_url="http://localhost:8080",
        )
    assert "secure=False" in str(caught.value) and "https public_url" in str(caught.value)
    assert APP_KEY not in app and not app.middlewares  # nothing was touched


def test_a_reused_secure_session_middleware_on_http_is_refused() -> None:
    app = web.Application()
    aiohttp_session.setup(app, aiohttp_session.SimpleCookieStorage(secure=True))
    with pytest.raises(ConfigurationError, match="every sign-in would loop"):
        setup_oauth(
            app, providers=[_provider()], secret_key=KEY, public_url="http://127.0.0.1:8080"
        )


@pytest.mark.parametrize(
    ("secure", "public_url", "expected"),
    [
        (True, None, "works only if browsers reach the site over https"),
        (False, "https://app.example.com", "create the storage with secure=True"),
    ],
)
def test_cookie_security_that_may_be_wrong_warns(
    caplog: pytest.LogCaptureFixture, secure: bool, public_url: str | None, expected: str
) -> None:
    storage = aiohttp_session.SimpleCookieStorage(secure=secure)
    setup_oauth(
        web.Application(),
        providers=[_provider()],
        secret_key=KEY,
        storage=storage,
        public_url=public_url,
    )
    assert len(_warnings(caplog, expected)) == 1


def test_the_plugins_own_storages_never_warn(caplog: pytest.LogCaptureFixture) -> None:
    for public_url in (None, "http://localhost:8080", "https://app.example.com"):
        setup_oauth(
            web.Application(), providers=[_provider()], secret_key=KEY, public_url=public_url
        )
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# ---- get_client without a login ------------------------------------------------------------------


async def _client_or_reauth(request: web.Request) -> web.Response:
    await get_client(request)
    return web.Response(text="client")  # pragma: no cover - nobody is signed in


class ClientView(web.View):
    async def get(self) -> web.Response:
        await get_client(self.request)
        return web.Response(text="client")  # pragma: no cover


@pytest.mark.parametrize("path", ["/call", "/call-view"])
async def test_get_client_without_a_login_is_the_login_redirect(
    aiohttp_client: Any, path: str
) -> None:
    app = build_app([_provider()])
    app.router.add_get("/call", _client_or_reauth)
    app.router.add_view("/call-view", ClientView)
    client = await aiohttp_client(app)
    resp = await client.get(path + "?x=1", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    location = URL(resp.headers["Location"])
    assert location.path == "/auth/login/fake" and location.query["next"] == path + "?x=1"
    resp = await client.get(path, headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"


async def test_get_client_without_a_login_is_still_a_reauthentication_required(
    aiohttp_client: Any,
) -> None:
    caught: list[BaseException] = []

    async def handler(request: web.Request) -> web.Response:
        try:
            await get_client(request, "fake")
        except ReauthenticationRequired as exc:
            caught.append(exc)
            return web.Response(text="reauth")
        return web.Response(text="client")  # pragma: no cover

    app = build_app([_provider()])
    app.router.add_get("/x", handler)
    client = await aiohttp_client(app)
    assert await (await client.get("/x")).text() == "reauth"
    (exc,) = caught
    assert exc.error == "login_required"


# ---- get_user in a handler outside the sub-app with the login -----------------------------------


def _root_with_login_below(*extra: str) -> web.Application:
    root = web.Application()
    root.router.add_get("/", home)
    for prefix in ("/api", *extra):
        api = web.Application()
        setup_oauth(
            api, providers=[_provider()], secret_key=KEY, public_url="http://127.0.0.1:8080"
        )
        root.add_subapp(prefix, api)
    return root


@login_required
async def root_private(request: web.Request) -> web.Response:
    user = await require_login(request)
    return web.json_response({"user": user.id})


@login_required
class RootView(web.View):
    async def get(self) -> web.Response:
        user = await get_user(self.request)
        return web.json_response({"user": user.id if user else None})


async def test_get_user_in_the_root_app_finds_the_login_below(aiohttp_client: Any) -> None:
    root = _root_with_login_below()
    root.router.add_get("/private", root_private)
    root.router.add_view("/view", RootView)
    client = await aiohttp_client(root)
    assert await (await client.get("/")).json() == {"user": None}
    resp = await client.get("/private", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/api/auth/login/fake?next=/private"
    await login_as(client, "alice")
    assert await (await client.get("/")).json() == {"user": "alice"}
    assert await (await client.get("/private")).json() == {"user": "alice"}
    assert await (await client.get("/view")).json() == {"user": "alice"}


async def test_what_cannot_work_outside_the_sub_app_names_the_cause(aiohttp_client: Any) -> None:
    async def root_logout(request: web.Request) -> web.Response:
        try:
            await logout(request)
        except RuntimeError as exc:
            return web.Response(text=str(exc))
        return web.Response(text="signed out")  # pragma: no cover

    async def root_client(request: web.Request) -> web.Response:
        try:
            await get_client(request)
        except RuntimeError as exc:
            return web.Response(text=str(exc))
        return web.Response(text="client")  # pragma: no cover

    root = _root_with_login_below()
    root.router.add_post("/logout", root_logout)
    root.router.add_get("/client", root_client)
    client = await aiohttp_client(root)
    await login_as(client, "alice")
    for method, path, what in (("POST", "/logout", "logout()"), ("GET", "/client", "get_client()")):
        text = await (await client.request(method, path)).text()
        assert text.startswith(f"{what} cannot save the session"), text
        assert "its login is at /api/auth/login" in text
    assert await (await client.get("/")).json() == {"user": "alice"}  # still signed in


async def test_several_logins_below_name_them(aiohttp_client: Any) -> None:
    async def probe(request: web.Request) -> web.Response:
        try:
            await get_user(request)
        except RuntimeError as exc:
            return web.Response(text=str(exc))
        return web.Response(text="found")  # pragma: no cover

    root = _root_with_login_below("/admin")
    root.router.add_get("/probe", probe)
    client = await aiohttp_client(root)
    for _ in range(2):  # the second answer comes from the cache
        text = await (await client.get("/probe")).text()
        assert "'/api', '/admin'" in text and "ambiguous" in text


async def test_no_login_anywhere_says_call_setup_oauth(aiohttp_client: Any) -> None:
    async def probe(request: web.Request) -> web.Response:
        try:
            await get_user(request)
        except RuntimeError as exc:
            return web.Response(text=str(exc))
        return web.Response(text="found")  # pragma: no cover

    app = web.Application()
    app.router.add_get("/probe", probe)
    client = await aiohttp_client(app)
    assert (
        "call aiohttp_oauth2_login.setup_oauth(app, ...) first"
        in await (await client.get("/probe")).text()
    )


# ---- @login_required on a plain def --------------------------------------------------------------


def test_a_sync_handler_is_refused_at_decoration() -> None:
    def profile(request: web.Request) -> web.Response:  # pragma: no cover
        return web.Response()

    with pytest.raises(TypeError, match="profile is a plain function"):
        login_required(profile)
    with pytest.raises(TypeError, match="'async def profile"):
        login_required(providers=("fake",))(profile)


def test_a_view_with_a_sync_method_is_refused_and_left_unchanged() -> None:
    class Page(web.View):
        async def get(self) -> web.Response:  # pragma: no cover
            return web.Response()

        def post(self) -> web.Response:  # pragma: no cover
            return web.Response()

    get = Page.get
    with pytest.raises(TypeError, match=r"Page\.post is a plain function"):
        login_required(Page)
    assert Page.get is get  # nothing half-decorated


def test_async_callables_are_accepted() -> None:
    async def handler(request: web.Request, extra: int) -> web.Response:  # pragma: no cover
        return web.Response()

    class Handler:
        async def __call__(self, request: web.Request) -> web.Response:  # pragma: no cover
            return web.Response()

    assert callable(login_required(functools.partial(handler, extra=1)))
    assert callable(login_required(Handler()))
