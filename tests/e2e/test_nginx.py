"""Behind a real nginx: the way most aiohttp apps are served (SECURITY.md L6).

nginx runs in the foreground from a config in a temp dir (pid, logs and temp paths there, a free
port, the usual ``proxy_set_header Host $host`` / ``X-Forwarded-Proto`` / ``X-Forwarded-For``
lines) in front of the app served by this process; the in-process fake provider auto-approves.
With ``public_url`` = the nginx origin, login, callback and logout work through the proxy; without
it the plugin says so, once, naming ``public_url``. nginx failing to start fails the test with
its error log.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import textwrap
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, expect
from yarl import URL

from aiohttp_oauth2_login import _guard, get_client, setup_oauth
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from ..support.app import JSON, KEY, home, private
from ..support.peers import free_port, terminate, wait_ready
from ._harness import Browser, Served, form_action
from .test_browser import CHROMIUM_ARGS, _only_loopback, chromium_context

STARTUP_TIMEOUT = 20.0


@dataclass
class Nginx:
    origin: str
    process: subprocess.Popen[bytes]
    error_log: Path

    def url(self, path: str) -> str:
        return self.origin + path


def _nginx_executable() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(
            "nginx is missing: run `make system-deps` (apt-get install nginx)", pytrace=False
        )
    return found


def _config(tmp: Path, port: int, upstream: str) -> str:
    # as root, nginx would hand its workers to 'nobody', who cannot use this private temp dir
    user = "user root;" if os.geteuid() == 0 else ""
    return textwrap.dedent(
        f"""
        {user}
        worker_processes 1;
        pid {tmp}/nginx.pid;
        error_log {tmp}/error.log info;
        events {{ worker_connections 64; }}
        http {{
            access_log {tmp}/access.log;
            client_body_temp_path {tmp}/client_body;
            proxy_temp_path {tmp}/proxy;
            fastcgi_temp_path {tmp}/fastcgi;
            uwsgi_temp_path {tmp}/uwsgi;
            scgi_temp_path {tmp}/scgi;
            server {{
                listen 127.0.0.1:{port};
                location = /nginx-ready {{ return 204; }}
                location / {{
                    proxy_pass {upstream};
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-Proto $scheme;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                }}
            }}
        }}
        """
    )


def start_nginx(tmp: Path, port: int, upstream: str) -> Nginx:
    """nginx in the foreground on ``port``, proxying to ``upstream``; waits until it answers."""
    executable = _nginx_executable()
    conf = tmp / "nginx.conf"
    conf.write_text(_config(tmp, port, upstream))
    error_log = tmp / "error.log"
    process = subprocess.Popen(
        [executable, "-p", str(tmp), "-e", str(error_log), "-c", str(conf), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    nginx = Nginx(origin=f"http://127.0.0.1:{port}", process=process, error_log=error_log)

    def ready() -> None:
        urllib.request.urlopen(nginx.url("/nginx-ready"), timeout=2).close()  # noqa: S310

    def log() -> str:
        return error_log.read_text(errors="replace")[-3000:] if error_log.exists() else "(none)"

    try:
        wait_ready(
            ready,
            errors=(urllib.error.URLError, OSError),
            process=process,
            timeout=STARTUP_TIMEOUT,
            interval=0.05,
            what="nginx",
            log=log,
        )
    except BaseException:
        terminate(process)
        raise
    return nginx


async def call(request: web.Request) -> web.Response:
    """Not protected by ``@login_required``: ``get_client`` alone asks for the login."""
    client = await get_client(request)
    return web.json_response({"provider": client.provider, "base": str(client.base_url)})


StartProxied = Callable[..., Awaitable[tuple[Nginx, Served]]]


@pytest.fixture
async def proxied(
    start_app: Any, fake_provider: FakeProvider, tmp_path: Path
) -> AsyncIterator[StartProxied]:
    """``await proxied(public=True)``: the app behind nginx, with or without ``public_url``."""
    started: list[Nginx] = []

    async def start(*, public: bool) -> tuple[Nginx, Served]:
        port = free_port()
        nginx_origin = f"http://127.0.0.1:{port}"

        async def build(origin: str) -> web.Application:
            app = web.Application()
            app.router.add_get("/", home)
            app.router.add_get("/private", private)
            app.router.add_get("/call", call)
            setup_oauth(
                app,
                providers=[oidc_provider_for(fake_provider)],
                secret_key=KEY,
                public_url=nginx_origin if public else None,
            )
            return app

        served: Served = await start_app(build)
        nginx = start_nginx(tmp_path, port, served.origin)
        started.append(nginx)
        return nginx, served

    try:
        yield start
    finally:
        for nginx in started:
            terminate(nginx.process)


@pytest.fixture(autouse=True)
def fresh_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a fresh process would: no cause warned about yet."""
    monkeypatch.setattr(_guard, "_WARNED", set())
    yield


