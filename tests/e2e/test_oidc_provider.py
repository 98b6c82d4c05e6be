"""Conformance against panva oidc-provider 9.13.3 (OpenID Certified), through its real pages.

The provider (oidc_provider_server.mjs) requires PKCE for every client, issues and rotates refresh
tokens, revokes the whole grant when a token is revoked or a rotated refresh token is reused,
sends ``iss`` on every authorization response (RFC 9207) and keeps ``clockTolerance`` at 0, so an
expired access token really is refused. Each test registers its own client (the app's port is in
its redirect URIs) through the provider's dynamic registration endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from aiohttp_oauth2_login.providers import OIDCProvider

from ..support.html import find
from ._harness import Browser, Navigation, Peer, Served, build_rp, form_action, hidden

NAME = "op"
CALLBACK = f"/auth/callback/{NAME}"


@dataclass
class RP:
    """The app under test, registered as a client of the provider."""

    served: Served
    op: Peer
    client_id: str
    client_secret: str

    def url(self, path: str) -> str:
        return self.served.url(path)

    def stats(self) -> dict[str, Any]:
        """Token endpoint outcomes for this client, per grant type."""
        stats: dict[str, Any] = self.op.control("GET", f"/__test/stats?client_id={self.client_id}")
        return stats

    def count(self, grant_type: str, outcome: str = "success") -> int:
        return int(self.stats().get(grant_type, {}).get(outcome, 0))

    async def token_request(self, **form: str) -> tuple[int, dict[str, Any]]:
        """A request of our own to the token endpoint, authenticated as this client."""
        return await _post(self.op.url("/token"), form, self.client_id, self.client_secret)


async def _post(
    url: str, form: dict[str, str], client_id: str, client_secret: str
) -> tuple[int, dict[str, Any]]:
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=form, headers={"Authorization": f"Basic {basic}"}) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if text else {}


async def start_rp(start_app: Any, op: Peer, **provider_options: Any) -> RP:
    registered: dict[str, str] = {}

    async def build(origin: str) -> Any:
        client = op.control(
            "POST",
            "/reg",
            {
                "redirect_uris": [f"{origin}{CALLBACK}"],
                "post_logout_redirect_uris": [f"{origin}/auth/logout/done"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        registered.update(client_id=client["client_id"], client_secret=client["client_secret"])
        provider = OIDCProvider(
            name=NAME,
            issuer=op.issuer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            **provider_options,
        )
        return build_rp(origin, [provider], userinfo_path="me")

    served = await start_app(build)
    return RP(served=served, op=op, **registered)


def _is_callback(url: URL) -> bool:
    return url.path == CALLBACK


async def sign_in(
    browser: Browser, rp: RP, *, account: str = "alice", stop_at_callback: bool = False
) -> Navigation:
    """Through the provider's login and consent pages, like a user; all hops of the journey."""
    journey = Navigation()
    start = await browser.navigate(rp.url(f"/auth/login/{NAME}?next=/private"))
    journey.hops += start.hops
    login = start.last
    assert login.status == 200, login.text
    assert URL(login.url).path.startswith("/interaction/"), login.url
    assert 'name="prompt" value="login"' in login.text
    consent = await browser.navigate(
        form_action(login),
        method="POST",
        data={"prompt": "login", "login": account, "password": "whatever"},
    )
    journey.hops += consent.hops
    assert consent.last.status == 200, consent.last.text
    assert 'name="prompt" value="consent"' in consent.last.text
    done = await browser.navigate(
        form_action(consent.last),
        method="POST",
        data={"prompt": "consent"},
        stop_at=_is_callback if stop_at_callback else None,
    )
    journey.hops += done.hops
    return journey


def redirect_to_callback(journey: Navigation) -> URL:
    """Where the provider sent the browser back to us (the callback URL with code/state/iss)."""
    for hop in journey.hops:
        if "Location" in hop.headers and _is_callback(hop.location):
            return hop.location
    raise AssertionError("the provider never redirected to the callback")


async def nobody_signed_in(browser: Browser, rp: RP) -> None:
    status, body = await browser.json(rp.url("/private"))
    assert status == 401, body
    assert body["error"] == "login_required"
    assert (await browser.json(rp.url("/")))[1] == {"user": None}


# ---- the provider itself ----------------------------------------------------------------------


def test_discovery_advertises_what_the_plugin_relies_on(oidc_provider: Peer) -> None:
    doc = oidc_provider.discovery()
    assert doc["issuer"] == oidc_provider.issuer  # exact string, no trailing slash
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    for endpoint in ("revocation_endpoint", "end_session_endpoint", "userinfo_endpoint"):
        assert doc[endpoint].startswith(oidc_provider.issuer + "/")


# ---- login ------------------------------------------------------------------------------------


