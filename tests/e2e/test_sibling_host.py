"""Login CSRF through a sibling host, attempted in a real browser (G11, issue #10 item 2).

A host of the same site (``evil.example.test``) may set cookies for the whole registrable domain
with ``Domain=example.test``. The attacker starts a login at the real app
(``app.example.test``) with their own HTTP client, approves it at the provider as ``mallory``,
keeps the authorization response (``code``, ``state``) unused, plants the transaction cookies in
the victim's browser from the sibling host and sends the victim to the callback: without protection
the victim is now signed in as mallory (RFC 6749 §10.12, RFC 9700 §4.7). The transaction's data
cookie (``__Secure-``, ``Path=/auth/``) can be planted — Chromium stores it, which shows the attack
itself works in this setup — but it opens only with its key cookie, a ``__Host-`` cookie, which
cannot carry ``Domain=``: Chromium refuses the planted copy, and the callback finds no transaction.

Everything is served over real TLS (a throw-away CA made here) on ``*.example.test`` hostnames,
which Chromium and the attacker's client resolve to 127.0.0.1; the browser may reach nothing else.
The fake provider stays on ``http://127.0.0.1``: the app talks to it, and so does the browser in the
positive control (auto-approval: no page of the provider is shown).
"""

from __future__ import annotations

import asyncio
import datetime
import html
import json
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from playwright.async_api import BrowserContext, Page, Route, expect
from yarl import URL

from aiohttp_oauth2_login.testing import FakeAccount, FakeProvider, oidc_provider_for

from ..support.app import COOKIE
from ._harness import build_rp
from .test_browser import CHROMIUM_ARGS, TIMEOUT_MS, chromium_context, hold_in_pairs

SITE = "example.test"
APP_HOST = f"app.{SITE}"
EVIL_HOST = f"evil.{SITE}"
PROVIDER = "fake"
ACCOUNTS = [
    FakeAccount(sub="alice", name="Alice Example", email="alice@example.com"),
    FakeAccount(sub="mallory", name="Mallory Attacker", email="mallory@example.com"),
]
# the e2e flags, except that *.example.test resolves to 127.0.0.1 (and nothing else resolves)
SIBLING_ARGS = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules=")] + [
    f"--host-resolver-rules=MAP *.{SITE} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
]


# ---- TLS: a throw-away CA and one certificate for the hosts of example.test --------------------


