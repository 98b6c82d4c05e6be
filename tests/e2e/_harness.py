"""The e2e harness: peer processes, apps served on real ports, and a browser made of aiohttp.

Every server binds 127.0.0.1 on a port the OS picks; peers print their issuer on their first
line of output and are stopped by PID. Issuers are exact strings: ``http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import json
import re
import select
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from yarl import URL

from aiohttp_oauth2_login import get_client, get_user, login_required, setup_oauth
from aiohttp_oauth2_login.providers import Provider

from ..support.app import HTML, JSON, KEY, home, session_tokens, user_json
from ..support.html import find
from ..support.peers import ROOT, require_executable, terminate, wait_ready

E2E = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts"
NODE_MODULES = E2E / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")

STARTUP_TIMEOUT = 30.0  # seconds for a peer to print its issuer and answer discovery


# ---- peers ------------------------------------------------------------------------------------


def require_node_peers() -> str:
    """The ``node`` executable, with the JS peers installed; a loud failure otherwise."""
    node = require_executable(
        "node",
        "the e2e tests need Node.js 20+ and npm for their JS peers (oidc-provider, "
        "oauth2-mock-server): install them (Debian: apt-get install nodejs npm), then run "
        "`make node-deps`",
    )
    for package in ("oidc-provider", "oauth2-mock-server"):
        if not (NODE_MODULES / package / "package.json").is_file():
            pytest.fail(
                f"tests/e2e/node_modules/{package} is missing: run `make node-deps` "
                "(npm ci in tests/e2e; `make test` does it)",
                pytrace=False,
            )
    return node


def require_chromium() -> str:
    """Debian's Chromium (never a Playwright-downloaded browser); a loud failure otherwise."""
    return require_executable(
        str(CHROMIUM),
        f"{CHROMIUM} is missing: run `make system-deps` (apt-get install chromium); "
        "never `playwright install`",
    )