async def test_login_through_the_provider_pages(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider)
    journey = await sign_in(browser, rp)

    authorize = journey.hops[0].location  # our 302 to the provider
    assert str(authorize.origin()) == oidc_provider.issuer
    assert authorize.path == "/auth"
    assert authorize.query["response_type"] == "code"
    assert authorize.query["code_challenge_method"] == "S256"
    assert len(authorize.query["code_challenge"]) == 43
    assert authorize.query["nonce"] and len(authorize.query["state"]) >= 43
    assert authorize.query["redirect_uri"] == rp.url(CALLBACK)
    assert set(authorize.query["scope"].split()) == {"openid", "email", "profile"}

    back = redirect_to_callback(journey)
    assert back.query["iss"] == oidc_provider.issuer  # RFC 9207, sent by the provider
    assert back.query["state"] == authorize.query["state"]
    assert "code" in back.query

    callback = journey.find(CALLBACK)
    assert callback.status == 303, callback.text
    assert callback.headers["Location"] == "/private"
    assert callback.headers["Cache-Control"] == "no-store"
    assert callback.headers["Referrer-Policy"] == "no-referrer"
    cookie = callback.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    landed = journey.last
    assert landed.url.path == "/private" and landed.status == 200
    user = json.loads(landed.text)
    assert user["provider"] == NAME
    assert user["id"] == "alice"  # the OIDC sub
    assert user["name"] == "Alice Example"
    assert user["email"] == "alice@example.com" and user["email_verified"] is True
    assert user["username"] == "alice"
    assert (await browser.json(rp.url("/")))[1] == {"user": "alice"}  # get_user
    assert rp.count("authorization_code") == 1

    # get_client calls the provider's userinfo endpoint as alice, no refresh needed
    status, called = await browser.json(rp.url("/api/userinfo"))
    assert status == 200
    assert called["status"] == 200
    assert called["body"]["sub"] == "alice"
    assert called["body"]["email"] == "alice@example.com"
    assert rp.count("refresh_token") == 0


