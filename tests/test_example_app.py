"""The example app, driven like a user would: real server, real dev provider sign-in page."""

from __future__ import annotations

import html
import logging
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from aiohttp_oauth2_login import User, generate_key
from aiohttp_oauth2_login.providers.facebook import GRAPH_VERSION
from aiohttp_oauth2_login.testing import login_as
from example_app import create_app, secret_keys
from example_app.__main__ import default_public_url, parse_args

from .support.app import HTML
from .support.html import find
from .support.peers import ROOT, free_port

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - only parsed, never bound
GITHUB = {"GITHUB_CLIENT_ID": "gh-id", "GITHUB_CLIENT_SECRET": "gh-secret"}


@dataclass
class Running:
    client: TestClient[web.Request, web.Application]
    origin: str


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
def start(aiohttp_server: Any, aiohttp_client: Any) -> Start:
    """``await start(environ)``: the app served on its public URL, and a browser-like client."""

    async def run(environ: Mapping[str, str] | None = None) -> Running:
        port = free_port()  # the dev provider's issuer must be the server's real URL
        origin = f"http://127.0.0.1:{port}"
        app = create_app(public_url=origin, environ=environ or {})
        server = await aiohttp_server(app, port=port)
        client = await aiohttp_client(server, cookie_jar=aiohttp.CookieJar(unsafe=True))
        return Running(client=client, origin=origin)

    return run


@pytest.fixture
async def running(start: Start) -> Running:
    return await start()


async def _sign_in(
    app: Running, *, account: str = "alice", action: str = "approve"
) -> aiohttp.ClientResponse:
    """Click "Sign in with Development sign-in", use the provider's page, follow back."""
    client = app.client
    home = await (await client.get("/", headers=HTML)).text()
    href = find(r'href="([^"]*)">Sign in with Development sign-in<', home)
    started = await client.get(href, headers=HTML, allow_redirects=False)
    assert started.status == 302
    authorize = URL(started.headers["Location"])
    assert str(authorize.origin()) == app.origin
    assert authorize.path == "/dev-provider/authorize"

    page = await client.get(authorize.path_qs, headers=HTML)
    text = await page.text()
    assert page.status == 200
    assert "Development sign-in" in text and "Never use it in production" in text
    form_action = find(r'<form method="post" action="([^"]*)"', text)
    interaction = find(r'name="interaction" value="([^"]*)"', text)
    answer = await client.post(
        form_action,
        data={"interaction": interaction, "account": account, "action": action},
        headers={**HTML, "Origin": app.origin},
        allow_redirects=False,
    )
    assert answer.status == 302
    callback = URL(answer.headers["Location"])
    assert str(callback.origin()) == app.origin
    assert callback.path == "/auth/callback/dev"
    return await client.get(callback.path_qs, headers=HTML, allow_redirects=False)


def _check_self_contained(text: str, origin: str) -> None:
    """No resource or link to another origin; nothing that loads from elsewhere."""
    assert "<script" not in text and "<img" not in text and "<link" not in text
    assert "@import" not in text and "url(" not in text
    for url in re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', text):
        url = html.unescape(url)
        if url.startswith(("http://", "https://", "//")):
            assert url.startswith(origin + "/"), url
        else:
            assert url.startswith("/"), url
            assert not url.startswith("//"), url
    for absolute in re.findall(r"https?://[^\s\"'<]+", text):
        assert absolute.startswith(origin), absolute


# ---- the offline development provider -------------------------------------------------------


async def test_home_lists_the_dev_provider(running: Running) -> None:
    resp = await running.client.get("/", headers=HTML)
    text = await resp.text()
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "aiohttp-oauth2-login example" in text
    assert "Sign in with Development sign-in" in text
    assert "Development sign-in is active" in text
    href = find(r'href="([^"]*)">Sign in with Development sign-in<', text)
    assert URL(href).path == "/auth/login/dev"
    assert URL(href).query["next"] == "/profile"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_home_warns_when_opened_at_another_local_address(running: Running) -> None:
    normal = await (await running.client.get("/", headers=HTML)).text()
    assert "Sign-in comes back to" not in normal
    port = URL(running.origin).port
    other = await running.client.get("/", headers={**HTML, "Host": f"localhost:{port}"})
    text = await other.text()
    assert "Sign-in comes back to" in text
    assert f'href="{running.origin}/"' in text
    _check_self_contained(text, running.origin)


