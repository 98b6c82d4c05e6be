"""What a visitor's request alone can do to the server: never a 500 (a ``Host`` that is no
origin), no WARNING flood and no false "misconfigured" alert, and no other person's session data
carried into a login (the security review of issue 12: M1, M2, M3)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web

from aiohttp_oauth2_login import User, _clock, _guard, _lograte
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import login_as, login_flow, oidc_provider_for

from ..support.app import Client, MakeClient, build_app, origin_of, who
from ..support.callbacks import begin, deliver

STATE = "A" * 43
#: Host headers yarl cannot make an origin of (``request.url`` raises ValueError)
BAD_HOSTS = ["x:99999", "x:abc"]
PUBLIC = [None, "http://127.0.0.1"]


@pytest.fixture(autouse=True)
def fresh_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_guard, "_WARNED", set())


def _options(public_url: str | None) -> dict[str, Any]:
    return {} if public_url is None else {"public_url": public_url}


def _package_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and r.levelno == level
    ]


# ---- M1: a Host that is no origin is a 4xx (or the normal page), never a 500 -------------------


@pytest.mark.parametrize("public_url", PUBLIC)
@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_a_malformed_host_never_makes_a_500(
    make_client: MakeClient, host: str, public_url: str | None
) -> None:
    client = await make_client(**_options(public_url))
    bad = {"Host": host}
    proxied = {**bad, "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}
    # a known provider's callback without a transaction
    resp = await client.get(f"/auth/callback/fake?state={STATE}", headers=bad)
    assert resp.status == 400
    # an unknown provider's callback
    assert (await client.get(f"/auth/callback/nope?state={STATE}", headers=bad)).status == 404
    # the sign-out POST, with and without a same-origin Origin
    assert (await client.post("/auth/logout", headers=bad)).status == 403
    headers = {**bad, "Origin": origin_of(client)}
    assert (await client.post("/auth/logout", headers=headers)).status in (303, 403)
    # login routes with proxy headers (the guard's warning is built from the request)
    assert (await client.get("/auth/login", headers=proxied)).status == 200
    start = await client.get("/auth/login/fake", headers=proxied, allow_redirects=False)
    assert start.status == (302 if public_url else 400)
    # @login_required routes: the login redirect (or 401 JSON), also through a proxy
    resp = await client.get(
        "/private", headers={**proxied, "Accept": "text/html"}, allow_redirects=False
    )
    assert resp.status == 302
    assert (await client.get("/private", headers=proxied)).status == 401


@pytest.mark.parametrize("public_url", PUBLIC)
@pytest.mark.parametrize("host", BAD_HOSTS)
async def test_a_malformed_host_on_a_callback_with_its_transaction(
    make_client: MakeClient, host: str, public_url: str | None
) -> None:
    """A real login's callback arriving with a bad Host: without public_url its redirect URI
    cannot be built (400), with it the Host does not matter (the login completes)."""
    client = await make_client(**_options(public_url))
    cb = await begin(client)
    resp = await deliver(client, cb, headers={"Host": host})
    assert resp.status == (303 if public_url else 400)


async def test_a_malformed_host_cannot_spend_the_proxy_warning(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "aiohttp_oauth2_login")
    bad = {"Host": "x:99999", "X-Forwarded-For": "1.2.3.4"}
    assert (await client.get("/auth/login", headers=bad)).status == 200
    assert (await client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})).status == 200
    warned = [m for m in _package_records(caplog, logging.WARNING) if "reverse proxy" in m]
    assert len(warned) == 1 and "x:99999" not in warned[0]


# ---- M3: what a visitor alone can cause is INFO; WARNINGs are rate-limited per reason ----------


async def test_anonymous_requests_log_no_warning(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(public_url="http://127.0.0.1")
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    for _ in range(5):
        await client.get(f"/auth/callback/fake?state={STATE}", allow_redirects=False)
        await client.get(f"/auth/callback/nope?state={STATE}", allow_redirects=False)
        await client.get("/auth/callback/fake?state=short", allow_redirects=False)
        await client.post("/auth/logout", allow_redirects=False)
    assert _package_records(caplog, logging.WARNING) == []
    infos = _package_records(caplog, logging.INFO)
    assert sum("reason=host_mismatch" in m for m in infos) == 5
    assert sum("reason=unknown_provider" in m for m in infos) == 5
    assert sum("sign-out refused (403)" in m for m in infos) == 5


@pytest.mark.parametrize("error", ["invalid_client", "redirect_uri_mismatch", "invalid_scope"])
async def test_a_visitors_own_error_callback_raises_no_misconfigured_warning(
    client: Client, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    """A visitor can start their own login and deliver its callback with any ``error=``: the
    502 page is theirs, but the operator gets no WARNING claiming the client is misconfigured."""
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    cb = await begin(client)
    params = [(k, v) for k, v in cb.params if k != "code"] + [("error", error)]
    assert (await deliver(client, cb, params)).status == 502
    assert _package_records(caplog, logging.WARNING) == []
    assert any(
        "sign-in with fake failed: reason=" in m for m in _package_records(caplog, logging.INFO)
    )


def test_one_warning_per_reason_a_minute_then_info(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(_clock, "monotonic", lambda: now[0])
    assert _lograte.warning_level("a") == logging.WARNING
    assert _lograte.warning_level("b") == logging.WARNING  # each reason has its own minute
    now[0] += 59
    assert _lograte.warning_level("a") == logging.INFO
    now[0] += 1
    assert _lograte.warning_level("a") == logging.WARNING
    assert _lograte.warning_level("a") == logging.INFO


async def test_a_flood_of_server_side_failures_logs_one_warning(
    make_client: MakeClient,
    fake: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong client secret: the first failure of the minute is a WARNING (two lines: the
    provider's words and the callback's), the next ones INFO; a minute later, WARNING again."""

    now = [5000.0]
    monkeypatch.setattr(_clock, "monotonic", lambda: now[0])
    wrong = OIDCProvider(
        name="fake", issuer=fake.issuer, client_id=fake.client_id, client_secret="x"
    )
    client = await make_client(providers=[wrong])
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    for _ in range(3):
        assert (await deliver(client, await begin(client))).status == 502
    warned = _package_records(caplog, logging.WARNING)
    assert len(warned) == 2 and "reason=client_secret" in warned[1]
    assert sum("reason=client_secret" in m for m in _package_records(caplog, logging.INFO)) == 4
    now[0] += 60
    caplog.clear()
    assert (await deliver(client, await begin(client))).status == 502
    assert len(_package_records(caplog, logging.WARNING)) == 2