async def test_callback_replay_never_reaches_the_provider(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    """A replayed callback is refused before the code is sent again: oidc-provider answers a
    reused code by revoking the whole grant, so a replay reaching it would log the user out."""
    rp = await start_rp(start_app, oidc_provider)
    journey = await sign_in(browser, rp)
    back = redirect_to_callback(journey)

    replay = await browser.request("GET", back)
    assert replay.status == 400
    assert "invalid" in replay.text.lower()
    assert rp.count("authorization_code") == 1
    assert rp.count("authorization_code", "error") == 0
    status, called = await browser.json(rp.url("/api/userinfo"))  # the grant is intact
    assert status == 200 and called["status"] == 200


async def test_iss_parameter_is_checked(oidc_provider: Peer, start_app: Any) -> None:
    """RFC 9207: discovery promises ``iss``; a different or missing one is refused (400)
    before the code is redeemed, and nobody is signed in."""
    rp = await start_rp(start_app, oidc_provider)
    port = URL(oidc_provider.issuer).port
    for iss in (
        oidc_provider.issuer + "/",  # issuers are exact strings
        f"http://localhost:{port}",
        "https://attacker.example",
        None,  # missing although promised
    ):
        browser = Browser()  # a new visitor each time (no session at the provider yet)
        try:
            journey = await sign_in(browser, rp, stop_at_callback=True)
            back = journey.last.location
            assert back.query["iss"] == oidc_provider.issuer
            query = {k: v for k, v in back.query.items() if k != "iss"}
            if iss is not None:
                query["iss"] = iss
            answer = await browser.request("GET", back.with_query(query))
            assert answer.status == 400, (iss, answer.text)
            assert "expected provider" in answer.text
            await nobody_signed_in(browser, rp)
            # the untouched response is of no use any more either: the state was consumed
            assert (await browser.request("GET", back)).status == 400
            await nobody_signed_in(browser, rp)
        finally:
            await browser.close()
    assert rp.count("authorization_code") == 0
    assert rp.count("authorization_code", "error") == 0


async def test_consent_aborted_at_the_provider(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider)
    start = await browser.navigate(rp.url(f"/auth/login/{NAME}"))
    login = start.last
    consent = await browser.navigate(
        form_action(login),
        method="POST",
        data={"prompt": "login", "login": "alice", "password": "x"},
    )
    cancel = URL(find(r'<a href="([^"]*)">\[ Cancel \]</a>', consent.last.text))
    assert cancel.path == consent.last.url.path + "/abort"
    journey = await browser.navigate(consent.last.url.join(cancel))

    back = redirect_to_callback(journey)
    assert back.query["error"] == "access_denied"
    assert back.query["iss"] == oidc_provider.issuer
    callback = journey.find(CALLBACK)
    assert callback.status == 403
    assert "cancelled" in callback.text
    assert callback.headers["X-Frame-Options"] == "DENY"
    await nobody_signed_in(browser, rp)
    assert rp.count("authorization_code") == 0


# ---- tokens: refresh, rotation, revocation ----------------------------------------------------


async def test_expired_access_token_is_refreshed_and_the_old_refresh_token_retired(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider)
    oidc_provider.control(
        "POST", "/__test/access-token-ttl", {"client_id": rp.client_id, "seconds": 1}
    )
    await sign_in(browser, rp)
    first = (await browser.json(rp.url("/api/tokens")))[1]
    assert first["refresh_token"]
    await asyncio.sleep(1.2)  # the access token has expired at the provider (no clock tolerance)
    assert await _userinfo_status(oidc_provider, first["access_token"]) == 401

    status, called = await browser.json(rp.url("/api/userinfo"))
    assert status == 200, called
    assert called["status"] == 200 and called["body"]["sub"] == "alice"
    assert called["access_token"] != first["access_token"]
    assert called["refresh_token"] != first["refresh_token"]  # rotated
    stored = (await browser.json(rp.url("/api/tokens")))[1]  # written back to the session
    assert stored["refresh_token"] == called["refresh_token"]
    refreshes = rp.count("refresh_token")

    # the provider retired the old refresh token ...
    status, error = await rp.token_request(
        grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert status == 400 and error["error"] == "invalid_grant"
    # ... and, seeing it reused, revoked the grant (its access tokens too): the app's next
    # refresh fails, and the user has to sign in again instead of seeing a server error
    status, body = await browser.json(rp.url("/api/userinfo"))
    assert status == 401, body
    assert body["error"] == "login_required"
    await nobody_signed_in(browser, rp)
    # one expiry, one refresh: a token the provider has just issued is not refreshed again
    assert refreshes == 1


async def test_access_token_refused_early_is_refreshed_once_and_retried(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider)
    await sign_in(browser, rp)
    before = (await browser.json(rp.url("/api/userinfo")))[1]
    assert before["status"] == 200
    destroyed = oidc_provider.control(
        "POST", "/__test/destroy-access-tokens", {"client_id": rp.client_id}
    )
    assert destroyed["destroyed"] == 1
    assert await _userinfo_status(oidc_provider, before["access_token"]) == 401

    status, after = await browser.json(rp.url("/api/userinfo"))
    assert status == 200, after
    assert after["status"] == 200 and after["body"]["sub"] == "alice"
    assert after["access_token"] != before["access_token"]
    assert rp.count("refresh_token") == 1


async def test_logout_revokes_the_grant(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider)
    await sign_in(browser, rp)
    held = (await browser.json(rp.url("/api/tokens")))[1]

    refused = await browser.request("POST", rp.url("/auth/logout"))  # no Origin: CSRF guard
    assert refused.status == 403
    out = await browser.request(
        "POST", rp.url("/auth/logout"), headers={"Origin": rp.served.origin}
    )
    assert out.status == 303
    assert out.headers["Location"] == "/"
    await nobody_signed_in(browser, rp)

    status, error = await rp.token_request(
        grant_type="refresh_token", refresh_token=held["refresh_token"]
    )
    assert status == 400 and error["error"] == "invalid_grant"
    assert await _userinfo_status(oidc_provider, held["access_token"]) == 401


async def test_rp_initiated_logout_round_trip(
    oidc_provider: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, oidc_provider, rp_initiated_logout=True)
    journey = await sign_in(browser, rp)
    held = (await browser.json(rp.url("/api/tokens")))[1]
    assert held["id_token"]  # kept for the id_token_hint ...
    for cookie in journey.find(CALLBACK).headers.getall("Set-Cookie"):
        assert len(cookie) < 4096  # ... and still no cookie a browser would drop

    out = await browser.request(
        "POST",
        rp.url("/auth/logout"),
        data={"next": "/private?after=logout"},
        headers={"Origin": rp.served.origin},
    )
    assert out.status == 303
    end_session = out.location
    assert str(end_session.with_query(None)) == oidc_provider.url("/session/end")
    assert end_session.query["id_token_hint"] == held["id_token"]
    assert end_session.query["post_logout_redirect_uri"] == rp.url("/auth/logout/done")
    assert end_session.query["client_id"] == rp.client_id
    assert end_session.query["state"]
    await nobody_signed_in(browser, rp)  # local logout happened before the round trip

    confirm = await browser.request("GET", end_session)
    assert confirm.status == 200, confirm.text
    action = form_action(confirm, "op.logoutForm")
    journey = await browser.navigate(
        action, method="POST", data={"xsrf": hidden(confirm, "xsrf"), "logout": "yes"}
    )
    done = journey.find("/auth/logout/done")
    assert done.url.query["state"] == end_session.query["state"]
    assert done.status == 303
    assert done.headers["Location"] == "/private?after=logout"
    await nobody_signed_in(browser, rp)

    # the provider's session is gone: signing in again asks for the login, not just consent
    again = await browser.navigate(rp.url(f"/auth/login/{NAME}"))
    assert 'name="prompt" value="login"' in again.last.text
    status, error = await rp.token_request(
        grant_type="refresh_token", refresh_token=held["refresh_token"]
    )
    assert status == 400 and error["error"] == "invalid_grant"


async def _userinfo_status(op: Peer, access_token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(op.url("/me"), headers={"Authorization": f"Bearer {access_token}"}) as resp,
    ):
        return resp.status