async def test_dev_provider_is_announced(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        await start()
    assert "DEVELOPMENT SIGN-IN PROVIDER ACTIVE" in caplog.text
    assert "Never use it in production" in caplog.text
    assert "SECRET_KEY is not set" in caplog.text


async def test_profile_needs_login(running: Running) -> None:
    resp = await running.client.get("/profile", headers=HTML, allow_redirects=False)
    assert resp.status == 302
    location = URL(resp.headers["Location"])
    assert location.path == "/auth/login/dev"
    assert location.query["next"] == "/profile"

    api = await running.client.get("/api/me", headers={"Accept": "application/json"})
    assert api.status == 401
    assert (await api.json())["error"] == "login_required"


async def test_full_login_through_the_dev_sign_in_page(running: Running) -> None:
    callback = await _sign_in(running)
    assert callback.status == 303
    assert callback.headers["Location"] == "/profile"

    profile = await running.client.get("/profile", headers=HTML, allow_redirects=False)
    text = await profile.text()
    assert profile.status == 200
    assert "Alice Example" in text
    assert "alice@example.com" in text and "verified" in text
    assert "Development sign-in" in text and "<code>dev</code>" in text
    assert 'method="post" action="/auth/logout"' in text
    # get_client fetched the dev provider's userinfo as alice
    assert "From the provider's API" in text
    assert "<li>sub: alice</li>" in text
    assert "/dev-provider/userinfo</code>" in text

    home = await (await running.client.get("/", headers=HTML)).text()
    assert "Hello, Alice Example" in home
    assert "Sign in with" not in home

    api = await running.client.get("/api/me", headers={"Accept": "application/json"})
    assert api.status == 200
    assert await api.json() == {
        "provider": "dev",
        "id": "alice",
        "name": "Alice Example",
        "email": "alice@example.com",
        "email_verified": True,
        "username": "alice",
        "avatar_url": None,
    }


async def test_sign_in_as_another_account(running: Running) -> None:
    assert (await _sign_in(running, account="bob")).status == 303
    api = await running.client.get("/api/me")
    assert (await api.json())["name"] == "Bob Example"


async def test_sign_out(running: Running) -> None:
    assert (await _sign_in(running)).status == 303
    client = running.client

    refused = await client.post("/auth/logout", allow_redirects=False)  # no Origin: CSRF guard
    assert refused.status == 403
    assert (await client.get("/api/me")).status == 200

    out = await client.post(
        "/auth/logout", headers={**HTML, "Origin": running.origin}, allow_redirects=False
    )
    assert out.status == 303
    assert out.headers["Location"] == "/"

    again = await client.get("/profile", headers=HTML, allow_redirects=False)
    assert again.status == 302
    assert URL(again.headers["Location"]).path == "/auth/login/dev"
    assert (await client.get("/api/me")).status == 401
    assert "Sign in with Development sign-in" in await (await client.get("/", headers=HTML)).text()


async def test_cancel_on_the_sign_in_page(running: Running) -> None:
    callback = await _sign_in(running, action="deny")
    assert callback.status == 403
    text = await callback.text()
    assert "cancelled" in text
    again = await running.client.get("/profile", headers=HTML, allow_redirects=False)
    assert again.status == 302


# ---- pages: headers, escaping, no external resources -----------------------------------------


async def test_pages_have_security_headers_and_stay_on_this_origin(running: Running) -> None:
    client = running.client
    anonymous = await client.get("/", headers=HTML)
    _check_self_contained(await anonymous.text(), running.origin)
    await _sign_in(running)
    for path in ("/", "/profile"):
        resp = await client.get(path, headers=HTML)
        assert resp.status == 200
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        # no-referrer would make browsers send "Origin: null" with the sign-out form
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert "no-referrer" not in await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        _check_self_contained(await resp.text(), running.origin)
    api = await client.get("/api/me")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


async def test_real_provider_links_stay_relative(start: Start) -> None:
    app = await start({**GITHUB, "DEV_PROVIDER": "1"})
    text = await (await app.client.get("/", headers=HTML)).text()
    _check_self_contained(text, app.origin)


async def test_user_data_is_escaped_and_the_avatar_not_loaded(running: Running) -> None:
    evil = User(
        provider="dev",
        id="<b>id</b>",
        name='<script>alert("x")</script>',
        email='a@example.com"><img src=x onerror=alert(1)>',
        username="'onmouseover='alert(1)",
        avatar_url="https://avatars.example.net/u/1.png",
        raw={"bio": "</pre><script>alert(2)</script>"},
    )
    await login_as(running.client, evil)
    for path in ("/", "/profile"):
        text = await (await running.client.get(path, headers=HTML)).text()
        assert "<script>" not in text and "<img" not in text and "<b>id" not in text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    profile = await (await running.client.get("/profile", headers=HTML)).text()
    assert "https://avatars.example.net/u/1.png" in profile  # shown as text only
    assert 'src="' not in profile
    assert "&lt;/pre&gt;&lt;script&gt;" in profile
    assert "not verified" in profile


# ---- configuration from the environment ------------------------------------------------------


async def test_github_from_env_replaces_the_dev_provider(start: Start) -> None:
    app = await start(GITHUB)
    text = await (await app.client.get("/", headers=HTML)).text()
    assert "Sign in with GitHub" in text
    assert "Development sign-in" not in text
    gone = await app.client.get("/dev-provider/.well-known/openid-configuration")
    assert gone.status == 404

    started = await app.client.get("/auth/login/github?next=/profile", allow_redirects=False)
    assert started.status == 302
    location = URL(started.headers["Location"])
    assert str(location.with_query(None)) == "https://github.com/login/oauth/authorize"
    assert location.query["client_id"] == "gh-id"
    assert location.query["redirect_uri"] == f"{app.origin}/auth/callback/github"
    assert location.query["scope"] == "read:user user:email"


async def test_dev_provider_forced_on_alongside_real_ones(start: Start) -> None:
    app = await start({**GITHUB, "DEV_PROVIDER": "1"})
    text = await (await app.client.get("/", headers=HTML)).text()
    assert "Sign in with GitHub" in text
    assert "Sign in with Development sign-in" in text
    assert (await _sign_in(app)).status == 303


async def test_every_real_provider_from_env(start: Start) -> None:
    app = await start(
        {
            **GITHUB,
            "GOOGLE_CLIENT_ID": "g-id",
            "GOOGLE_CLIENT_SECRET": "g-secret",
            "FACEBOOK_CLIENT_ID": "f-id",
            "FACEBOOK_CLIENT_SECRET": "f-secret",
            "OIDC_ISSUER": "https://sso.example.com/realms/main",
            "OIDC_CLIENT_ID": "k-id",
            "OIDC_CLIENT_SECRET": "k-secret",
            "OIDC_NAME": "keycloak",
        }
    )
    text = await (await app.client.get("/", headers=HTML)).text()
    for title in ("GitHub", "Google", "Facebook", "Keycloak"):
        assert f"Sign in with {title}<" in text
    assert "/auth/login/keycloak?" in text
    assert "Development sign-in" not in text
    facebook = await app.client.get("/auth/login/facebook", allow_redirects=False)
    assert facebook.headers["Location"].startswith(
        f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth?"
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"DEV_PROVIDER": "0"},  # no provider at all
        {"GITHUB_CLIENT_ID": "only-the-id"},
        {"OIDC_ISSUER": "https://sso.example.com"},
        {"DEV_PROVIDER": "maybe"},
        {
            **GITHUB,
            "DEV_PROVIDER": "1",
            "OIDC_ISSUER": "https://sso.example.com",
            "OIDC_CLIENT_ID": "x",
            "OIDC_CLIENT_SECRET": "y",
            "OIDC_NAME": "dev",
        },
        {"SECRET_KEY": "not-a-key"},
    ],
)
def test_bad_configuration_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        create_app(public_url="http://127.0.0.1:8080", environ=environ)