# ---- M2: carry_session_keys carries an anonymous session's values only -------------------------


async def _fill(request: web.Request) -> web.Response:
    session = await aiohttp_session.get_session(request)
    session["cart"] = [f"cart of {request.query.get('who', 'anonymous')}"]
    return web.json_response({"ok": True})


async def _show(request: web.Request) -> web.Response:
    session = await aiohttp_session.get_session(request)
    return web.json_response({"cart": session.get("cart")})


async def _shop(aiohttp_client: Any, fake: Any) -> Client:
    app = build_app([oidc_provider_for(fake)], carry_session_keys=("cart",))
    app.router.add_get("/fill", _fill)
    app.router.add_get("/show", _show)
    client: Client = await aiohttp_client(app)
    return client


async def test_a_signed_in_persons_cart_is_not_carried_to_the_next_login(
    aiohttp_client: Any, fake: Any
) -> None:
    client = await _shop(aiohttp_client, fake)
    await login_as(client, User(provider="fake", id="mallory", name="mallory"))
    assert await who(client) == "mallory"
    await client.get("/fill?who=mallory")
    assert (await login_flow(client)).status == 303  # alice signs in on the same browser
    assert await who(client) == "alice"
    assert (await (await client.get("/show")).json())["cart"] is None


async def test_a_timed_out_logins_cart_is_not_carried(
    aiohttp_client: Any, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _shop(aiohttp_client, fake)
    await login_as(client, User(provider="fake", id="mallory", name="mallory"))
    await client.get("/fill?who=mallory")
    later = time.time() + 400 * 86400  # past every session lifetime
    moved = SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    monkeypatch.setattr(_clock, "time", moved)
    assert await who(client) is None  # the login timed out (and was forgotten)
    monkeypatch.setattr(_clock, "time", time)  # back to now: the fake's ID tokens are fresh
    assert (await login_flow(client)).status == 303
    assert await who(client) == "alice"
    assert (await (await client.get("/show")).json())["cart"] is None


async def test_an_anonymous_cart_is_carried(aiohttp_client: Any, fake: Any) -> None:
    client = await _shop(aiohttp_client, fake)
    await client.get("/fill")
    assert (await login_flow(client)).status == 303
    assert await who(client) == "alice"
    assert (await (await client.get("/show")).json())["cart"] == ["cart of anonymous"]