def _http_json(
    method: str, url: str, body: Mapping[str, Any] | None = None, timeout: float = 10.0
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


@dataclass
class Peer:
    """A running authorization server: its process, issuer and log file."""

    name: str
    process: subprocess.Popen[bytes]
    issuer: str
    log: Path

    def url(self, path: str) -> str:
        return self.issuer + path

    def control(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """A test-only control route of the peer (see its script)."""
        return _http_json(method, self.url(path), body)

    def discovery(self) -> dict[str, Any]:
        doc: dict[str, Any] = _http_json("GET", self.url("/.well-known/openid-configuration"))
        return doc

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a peer by its PID: close its stdin (it exits), then SIGTERM, then SIGKILL."""
    try:
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            pass
        terminate(process)
    finally:
        if process.stdout is not None:
            process.stdout.close()


def start_peer(name: str, argv: list[str]) -> Peer:
    """Start a peer script; it prints ``{"issuer": ..., "port": ...}`` once it listens."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"peer-{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=E2E,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
        line = process.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(
                f"peer {name} did not start (exit code {process.poll()}); see {log}:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        issuer = json.loads(line)["issuer"]
        peer = Peer(name=name, process=process, issuer=issuer, log=log)
        doc = wait_ready(
            peer.discovery,
            errors=(urllib.error.URLError, OSError, ValueError),
            process=process,
            timeout=STARTUP_TIMEOUT,
            interval=0.05,
            what=f"peer {name}",
            log=lambda: log.read_text(errors="replace")[-3000:],
        )
        assert doc["issuer"] == peer.issuer, doc["issuer"]
        return peer
    except BaseException:
        stop_process(process)
        raise


# ---- apps on real ports -----------------------------------------------------------------------


@dataclass
class Served:
    """An aiohttp application listening on 127.0.0.1."""

    origin: str
    app: web.Application
    runner: web.AppRunner

    def url(self, path: str) -> str:
        return self.origin + path


BuildApp = Callable[[str], Awaitable[web.Application]]


async def serve(build: BuildApp) -> Served:
    """Bind a free port first (its number goes into ``public_url`` and the redirect URIs),
    then build the app for that origin and serve it on the already bound socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = await build(origin)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        raise
    return Served(origin=origin, app=app, runner=runner)


# ---- the relying party under test -------------------------------------------------------------

USERINFO_PATH_KEY = web.AppKey("userinfo_path", str)


@login_required
async def private(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({**user_json(user), "raw": dict(user.raw)})


@login_required
async def call_userinfo(request: web.Request) -> web.Response:
    """``get_client`` calling the provider's userinfo endpoint as the user; shows the tokens
    the client ended up with (test-only)."""
    client = await get_client(request)
    async with client.get(request.app[USERINFO_PATH_KEY]) as resp:
        body = await resp.json(content_type=None) if resp.status == 200 else None
        status = resp.status
    return web.json_response(
        {
            "status": status,
            "body": body,
            "access_token": client.token.access_token,
            "refresh_token": client.token.refresh_token,
        }
    )


def build_rp(
    origin: str, providers: list[Provider], *, userinfo_path: str, **options: Any
) -> web.Application:
    """The app the e2e tests sign in to: ``/``, ``/private`` (login required), ``/api/...``."""
    app = web.Application()
    app[USERINFO_PATH_KEY] = userinfo_path
    app.router.add_get("/", home)
    app.router.add_get("/private", private)
    app.router.add_get("/api/userinfo", call_userinfo)
    app.router.add_get("/api/tokens", session_tokens)
    options.setdefault("secret_key", KEY)
    setup_oauth(app, providers=providers, public_url=origin, **options)
    return app


# ---- a browser made of aiohttp ----------------------------------------------------------------


@dataclass
class Hop:
    """One request of a navigation and its answer."""

    method: str
    url: URL
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def location(self) -> URL:
        return self.url.join(URL(self.headers["Location"]))


@dataclass
class Navigation:
    hops: list[Hop] = field(default_factory=list)

    @property
    def last(self) -> Hop:
        return self.hops[-1]

    def find(self, path: str) -> Hop:
        """The (first) hop whose URL path is ``path``."""
        for hop in self.hops:
            if hop.url.path == path:
                return hop
        raise AssertionError(f"no request to {path}: {[str(h.url) for h in self.hops]}")


class Browser:
    """What a browser does for these flows: cookies (IP hosts too), redirects, forms.

    Redirects are followed one by one so that a test sees every hop (the provider's redirect to
    the callback, the callback's answer).
    """

    def __init__(self) -> None:
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # the default ignores IP-address hosts
            headers={**HTML, "User-Agent": "aiohttp-oauth2-login e2e"},
        )

    async def close(self) -> None:
        await self.http.close()

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Hop:
        url = URL(url)
        async with self.http.request(
            method, url, data=data, headers=headers, allow_redirects=False
        ) as resp:
            text = await resp.text(errors="replace")
            return Hop(method, url, resp.status, resp.headers, text)

    async def navigate(
        self,
        url: str | URL,
        *,
        method: str = "GET",
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stop_at: Callable[[URL], bool] | None = None,
        max_hops: int = 20,
    ) -> Navigation:
        """Request ``url`` and follow redirects like a browser; ``stop_at`` leaves a redirect
        to a matching URL unfollowed (its hop is the last one)."""
        nav = Navigation()
        for _ in range(max_hops):
            hop = await self.request(method, url, data=data, headers=headers)
            nav.hops.append(hop)
            if hop.status not in (301, 302, 303, 307, 308) or "Location" not in hop.headers:
                return nav
            url = hop.location
            if stop_at is not None and stop_at(url):
                return nav
            if hop.status in (301, 302, 303):
                method, data = "GET", None
            headers = None
        raise AssertionError(f"too many redirects: {[str(h.url) for h in nav.hops]}")

    async def json(self, url: str | URL) -> tuple[int, Any]:
        """An API call (``Accept: application/json``): status and parsed body."""
        hop = await self.request("GET", url, headers=JSON)
        try:
            return hop.status, json.loads(hop.text)
        except ValueError:
            return hop.status, hop.text

    def cookie(self, name: str) -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None


# ---- HTML forms -------------------------------------------------------------------------------


def form_action(page: Hop, form_id: str | None = None) -> URL:
    """The absolute action URL of the page's (first, or ``id``-named) form."""
    if form_id is None:
        action = find(r'<form[^>]*action="([^"]*)"', page.text)
    else:
        action = find(rf'<form[^>]*id="{re.escape(form_id)}"[^>]*action="([^"]*)"', page.text)
    return page.url.join(URL(action))


def hidden(page: Hop, name: str) -> str:
    return find(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page.text)