def test_secret_keys_from_env() -> None:
    key, old = generate_key(), generate_key()
    assert secret_keys({}) == []
    assert secret_keys({"SECRET_KEY": f" {key} , {old},"}) == [key, old]
    create_app(public_url="http://127.0.0.1:8080", environ={"SECRET_KEY": f"{key},{old}"})


async def test_sessions_survive_a_restart_with_secret_key(start: Start) -> None:
    env = {"SECRET_KEY": generate_key(), **GITHUB}
    first = await start(env)
    await login_as(first.client, User(provider="github", id="42", name="Octo Cat"))
    cookies = {m.key: m.value for m in first.client.session.cookie_jar}
    second = await start(env)
    for name, value in cookies.items():
        second.client.session.cookie_jar.update_cookies(
            {name: value}, response_url=URL(second.origin)
        )
    assert (await (await second.client.get("/api/me")).json())["name"] == "Octo Cat"


# ---- command line -----------------------------------------------------------------------------


def test_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "example_app", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--port" in done.stdout and "--host" in done.stdout
    assert "DEV_PROVIDER" in done.stdout and "GITHUB_CLIENT_ID" in done.stdout


def test_arguments_and_environment() -> None:
    args = parse_args([], {})
    assert (args.host, args.port, args.public_url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")
    args = parse_args([], {"HOST": ANY_ADDRESS, "PORT": "9000"})
    assert (args.host, args.port, args.public_url) == (ANY_ADDRESS, 9000, "http://127.0.0.1:9000")
    args = parse_args(["--port", "8099"], {"PORT": "9000", "PUBLIC_URL": "https://app.example"})
    assert (args.port, args.public_url) == (8099, "https://app.example")
    assert default_public_url("::", 8080) == "http://[::1]:8080"
    with pytest.raises(SystemExit):
        parse_args(["--port", "99999"], {})