def _plugin_warnings(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and r.levelno >= level
    ]


async def test_login_and_logout_through_nginx_with_public_url(
    proxied: StartProxied, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    nginx, served = await proxied(public=True)
    nav = await browser.navigate(nginx.url("/private"))
    start = nav.find("/auth/login/fake")
    assert start.url.origin() == URL(nginx.origin)
    authorize = start.location
    assert authorize.query["redirect_uri"] == nginx.url("/auth/callback/fake")
    callback = nav.find("/auth/callback/fake")
    assert callback.url.origin() == URL(nginx.origin) and callback.status == 303
    assert nav.last.url == URL(nginx.url("/private")) and nav.last.status == 200
    assert '"id": "alice"' in nav.last.text
    status, body = await browser.json(nginx.url("/call"))
    assert status == 200 and body["provider"] == "fake"

    confirm = (await browser.navigate(nginx.url("/auth/logout"))).last
    assert confirm.status == 200
    action = form_action(confirm)
    assert action.origin() == URL(nginx.origin)
    out = await browser.request(
        "POST", action, data={"next": "/"}, headers={"Origin": nginx.origin}
    )
    assert out.status == 303 and out.location.origin() == URL(nginx.origin)
    status, body = await browser.json(nginx.url("/private"))
    assert status == 401 and body["error"] == "login_required"
    assert _plugin_warnings(caplog) == []
    assert "/auth/callback/fake" in (nginx.error_log.parent / "access.log").read_text()


async def test_without_public_url_the_plugin_names_it_once(
    proxied: StartProxied, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    nginx, served = await proxied(public=False)
    nav = await browser.navigate(
        nginx.url("/private"), stop_at=lambda url: "redirect_uri" in url.query
    )
    # the silent failure this guards against: the provider would send the browser to port 80
    assert nav.last.location.query["redirect_uri"] == "http://127.0.0.1/auth/callback/fake"
    for _ in range(3):
        assert (await browser.json(nginx.url("/auth/login")))[0] == 200
    proxy = [line for line in _plugin_warnings(caplog) if "through a reverse proxy" in line]
    assert len(proxy) == 1, _plugin_warnings(caplog)
    assert "public_url='http://127.0.0.1'" in proxy[0]
    assert "X-Forwarded-For/X-Forwarded-Proto" in proxy[0]

    # a logout through the proxy is refused, and now says why
    out = await browser.request("POST", nginx.url("/auth/logout"), headers={"Origin": nginx.origin})
    assert out.status == 403
    # INFO: any page can make a browser send such a POST (no WARNING a visitor can flood)
    info = _plugin_warnings(caplog, logging.INFO)
    (refused,) = [line for line in info if "sign-out refused" in line]
    assert f"origin {nginx.origin} but this site's origin is http://127.0.0.1" in refused
    assert "set public_url" in refused
    status, _ = await browser.json(served.url("/call"))  # the app itself: no proxy headers
    assert status == 401
    assert (
        len([line for line in _plugin_warnings(caplog) if "through a reverse proxy" in line]) == 1
    )


@pytest.fixture
async def context(request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile that reaches 127.0.0.1 only."""
    async with chromium_context(request, args=CHROMIUM_ARGS, only=_only_loopback) as ctx:
        yield ctx


async def test_chromium_through_nginx(
    proxied: StartProxied, context: BrowserContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A real browser: ``get_client`` without a login sends it to sign in, the provider sends it
    back through nginx, and the sign-out form posts through nginx too."""
    nginx, _ = await proxied(public=True)
    page = await context.new_page()
    response = await page.goto(nginx.url("/call"))
    assert response is not None and response.status == 200
    assert page.url == nginx.url("/call")
    assert (await response.json())["provider"] == "fake"
    await page.goto(nginx.url("/auth/logout"))
    await page.locator("form button[type=submit]").first.click()
    await expect(page).to_have_url(nginx.url("/"))
    assert '"user": null' in await page.content()
    api = await context.request.get(nginx.url("/call"), headers=JSON, max_redirects=0)
    assert api.status == 401  # signed out: the same call now asks for a login
    assert _plugin_warnings(caplog) == []
