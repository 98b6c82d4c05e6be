"""Log hygiene (G13, G21): no secret in any log record of any logger, ever.

The app runs on a real aiohttp server with the access log on (``RedactingAccessLogger``,
``aiohttp.access`` at DEBUG) and every logger at DEBUG (the root logger, captured by
``caplog``). A browser (with ``Referer`` headers as careless as a browser may send) signs in
through the fake provider, calls the provider's API through ``get_client`` after the access
token expired (a refresh), signs out with RP-initiated logout, and goes through the failure
cases: a bad state, ``token_error``, ``id_token_wrong_nonce``, ``userinfo_401``, ``revoke_500``.

Every secret the flow handled is collected from where it really was (the fake provider's
recorded authorization, token and logout requests, the tokens it issued, every cookie value
the app set, the secret key and the client secret) and searched for in every record: message,
arguments, formatted traceback, and the captured text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import RedactingAccessLogger, get_client
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from .support.app import KEY, build_app

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # \t and \n appear in tracebacks


async def _me(request: web.Request) -> web.Response:
    """Calls the provider's API as the signed-in user (refreshes an expired access token)."""
    client = await get_client(request)
    async with client.get("/api/me") as resp:
        return web.json_response(await resp.json(), status=resp.status)


@dataclass
class Browser:
    """A real server with the redacting access log, and a browser with a cookie jar."""

    base: URL
    http: aiohttp.ClientSession
    fake: FakeProvider
    cookies: set[str] = field(default_factory=set)
    id_tokens: list[str] = field(default_factory=list)

    async def get(self, url: str | URL, *, referer: str | None = None) -> aiohttp.ClientResponse:
        headers = {"Referer": referer} if referer else {}
        target = url if isinstance(url, URL) else self.base.join(URL(url, encoded=True))
        resp = await self.http.get(target, allow_redirects=False, headers=headers)
        await resp.read()
        self._remember(resp)
        return resp

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        resp = await self.http.post(self.base.join(URL(path)), allow_redirects=False, **kwargs)
        await resp.read()
        self._remember(resp)
        return resp

    def _remember(self, resp: aiohttp.ClientResponse) -> None:
        self.cookies.update(m.value for m in resp.cookies.values() if m.value)
        self.cookies.update(m.value for m in self.http.cookie_jar if m.value)

    async def login(self) -> aiohttp.ClientResponse:
        """Login route → provider → callback, with the Referer headers a browser could send."""
        start = await self.get("/auth/login/fake", referer=str(self.base.join(URL("/private"))))
        assert start.status == 302
        authorize = start.headers["Location"]
        answer = await self.get(URL(authorize, encoded=True), referer=str(self.base))
        callback = answer.headers["Location"]
        return await self.get(URL(callback, encoded=True), referer=authorize)

    def secrets(self) -> list[str]:
        """Everything secret the flow handled so far."""
        fake = self.fake
        values = [fake.client_secret, KEY, KEY.rstrip("=")]
        for request in fake.authorize_requests:
            values += [request.get(k, "") for k in ("state", "nonce", "code_challenge")]
        for request in fake.token_requests:
            values += [request.get(k, "") for k in ("code", "code_verifier", "refresh_token")]
        for request in fake.logout_requests:
            values += [request.get(k, "") for k in ("id_token_hint", "state")]
        values += list(fake._access_tokens) + list(fake._refresh_tokens)
        values += list(self.cookies) + self.id_tokens
        values += [token.rsplit(".", 1)[-1] for token in self.id_tokens]  # the signature alone
        found = {v for v in values if len(v) >= 8}
        found |= {v[:16] for v in found if len(v) >= 32 and not v.startswith("eyJ")}
        return sorted(found)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger of every library
    access = logging.getLogger("aiohttp.access")
    level = access.level
    access.setLevel(logging.DEBUG)
    yield caplog
    access.setLevel(level)