@dataclass(frozen=True)
class Tls:
    ca_pem: bytes
    cert_file: Path
    key_file: Path

    def server(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client(self) -> ssl.SSLContext:
        """Trusts the throw-away CA only, and checks host names."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("aiohttp-oauth2-login e2e throw-away CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(APP_HOST))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(APP_HOST), x509.DNSName(EVIL_HOST)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tls(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


# ---- the sites: the app, the sibling host, the provider -----------------------------------------


@dataclass
class Plan:
    """What the sibling host's page does: the cookies it sets, where its link goes."""

    cookies: list[str] = field(default_factory=list)
    link: str = "/"


PLAN = web.AppKey("plan", Plan)


async def evil_page(request: web.Request) -> web.Response:
    plan = request.app[PLAN]
    response = web.Response(
        text="<!doctype html><title>Win a prize</title>"
        f'<a id="go" href="{html.escape(plan.link)}">Claim it</a>',
        content_type="text/html",
    )
    for cookie in plan.cookies:
        response.headers.add("Set-Cookie", cookie)
    return response


@dataclass
class Gate:
    """Holds the browser's requests to the provider's authorization endpoint while closed."""

    waiting: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 2
    open: asyncio.Event = field(default_factory=asyncio.Event)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/authorize" and not self.open.is_set():
            self.waiting += 1
            if self.waiting == self.expected:
                self.arrived.set()
            await asyncio.wait_for(self.open.wait(), TIMEOUT_MS / 1000)
        response: web.StreamResponse = await handler(request)
        return response


@dataclass
class Sites:
    fake: FakeProvider
    gate: Gate
    app_origin: str
    evil_origin: str
    evil: Plan

    def app(self, path: str) -> str:
        return self.app_origin + path


async def _serve_tls(
    runners: list[web.AppRunner], host: str, build: Any, tls: Tls
) -> tuple[str, web.Application]:
    """Bind a free port of 127.0.0.1 first (its number is in the origin), then serve https."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        origin = f"https://{host}:{sock.getsockname()[1]}"
        app = build(origin)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.SockSite(runner, sock, ssl_context=tls.server()).start()
    except BaseException:
        sock.close()
        raise
    return origin, app


@pytest.fixture
async def sites(tls: Tls) -> AsyncIterator[Sites]:
    fake, gate = FakeProvider(accounts=ACCOUNTS), Gate()
    gate.open.set()
    runners: list[web.AppRunner] = []

    def build_app(origin: str) -> web.Application:
        return build_rp(origin, [oidc_provider_for(fake, name=PROVIDER)], userinfo_path="/")

    def build_evil(origin: str) -> web.Application:
        evil = web.Application()
        evil[PLAN] = Plan()
        evil.router.add_get("/", evil_page)
        return evil

    try:
        # the provider: plain http on 127.0.0.1 (the app's client and, in the positive control,
        # the browser talk to it), behind the gate
        provider_app = fake.make_app()
        provider_app.middlewares.append(gate.middleware)
        provider = web.AppRunner(provider_app)
        await provider.setup()
        runners.append(provider)
        site = web.TCPSite(provider, "127.0.0.1", 0)
        await site.start()
        fake.issuer = f"http://127.0.0.1:{provider.addresses[0][1]}"
        app_origin, _ = await _serve_tls(runners, APP_HOST, build_app, tls)
        evil_origin, evil = await _serve_tls(runners, EVIL_HOST, build_evil, tls)
        yield Sites(fake, gate, app_origin, evil_origin, evil[PLAN])
    finally:
        gate.open.set()
        for runner in reversed(runners):
            await runner.cleanup()


# ---- the victim's browser ---------------------------------------------------------------------


async def _only_example_test(route: Route) -> None:
    host = URL(route.request.url).host or ""
    if host == "127.0.0.1" or host.endswith("." + SITE):
        await route.continue_()
    else:
        await route.abort()


@pytest.fixture
async def victim(request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium profile that reaches *.example.test (certificate errors of the
    throw-away CA ignored) and 127.0.0.1 only; screenshots of its tabs if the test failed."""
    async with chromium_context(
        request, args=SIBLING_ARGS, only=_only_example_test, ignore_https_errors=True
    ) as ctx:
        yield ctx


async def signed_in_as(page: Page, sites: Sites) -> Any:
    """The app's own answer: who this browser is signed in as (``None``: anonymous)."""
    answer = await page.goto(sites.app("/"))
    assert answer is not None and answer.status == 200
    return json.loads(await page.locator("body").inner_text())["user"]


PROTECTED_STATUS = (
    "fetch('/private', {headers: {Accept: 'application/json'}, redirect: 'manual'})"
    ".then((r) => r.status)"
)


def session_cookies(cookies: list[Any]) -> list[str]:
    """The plugin's session cookies (the session and its chunks; not transactions)."""
    return [c["name"] for c in cookies if COOKIE in c["name"] and "-tx" not in c["name"]]


# ---- the attacker -----------------------------------------------------------------------------


class ExampleTestResolver(AbstractResolver):
    """The attacker's DNS: *.example.test is 127.0.0.1, nothing else exists."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not host.endswith("." + SITE):
            raise OSError(f"{host} does not resolve in this test")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


@dataclass
class Approved:
    """A login the attacker started and approved as mallory, stopped before the callback."""

    tx_name: str  # the data cookie
    tx_value: str
    key_name: str  # the key cookie that opens it
    key_value: str
    callback: str  # the provider's redirect to the app: code, state, iss


async def attacker_login(sites: Sites, tls: Tls) -> Approved:
    connector = aiohttp.TCPConnector(resolver=ExampleTestResolver(), ssl=tls.client())
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(sites.app(f"/auth/login/{PROVIDER}"), allow_redirects=False) as start:
            assert start.status == 302, start.status
            authorize = URL(start.headers["Location"])
            ((tx_name, data),) = [(n, m) for n, m in start.cookies.items() if "-tx-" in n]
            ((key_name, key),) = [(n, m) for n, m in start.cookies.items() if "-txk-" in n]
            tx_value, key_value = data.value, key.value
        assert str(authorize).startswith(sites.fake.issuer + "/authorize?"), authorize
        async with http.get(authorize, allow_redirects=False) as page:
            text = await page.text()
        interaction = re.search(r'name="interaction" value="([^"]+)"', text)
        assert interaction is not None, text
        form = {"interaction": interaction.group(1), "username": "mallory", "action": "approve"}
        async with http.post(
            authorize.with_query(None), data=form, allow_redirects=False
        ) as approved:
            assert approved.status == 302, approved.status
            callback = approved.headers["Location"]
    assert callback.startswith(sites.app(f"/auth/callback/{PROVIDER}?")), callback
    query = URL(callback).query
    assert query["state"] == authorize.query["state"] and "code" in query
    return Approved(tx_name, tx_value, key_name, key_value, callback)


def planted(name: str, value: str, path: str) -> str:
    """A cookie for every host of example.test, as a sibling host may set it."""
    return f"{name}={value}; Domain={SITE}; Path={path}; Secure; HttpOnly; SameSite=Lax"


# ---- the tests --------------------------------------------------------------------------------


async def test_a_transaction_cookie_planted_by_a_sibling_host_signs_nobody_in(
    victim: BrowserContext, sites: Sites, tls: Tls
) -> None:
    mallory = await attacker_login(sites, tls)
    host_name = mallory.key_name  # the key cookie: __Host-, Path=/
    secure_name = mallory.tx_name  # the data cookie: __Secure-, Path=/auth/
    assert host_name.startswith(f"__Host-{COOKIE}-txk-"), host_name
    assert secure_name.startswith(f"__Secure-{COOKIE}-tx-"), secure_name
    sites.evil.cookies.extend(
        [
            planted(host_name, mallory.key_value, "/"),
            planted(secure_name, mallory.tx_value, "/auth/"),
        ]
    )
    sites.evil.link = mallory.callback

    page = await victim.new_page()
    # what Chromium says about the cookies of each response (DevTools protocol)
    blocked: dict[str, list[str]] = {}
    evil_answered = asyncio.Event()

    def on_extra_info(event: dict[str, Any]) -> None:
        for entry in event.get("blockedCookies", []):
            blocked[entry["cookieLine"].partition("=")[0]] = entry["blockedReasons"]
        if any(name in event.get("headersText", "") for name in (host_name, secure_name)):
            evil_answered.set()

    devtools = await victim.new_cdp_session(page)
    devtools.on("Network.responseReceivedExtraInfo", on_extra_info)
    await devtools.send("Network.enable")
    await page.goto(sites.evil_origin + "/")
    await asyncio.wait_for(evil_answered.wait(), TIMEOUT_MS / 1000)
    stored = {c["name"]: c for c in await victim.cookies()}
    # Chromium refuses a __Host- cookie with Domain= (RFC 6265bis §4.1.3.2) ...
    assert host_name not in stored, stored[host_name]
    assert blocked == {host_name: ["InvalidPrefix"]}, blocked
    # ... and stores the __Secure- data cookie: the vector is real in this browser
    assert secure_name in stored, sorted(stored)
    assert stored[secure_name]["domain"] == "." + SITE
    assert stored[secure_name]["path"] == "/auth/"

    # the sibling page sends the victim to the callback with mallory's code and state
    callback = sites.app(f"/auth/callback/{PROVIDER}?")
    async with page.expect_navigation() as landed:
        async with page.expect_response(lambda r: r.url.startswith(callback)) as answer:
            await page.locator("#go").click()
    status = (await answer.value).status
    await landed.value  # the callback's own page, or where its redirect leads
    landed_at, title = page.url, await page.title()
    user = await signed_in_as(page, sites)
    cookies = await victim.cookies()
    assert (status, user) == (400, None), (
        f"the victim is signed in as {user!r}: the callback answered {status} and the browser "
        f"landed at {landed_at}; session cookies {session_cookies(cookies)}"
    )
    assert landed_at.startswith(callback) and title == "Sign-in failed", (landed_at, title)
    assert session_cookies(cookies) == []
    # a protected page, fetched by the browser from the app's origin (with its cookies)
    private = await page.evaluate(PROTECTED_STATUS)
    assert private == 401, private
    assert sites.fake.calls["token"] == 0  # mallory's code was never even redeemed


async def test_the_victims_own_logins_in_two_tabs_at_once(
    victim: BrowserContext, sites: Sites
) -> None:
    """Positive control: over https, transaction cookies work in Chromium, one data cookie
    (``__Secure-``, ``Path=/auth/``) and one ``__Host-`` key cookie (``Path=/``, no ``Domain``)
    per transaction. Two tabs start a login at the same moment (both requests held until the
    other one is there, so neither carries the other's cookies); at the provider (held too:
    auto-approval) the browser holds both pairs; both logins complete."""
    sites.fake.auto_approve = True  # as alice, without a page of the provider
    sites.gate.open.clear()
    login = sites.app(f"/auth/login/{PROVIDER}?")
    held = await hold_in_pairs(victim, login)
    first, second = await victim.new_page(), await victim.new_page()
    navigations = asyncio.gather(
        first.goto(sites.app(f"/auth/login/{PROVIDER}?next=/private?tab=1")),
        second.goto(sites.app(f"/auth/login/{PROVIDER}?next=/private?tab=2")),
    )
    try:
        await asyncio.wait_for(sites.gate.arrived.wait(), TIMEOUT_MS / 1000)
        held_cookies = await victim.cookies()
        txs = [c for c in held_cookies if f"{COOKIE}-tx-" in c["name"]]
        keys = [c for c in held_cookies if f"{COOKIE}-txk-" in c["name"]]
    finally:
        sites.gate.open.set()
        answers = await navigations
    assert len(held) == 2
    assert len(txs) == 2 and len(keys) == 2, (txs, keys)  # one pair per transaction
    for cookie in txs + keys:
        data = "-tx-" in cookie["name"]
        prefix = f"__Secure-{COOKIE}-tx-" if data else f"__Host-{COOKIE}-txk-"
        assert cookie["name"].startswith(prefix), cookie
        assert cookie["domain"] == APP_HOST, cookie  # host-only
        assert cookie["path"] == ("/auth/" if data else "/"), cookie
        assert cookie["secure"] and cookie["httpOnly"], cookie
        assert cookie["sameSite"] == "Lax", cookie

    for tab, (page, answer) in enumerate(zip((first, second), answers, strict=True), start=1):
        assert answer is not None and answer.status == 200, answer and answer.status
        await expect(page).to_have_url(sites.app(f"/private?tab={tab}"))
        await expect(page.locator("body")).to_contain_text('"id": "alice"')
    assert sites.fake.calls["token"] == 2
    cookies = await victim.cookies()
    assert [c["name"] for c in cookies if "-tx" in c["name"]] == []  # both consumed
    assert session_cookies(cookies) == [f"__Host-{COOKIE}"]
    assert await signed_in_as(first, sites) == "alice"
