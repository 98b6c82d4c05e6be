"""OIDC RP-Initiated Logout: the ID token is kept only when configured, the user is signed out
locally and the grant revoked before the browser goes to the provider, and the way back to
``/auth/logout/done`` honours ``next`` only with the right state (G15, G19)."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from yarl import URL

import aiohttp_oauth2_login._login.logout as logout_views
from aiohttp_oauth2_login._pages import SECURITY_HEADERS, content_security_policy, csp_origin
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import (
    FakeProvider,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import HTML, JSON, Client, MakeClient, build_app, call_api, origin_of, who
from ..support.session import expire_in_session, oauth_session


@pytest.fixture
async def rp_client(make_client: MakeClient, fake: FakeProvider) -> Client:
    """Signed in through the fake with RP-initiated logout; ``default_next`` is ``/home``."""
    client = await make_client(
        providers=[oidc_provider_for(fake, rp_initiated_logout=True)], default_next="/home"
    )
    assert (await login_flow(client)).status == 303
    return client


async def _logout(client: Client, next_: str | None = "/bye") -> Any:
    data = {} if next_ is None else {"next": next_}
    return await client.post(
        "/auth/logout", data=data, headers={"Origin": origin_of(client)}, allow_redirects=False
    )


async def _to_provider_and_back(client: Client, location: str) -> Any:
    """Follow the end-session redirect like a browser; returns the provider's answer."""
    answer = await client.session.get(location, allow_redirects=False)
    assert answer.status == 302
    back = URL(answer.headers["Location"])
    assert back.path == "/auth/logout/done"
    return back


# ---- the ID token in the session -----------------------------------------------------------------