@pytest.fixture
async def browser(fake: FakeProvider, all_logs: pytest.LogCaptureFixture) -> AsyncIterator[Browser]:
    issued: list[str] = []
    mint = fake._id_token

    def record_id_token(*args: Any, **kwargs: Any) -> str | None:
        token = mint(*args, **kwargs)
        if token is not None:
            issued.append(token)
        return token

    fake._id_token = record_id_token  # type: ignore[method-assign]
    app = build_app([oidc_provider_for(fake, rp_initiated_logout=True)])
    app.router.add_get("/me", _me)
    runner = web.AppRunner(
        app,
        access_log_class=RedactingAccessLogger,
        access_log=logging.getLogger("aiohttp.access"),
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(URL(f"http://127.0.0.1:{port}"), http, fake, id_tokens=issued)
    await runner.cleanup()


def _assert_no_secret(caplog: pytest.LogCaptureFixture, browser: Browser) -> None:
    secrets = browser.secrets()
    assert len(secrets) > 10  # the collection itself works
    access_lines = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert access_lines, "the access log is not on"
    for record in caplog.records:
        texts = [record.getMessage(), repr(record.args)]
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            texts.append(record.exc_text)
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{record.name}: {text!r} holds a secret"
        if record.name.startswith(("aiohttp_oauth2_login", "aiohttp.access")):
            assert not _CONTROL.search(record.getMessage()), record.getMessage()
    for secret in secrets:
        assert secret not in caplog.text


async def test_login_refresh_and_logout(
    browser: Browser, fake: FakeProvider, all_logs: pytest.LogCaptureFixture
) -> None:
    done = await browser.login()
    assert done.status == 303
    await browser.get("/", referer=str(done.url))  # the worst Referer: the callback URL
    assert (await browser.get("/me")).status == 200
    fake.expire_access_tokens()
    refreshed = await browser.get("/me")
    assert refreshed.status == 200
    assert fake.calls["refresh"] == 1
    assert (await browser.get("/auth/logout")).status == 200
    out = await browser.post("/auth/logout", headers={"Origin": str(browser.base)})
    assert out.status == 303
    end_session = out.headers["Location"]
    assert "id_token_hint" in end_session
    back = await browser.get(URL(end_session, encoded=True), referer=str(browser.base))
    returned = await browser.get(URL(back.headers["Location"], encoded=True), referer=end_session)
    assert returned.status == 303
    assert fake.calls["revoke"] == 1
    assert fake.logout_requests
    _assert_no_secret(all_logs, browser)


@pytest.mark.parametrize(
    "mode", ["bad_state", "token_error", "id_token_wrong_nonce", "userinfo_401", "revoke_500"]
)
async def test_failures(
    browser: Browser, fake: FakeProvider, all_logs: pytest.LogCaptureFixture, mode: str
) -> None:
    if mode == "bad_state":
        start = await browser.get("/auth/login/fake")
        answer = await browser.get(URL(start.headers["Location"], encoded=True))
        callback = urlsplit(answer.headers["Location"])
        state = dict(p.split("=", 1) for p in callback.query.split("&"))["state"]
        tampered = callback.query.replace(state, state[::-1])
        resp = await browser.get(
            f"{callback.path}?{tampered}", referer=str(start.headers["Location"])
        )
        assert resp.status == 400
        assert fake.calls["token"] == 0
    elif mode == "revoke_500":
        assert (await browser.login()).status == 303
        fake.fail(mode)
        out = await browser.post("/auth/logout", headers={"Origin": str(browser.base)})
        assert out.status == 303
        assert fake.calls["revoke"] == 1
    else:
        fake.fail(mode)
        resp = await browser.login()
        assert resp.status == 401, resp.status
    _assert_no_secret(all_logs, browser)


async def test_a_provider_error_description_is_never_logged_raw(
    browser: Browser, fake: FakeProvider, all_logs: pytest.LogCaptureFixture
) -> None:
    """G13: Microsoft Entra ID's ``access_denied`` with CR/LF, made 6,000 characters
    long: a 403 page; the plugin logs none of it, the access log only percent-encoded and cut."""
    start = await browser.get("/auth/login/fake")
    state = dict(parse_qsl(urlsplit(start.headers["Location"]).query))["state"]
    description = (
        "AADSTS65004: User declined to consent to access the app.\r\n"
        "Trace ID: 255d1aef-8c98-452f-ac51-23d051240864\r\n"
        "Correlation ID: fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\n" + "Z" * 6000
    )
    query = "&".join(
        [
            "error=access_denied",
            "error_description=" + quote(description, safe=""),
            "state=" + state,
            "iss=" + quote(fake.issuer, safe=""),
        ]
    )
    resp = await browser.get(f"/auth/callback/fake?{query}")
    assert resp.status == 403
    for record in all_logs.records:
        message = record.getMessage()
        assert "User declined" not in message, message
        assert "\r" not in message and "\n" not in message.rstrip("\n"), message
        if record.name.startswith("aiohttp_oauth2_login"):
            assert "Z" * 20 not in message and "255d1aef" not in message, message
        if record.name == "aiohttp.access":
            assert len(message) < 2600, len(message)
        for secret in browser.secrets():  # the state, the nonce, the PKCE challenge
            assert secret not in message, message
