"""Conformance against an Authlib + Flask provider (authlib_server.py): no Node needed.

The peer is built from Authlib's own grant classes: authorization code with PKCE S256 required
for every client, an ID token carrying the nonce, the RFC 9207 ``iss`` parameter, userinfo,
refresh with rotation (and a new ID token), and revocation.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from aiohttp_oauth2_login.providers import OIDCProvider

from ._harness import Browser, Navigation, Peer, Served, build_rp, form_action

NAME = "authlib"
CALLBACK = f"/auth/callback/{NAME}"


@dataclass
class RP:
    served: Served
    peer: Peer
    client_id: str
    client_secret: str

    def url(self, path: str) -> str:
        return self.served.url(path)

    def count(self, grant_type: str, outcome: str = "success") -> int:
        stats = self.peer.control("GET", f"/__test/stats?client_id={self.client_id}")
        return int(stats.get(grant_type, {}).get(outcome, 0))

    async def post(self, path: str, **form: str) -> tuple[int, dict[str, Any]]:
        """A request of our own to the peer, authenticated as this client (HTTP Basic)."""
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.peer.url(path), data=form, headers={"Authorization": f"Basic {basic}"}
            ) as resp,
        ):
            return resp.status, json.loads(await resp.text() or "{}")


async def start_rp(start_app: Any, peer: Peer) -> RP:
    registered: dict[str, str] = {}

    async def build(origin: str) -> Any:
        client = peer.control("POST", "/__test/clients", {"redirect_uris": [origin + CALLBACK]})
        registered.update(client)
        provider = OIDCProvider(
            name=NAME,
            issuer=peer.issuer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
        )
        return build_rp(origin, [provider], userinfo_path="userinfo")

    served = await start_app(build)
    return RP(served=served, peer=peer, **registered)


async def sign_in(browser: Browser, rp: RP, *, action: str = "approve") -> Navigation:
    journey = await browser.navigate(rp.url(f"/auth/login/{NAME}?next=/private"))
    page = journey.last
    assert page.status == 200, page.text
    assert "Authlib sign-in" in page.text
    done = await browser.navigate(
        form_action(page), method="POST", data={"username": "alice", "action": action}
    )
    journey.hops += done.hops
    return journey


async def userinfo_status(peer: Peer, access_token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            peer.url("/userinfo"), headers={"Authorization": f"Bearer {access_token}"}
        ) as resp,
    ):
        return resp.status


async def nobody_signed_in(browser: Browser, rp: RP) -> None:
    status, body = await browser.json(rp.url("/private"))
    assert status == 401, body
    assert (await browser.json(rp.url("/")))[1] == {"user": None}


async def test_the_peer_requires_pkce_s256_of_confidential_clients(
    authlib_server: Peer, start_app: Any, browser: Browser
) -> None:
    """So that a successful login below proves the plugin sent PKCE S256."""
    rp = await start_rp(start_app, authlib_server)
    base = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.url(CALLBACK),
        "scope": "openid",
        "state": "s",
    }
    challenge = secrets.token_urlsafe(32)
    for extra in ({}, {"code_challenge": challenge, "code_challenge_method": "plain"}):
        answer = await browser.request(
            "GET", URL(authlib_server.url("/authorize")).with_query({**base, **extra})
        )
        assert answer.status == 302
        assert answer.location.query["error"] == "invalid_request"


async def test_login_userinfo_refresh_rotation(
    authlib_server: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, authlib_server)
    journey = await sign_in(browser, rp)
    back = next(h.location for h in journey.hops if h.url.path == "/authorize" and h.status == 302)
    assert back.path == CALLBACK
    assert back.query["iss"] == authlib_server.issuer
    callback = journey.find(CALLBACK)
    assert callback.status == 303, callback.text
    user = json.loads(journey.last.text)
    assert (user["id"], user["name"], user["email"]) == (
        "alice",
        "Alice Example",
        "alice@example.com",
    )
    assert user["email_verified"] is True
    assert rp.count("authorization_code") == 1
    assert rp.count("authorization_code", "id_token") == 1

    status, called = await browser.json(rp.url("/api/userinfo"))
    assert status == 200 and called["status"] == 200
    assert called["body"]["sub"] == "alice"
    assert rp.count("refresh_token") == 0
    first = (await browser.json(rp.url("/api/tokens")))[1]

    # the access token expires at the provider: one refresh (rotated, with a new ID token)
    authlib_server.control("POST", "/__test/expire-access-tokens", {"client_id": rp.client_id})
    assert await userinfo_status(authlib_server, first["access_token"]) == 401
    status, called = await browser.json(rp.url("/api/userinfo"))
    assert status == 200 and called["status"] == 200, called
    assert called["refresh_token"] != first["refresh_token"]
    assert rp.count("refresh_token") == 1
    assert rp.count("refresh_token", "id_token") == 1  # validated: same iss and sub

    # the old refresh token was retired by the rotation
    status, error = await rp.post(
        "/token", grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert status == 400 and error["error"] == "invalid_grant"

    # and the new one, kept in the session, works the next time
    authlib_server.control("POST", "/__test/expire-access-tokens", {"client_id": rp.client_id})
    status, again = await browser.json(rp.url("/api/userinfo"))
    assert status == 200 and again["status"] == 200, again
    assert again["refresh_token"] not in (first["refresh_token"], called["refresh_token"])
    assert rp.count("refresh_token") == 2


async def test_logout_revokes_the_refresh_token(
    authlib_server: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, authlib_server)
    await sign_in(browser, rp)
    held = (await browser.json(rp.url("/api/tokens")))[1]
    out = await browser.request(
        "POST", rp.url("/auth/logout"), headers={"Origin": rp.served.origin}
    )
    assert out.status == 303
    await nobody_signed_in(browser, rp)
    status, error = await rp.post(
        "/token", grant_type="refresh_token", refresh_token=held["refresh_token"]
    )
    assert status == 400 and error["error"] == "invalid_grant"
    assert await userinfo_status(authlib_server, held["access_token"]) == 401


async def test_denied_at_the_sign_in_page(
    authlib_server: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, authlib_server)
    journey = await sign_in(browser, rp, action="deny")
    callback = journey.find(CALLBACK)
    assert callback.url.query["error"] == "access_denied"
    assert callback.url.query["iss"] == authlib_server.issuer
    assert callback.status == 403
    assert "cancelled" in callback.text
    await nobody_signed_in(browser, rp)
    assert rp.count("authorization_code") == 0