async def test_the_id_token_is_kept_only_with_rp_initiated_logout(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    with_rp = await make_client(providers=[oidc_provider_for(fake, rp_initiated_logout=True)])
    assert (await login_flow(with_rp)).status == 303
    kept = oauth_session(with_rp)["t"]["fake"]
    assert "i" in kept
    claims = jwt.decode(kept["i"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["iss"] == fake.issuer

    without = await make_client(providers=[oidc_provider_for(fake)])
    assert (await login_flow(without)).status == 303
    tokens = oauth_session(without)["t"]["fake"]
    assert "a" in tokens and "r" in tokens
    assert "i" not in tokens


# ---- POST /auth/logout → the provider → /auth/logout/done → next ---------------------------------


async def test_logout_goes_to_the_end_session_endpoint(
    rp_client: Client, fake: FakeProvider
) -> None:
    id_token = oauth_session(rp_client)["t"]["fake"]["i"]
    refresh = oauth_session(rp_client)["t"]["fake"]["r"]
    resp = await _logout(rp_client)
    assert resp.status == 303
    assert resp.headers["Cache-Control"] == "no-store"
    location = URL(resp.headers["Location"])
    assert str(location.with_query(None)) == f"{fake.issuer}/logout"
    query = location.query
    assert query["id_token_hint"] == id_token
    assert query["post_logout_redirect_uri"] == str(rp_client.make_url("/auth/logout/done"))
    assert query["client_id"] == fake.client_id
    assert len(query["state"]) >= 32
    assert "next" not in query and "/bye" not in str(location)  # next stays in the session
    # signed out and revoked before the browser even leaves
    assert fake.calls["revoke"] == 1
    assert fake.revoked(refresh)
    assert fake.calls["end_session"] == 0
    oauth = oauth_session(rp_client)
    assert "u" not in oauth and "t" not in oauth
    assert (await rp_client.get("/private", headers=JSON)).status == 401
    assert await who(rp_client) is None


async def test_the_round_trip_ends_at_next(rp_client: Client, fake: FakeProvider) -> None:
    resp = await _logout(rp_client, "/bye?x=1")
    location = resp.headers["Location"]
    state = URL(location).query["state"]
    back = await _to_provider_and_back(rp_client, location)
    assert back.query["state"] == state
    assert fake.calls["end_session"] == 1
    assert fake.logout_requests[0]["id_token_hint"] == URL(location).query["id_token_hint"]
    done = await rp_client.get(back.path_qs, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"] == "/bye?x=1"
    assert done.headers["Cache-Control"] == "no-store"
    assert await who(rp_client) is None
    assert oauth_session(rp_client) == {}  # the pending logout state is gone too


async def test_the_logout_state_is_single_use(rp_client: Client) -> None:
    resp = await _logout(rp_client)
    back = await _to_provider_and_back(rp_client, resp.headers["Location"])
    first = await rp_client.get(back.path_qs, allow_redirects=False)
    assert first.headers["Location"] == "/bye"
    replay = await rp_client.get(back.path_qs, allow_redirects=False)
    assert replay.status == 303
    assert replay.headers["Location"] == "/home"


@pytest.mark.parametrize(
    "query",
    [{}, {"state": "wrong"}, {"state": ""}, {"state": "x" * 5000}, {"state": "é"}],
    ids=["missing", "wrong", "empty", "huge", "non-ascii"],
)
async def test_a_wrong_or_missing_state_goes_to_default_next(
    rp_client: Client, query: dict[str, str]
) -> None:
    resp = await _logout(rp_client)
    state = URL(resp.headers["Location"]).query["state"]
    done = await rp_client.get("/auth/logout/done", params=query, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"] == "/home"
    # the pending state was consumed by the failed attempt: the right one no longer works
    done = await rp_client.get("/auth/logout/done", params={"state": state}, allow_redirects=False)
    assert done.headers["Location"] == "/home"
    assert await who(rp_client) is None


async def test_logout_done_without_a_pending_logout(make_client: MakeClient) -> None:
    client = await make_client(default_next="/home")
    done = await client.get(
        "/auth/logout/done", params={"state": "anything"}, allow_redirects=False
    )
    assert done.status == 303
    assert done.headers["Location"] == "/home"


async def test_a_hostile_next_is_replaced_before_the_round_trip(rp_client: Client) -> None:
    resp = await _logout(rp_client, "//evil.example/x")
    back = await _to_provider_and_back(rp_client, resp.headers["Location"])
    done = await rp_client.get(back.path_qs, allow_redirects=False)
    assert done.headers["Location"] == "/home"


async def test_the_return_address_uses_public_url(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(
        providers=[oidc_provider_for(fake, rp_initiated_logout=True)],
        public_url="http://localhost:9",
    )
    assert (await login_flow(client)).status == 303
    resp = await client.post(
        "/auth/logout", headers={"Origin": "http://localhost:9"}, allow_redirects=False
    )
    assert resp.status == 303
    query = URL(resp.headers["Location"]).query
    assert query["post_logout_redirect_uri"] == "http://localhost:9/auth/logout/done"


async def test_a_cross_site_post_does_not_start_the_provider_logout(
    rp_client: Client, fake: FakeProvider
) -> None:
    resp = await rp_client.post(
        "/auth/logout", headers={"Origin": "http://evil.example"}, allow_redirects=False
    )
    assert resp.status == 403
    assert "Location" not in resp.headers
    assert fake.calls["revoke"] == 0
    assert await who(rp_client) == "alice"


# ---- when there is no provider logout ------------------------------------------------------------


async def test_without_rp_initiated_logout_the_post_goes_straight_to_next(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(providers=[oidc_provider_for(fake)], default_next="/home")
    assert (await login_flow(client)).status == 303
    resp = await _logout(client)
    assert resp.status == 303
    assert resp.headers["Location"] == "/bye"
    assert fake.calls["revoke"] == 1
    assert fake.calls["end_session"] == 0
    assert await who(client) is None


async def test_without_an_id_token_the_post_goes_straight_to_next(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(providers=[oidc_provider_for(fake, rp_initiated_logout=True)])
    await login_as(client, "alice")  # a session whose tokens hold no ID token
    resp = await _logout(client)
    assert resp.status == 303
    assert resp.headers["Location"] == "/bye"
    assert await who(client) is None


async def test_a_refresh_without_a_new_id_token_keeps_the_old_one(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """OIDC Core §12.2 lets a refresh omit the ID token; the one from the login is still the
    right ``id_token_hint``, so RP-initiated logout must keep working after such a refresh."""
    app = build_app([oidc_provider_for(fake, rp_initiated_logout=True)])
    app.router.add_get("/call", call_api)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    id_token = oauth_session(client)["t"]["fake"]["i"]
    expire_in_session(client)  # refresh next call
    fake.fail("id_token_missing")
    assert (await (await client.get("/call", headers=JSON)).json())["status"] == 200
    assert fake.calls["refresh"] == 1
    assert oauth_session(client)["t"]["fake"].get("i") == id_token
    resp = await _logout(client)
    location = URL(resp.headers["Location"])
    assert str(location.with_query(None)) == f"{fake.issuer}/logout"
    assert location.query["id_token_hint"] == id_token


# ---- the confirmation page's CSP lets its form reach the provider --------------------------------
# Chromium and Safari apply form-action to the redirects of a form submission: with
# "form-action 'self'" alone the POST's 303 to the end-session endpoint is blocked in the browser
# (the local session ends, the provider's does not). tests/e2e/test_browser.py shows it in Chromium.

CSP = "Content-Security-Policy"
SELF_ONLY = SECURITY_HEADERS[CSP]


def _csp_with(origin: str) -> str:
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


async def test_the_confirmation_page_allows_exactly_the_end_session_origin(
    rp_client: Client, fake: FakeProvider
) -> None:
    page = await rp_client.get("/auth/logout", params={"next": "/bye"}, headers=HTML)
    assert page.status == 200
    origin = str(URL(fake.issuer).origin())
    assert page.headers[CSP] == _csp_with(origin)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert await who(rp_client) == "alice"  # the page changes nothing
    # ... and that is where the form's POST is redirected to
    resp = await _logout(rp_client)
    assert str(URL(resp.headers["Location"]).origin()) == origin
    # signed out: the next confirmation page allows nothing but this origin again
    again = await rp_client.get("/auth/logout", headers=HTML)
    assert again.headers[CSP] == SELF_ONLY


async def test_a_configured_end_session_url_on_another_origin(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    provider = oidc_provider_for(
        fake, rp_initiated_logout=True, end_session_url="https://sso.example:8443/op/logout?x=1"
    )
    client = await make_client(providers=[provider])
    assert (await login_flow(client)).status == 303
    page = await client.get("/auth/logout", headers=HTML)
    assert page.headers[CSP] == _csp_with("https://sso.example:8443")


async def test_without_rp_initiated_logout_the_confirmation_page_is_self_only(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    anonymous = await make_client(providers=[oidc_provider_for(fake, rp_initiated_logout=True)])
    assert (await anonymous.get("/auth/logout", headers=HTML)).headers[CSP] == SELF_ONLY

    local = await make_client(providers=[oidc_provider_for(fake)])
    assert (await login_flow(local)).status == 303
    assert (await local.get("/auth/logout", headers=HTML)).headers[CSP] == SELF_ONLY

    no_id_token = await make_client(providers=[oidc_provider_for(fake, rp_initiated_logout=True)])
    await login_as(no_id_token, "alice")
    assert (await no_id_token.get("/auth/logout", headers=HTML)).headers[CSP] == SELF_ONLY


async def test_a_failed_discovery_gives_self_only_and_a_local_logout(
    rp_client: Client, fake: FakeProvider
) -> None:
    provider = find_login(rp_client.app).providers["fake"]
    assert isinstance(provider, OIDCProvider)
    provider._endpoints = None  # as after a restart, with the provider down
    fake.fail("discovery_500")
    page = await rp_client.get("/auth/logout", headers=HTML)
    assert page.status == 200
    assert page.headers[CSP] == SELF_ONLY
    resp = await _logout(rp_client)  # the POST cannot reach the provider either: local logout
    assert resp.status == 303
    assert resp.headers["Location"] == "/bye"
    assert await who(rp_client) is None


async def test_a_slow_discovery_gives_self_only_in_bounded_time(
    rp_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = find_login(rp_client.app).providers["fake"]
    never = asyncio.Event()

    async def hanging(*args: Any) -> Any:
        await never.wait()

    monkeypatch.setattr(provider, "endpoints", hanging)
    monkeypatch.setattr(logout_views, "DISCOVERY_WAIT", 0.05)
    page = await asyncio.wait_for(rp_client.get("/auth/logout", headers=HTML), 5)
    assert page.status == 200
    assert page.headers[CSP] == SELF_ONLY


@pytest.mark.parametrize(
    "end_session_url",
    [
        "https://sso.example;script-src/logout",
        "https://sso.example,x/logout",
        "https://sso.example'unsafe-inline'/logout",
        "https://[2001:db8::1]:8443/logout",
    ],
)
async def test_an_origin_that_cannot_be_written_safely_gives_self_only(
    make_client: MakeClient, fake: FakeProvider, end_session_url: str
) -> None:
    provider = oidc_provider_for(fake, rp_initiated_logout=True, end_session_url=end_session_url)
    client = await make_client(providers=[provider])
    assert (await login_flow(client)).status == 303
    page = await client.get("/auth/logout", headers=HTML)
    assert page.status == 200
    assert page.headers[CSP] == SELF_ONLY


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://sso.example/logout?a=1#f", "https://sso.example"),
        ("https://SSO.Example:443/x", "https://sso.example"),
        ("https://sso.example:8443/x", "https://sso.example:8443"),
        ("http://127.0.0.1:5556/session/end", "http://127.0.0.1:5556"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example"),
        ("https://sso.example;script-src/x", None),
        ("https://sso.example x/", None),
        ('https://sso.example"/x', None),
        ("https://sso.example./x", None),
        ("https://*.example/x", None),
        ("https://[::1]/x", None),
        ("ftp://sso.example/x", None),
        ("javascript:alert(1)", None),
        ("/relative", None),
        ("", None),
    ],
)
def test_csp_origin(url: str, origin: str | None) -> None:
    assert csp_origin(url) == origin
    if origin is not None:
        assert content_security_policy(form_action=(origin,)) == _csp_with(origin)


@pytest.mark.parametrize("bad", ["https://a.example; script-src *", "'unsafe-inline'", "*"])
def test_content_security_policy_refuses_anything_but_an_origin(bad: str) -> None:
    with pytest.raises(ValueError):
        content_security_policy(form_action=(bad,))
