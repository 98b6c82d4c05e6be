"""The Google preset against recorded Google responses (tests/data/google, see its README).

The fake's own URL is the issuer: the recorded discovery document is rewritten to point at it,
and the ID tokens are RS256 tokens signed here from the documented payload.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login import InvalidIDToken
from aiohttp_oauth2_login._oauth.http import DEFAULT_LIMITS
from aiohttp_oauth2_login.providers import Endpoints, Google

from ..support.jwt import DROP, s256
from ._recorded import (
    Clock,
    Harness,
    RecordedProvider,
    Seen,
    Signer,
    basic,
    load,
    make_harness,
)

CLIENT_ID = "1234987819200.apps.googleusercontent.com"
SECRET = "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"
GOOGLE = "https://accounts.google.com"
TOKEN = load("google", "token")
REFRESHED = load("google", "token_refreshed")
SUB = load("google", "id_token_claims")["sub"]

Start = Callable[..., Awaitable[Harness]]

_SIGNER = Signer(kid="1e9gdk7")


def _rebased_discovery(url: str) -> dict[str, Any]:
    """The recorded discovery document with every Google host replaced by the fake's URL."""
    text = json.dumps(load("google", "discovery"))
    for host in (
        "https://accounts.google.com",
        "https://oauth2.googleapis.com",
        "https://openidconnect.googleapis.com",
        "https://www.googleapis.com",
    ):
        text = text.replace(host, url)
    doc: dict[str, Any] = json.loads(text)
    return doc


@dataclass
class GoogleFake:
    """The recorded provider plus the knobs of the Google tests."""

    fake: RecordedProvider
    claims: dict[str, Any] = field(default_factory=dict)  # overrides of the ID token payload
    token: dict[str, Any] = field(default_factory=lambda: dict(TOKEN))
    refresh_sub: str | None = None  # the refresh answer carries an ID token for this sub

    @property
    def url(self) -> str:
        return self.fake.url

    def id_token(self, nonce: str | None, **overrides: Any) -> str:
        now = int(plugin_clock.now())  # Google's clock is the (moved) clock of the test
        claims = load("google", "id_token_claims")
        claims.update(iss=self.url, aud=CLIENT_ID, azp=CLIENT_ID, iat=now, exp=now + 3600)
        claims["nonce"] = nonce
        for name, value in {**self.claims, **overrides}.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        if claims.get("nonce") is None:
            claims.pop("nonce", None)
        return _SIGNER.sign(claims)

    def token_endpoint(self, seen: Seen) -> tuple[int, Any]:
        if seen.form.get("grant_type") == "refresh_token":
            answer = dict(REFRESHED)
            if self.refresh_sub is not None:
                answer["id_token"] = self.id_token(None, sub=self.refresh_sub)
            return 200, answer
        nonce = self.fake.codes[seen.form["code"]]["nonce"]
        return 200, {**self.token, "id_token": self.id_token(nonce)}


@pytest.fixture
async def google(aiohttp_server: Any) -> GoogleFake:
    fake = await RecordedProvider(authorize_path="/o/oauth2/v2/auth").start(aiohttp_server)
    state = GoogleFake(fake)
    # what Google appends to the redirect (its iss is its issuer: here, the fake's URL)
    fake.callback_params = {
        "iss": fake.url,
        "scope": "email profile openid",
        "authuser": "0",
        "prompt": "consent",
    }
    fake.on("GET", "/.well-known/openid-configuration", _rebased_discovery(fake.url))
    fake.on("GET", "/oauth2/v3/certs", _SIGNER.jwks())
    fake.on_call("POST", "/token", state.token_endpoint)
    fake.on("GET", "/v1/userinfo", load("google", "userinfo"))
    fake.on("POST", "/revoke", None, 200)
    return state


@pytest.fixture
def start(aiohttp_client: Any, google: GoogleFake) -> Start:
    """``await start(**Google options)``: the app with a Google preset pointed at the fake."""

    async def make(**kwargs: Any) -> Harness:
        provider = Google(
            client_id=CLIENT_ID,
            client_secret=SECRET,
            issuer=google.url,
            api_base_url=google.url + "/",
            **kwargs,
        )
        return await make_harness(aiohttp_client, google.fake, provider)

    return make


async def _refused(h: Harness, status: int) -> str:
    resp = await h.login()
    assert resp.status == status
    assert not await h.logged_in()
    assert h.logins == []
    text: str = await resp.text()
    return text


# -- discovery, the authorization request, the code exchange, the ID token -----------------------


async def test_login_with_discovery_and_a_signed_id_token(start: Start, google: GoogleFake) -> None:
    h = await start()
    assert (await h.login()).status == 303
    fake = google.fake
    assert len(fake.requests("GET", "/.well-known/openid-configuration")) == 1
    authorize = fake.authorize.query
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == CLIENT_ID
    assert authorize["scope"] == "openid email profile"
    assert authorize["code_challenge_method"] == "S256"
    assert len(authorize["nonce"]) >= 22
    for absent in ("access_type", "prompt", "hd"):
        assert absent not in authorize

    token = fake.one("POST", "/token")
    assert token.headers["Authorization"] == basic(CLIENT_ID, SECRET)
    assert "client_secret" not in token.form
    assert token.form["grant_type"] == "authorization_code"
    assert s256(token.form["code_verifier"]) == authorize["code_challenge"]
    assert not token.query
    userinfo = fake.one("GET", "/v1/userinfo")
    assert userinfo.headers["Authorization"] == f"Bearer {TOKEN['access_token']}"
    assert len(fake.requests("GET", "/oauth2/v3/certs")) == 1

    assert await h.whoami() == {
        "provider": "google",
        "id": SUB,
        "name": "John Smith",
        "email": "jsmith@example.com",
        "email_verified": True,
        "username": None,
        "avatar_url": "https://lh3.googleusercontent.com/a/ACg8ocJ3example=s96-c",
    }
    h.assert_no_secrets_in_urls(
        TOKEN["access_token"], TOKEN["refresh_token"], token.form["code_verifier"]
    )


@pytest.mark.parametrize("issuer", [GOOGLE, "<fake>/", "<fake>/other"])
async def test_discovery_issuer_must_match_exactly(
    start: Start, google: GoogleFake, issuer: str
) -> None:
    doc = _rebased_discovery(google.url)
    doc["issuer"] = issuer.replace("<fake>", google.url)
    google.fake.on("GET", "/.well-known/openid-configuration", doc)
    h = await start()
    await _refused(h, 502)
    assert not google.fake.requests("GET", "/o/oauth2/v2/auth")
    assert not google.fake.requests("POST", "/token")


async def test_authorization_response_iss_must_be_the_issuer(
    start: Start, google: GoogleFake
) -> None:
    google.fake.callback_params["iss"] = GOOGLE  # not this provider's issuer (mix-up)
    h = await start()
    await _refused(h, 400)
    assert not google.fake.requests("POST", "/token")


async def test_bare_issuer_is_refused_for_another_issuer(start: Start, google: GoogleFake) -> None:
    google.claims["iss"] = "accounts.google.com"
    h = await start()
    await _refused(h, 401)


def test_accepted_issuers() -> None:
    google = Google(client_id=CLIENT_ID, client_secret=SECRET)
    endpoints = Endpoints(authorize_url=GOOGLE + "/auth", token_url=GOOGLE + "/t", issuer=GOOGLE)
    assert set(google.accepted_issuers(endpoints)) == {GOOGLE, "accounts.google.com"}

    other = "https://idp.example"
    elsewhere = Google(client_id=CLIENT_ID, client_secret=SECRET, issuer=other)
    endpoints = Endpoints(authorize_url=other + "/auth", token_url=other + "/t", issuer=other)
    assert elsewhere.accepted_issuers(endpoints) == (other,)


@pytest.mark.parametrize(
    ("iss", "accepted"),
    [
        (GOOGLE, True),
        ("accounts.google.com", True),
        ("https://accounts.google.com/", False),
        ("http://accounts.google.com", False),
        ("https://evil.example", False),
    ],
)
async def test_id_token_iss_when_the_issuer_is_google(
    google: GoogleFake, iss: str, accepted: bool
) -> None:
    """Google's real issuer (no discovery needed: the endpoints are given, JWKS on the fake)."""
    preset = Google(client_id=CLIENT_ID, client_secret=SECRET)
    endpoints = Endpoints(
        authorize_url=GOOGLE + "/o/oauth2/v2/auth",
        token_url=google.url + "/token",
        jwks_uri=google.url + "/oauth2/v3/certs",
        issuer=GOOGLE,
    )
    token = google.id_token("n-0S6_WzA2Mj", iss=iss)
    async with aiohttp.ClientSession() as http:
        if accepted:
            claims = await preset.validate_id_token(
                http, DEFAULT_LIMITS, endpoints, token, nonce="n-0S6_WzA2Mj"
            )
            assert claims["iss"] == iss and claims["sub"] == SUB
        else:
            with pytest.raises(InvalidIDToken):
                await preset.validate_id_token(
                    http, DEFAULT_LIMITS, endpoints, token, nonce="n-0S6_WzA2Mj"
                )


# -- offline access and hosted domains ---------------------------------------------------------


async def test_offline_asks_for_a_refresh_token(start: Start, google: GoogleFake) -> None:
    h = await start(offline=True)
    assert (await h.login()).status == 303
    authorize = google.fake.authorize.query
    assert authorize["access_type"] == "offline"
    assert authorize["prompt"] == "consent"


async def test_hosted_domain_is_sent_and_accepted(start: Start, google: GoogleFake) -> None:
    h = await start(hosted_domain="example.com")
    assert (await h.login()).status == 303
    assert google.fake.authorize.query["hd"] == "example.com"
    assert (await h.whoami())["id"] == SUB


@pytest.mark.parametrize("hd", [DROP, "other.com", "example.com.evil.example", ""])
async def test_hosted_domain_is_enforced_from_the_id_token(
    start: Start, google: GoogleFake, hd: Any
) -> None:
    # userinfo keeps "hd": "example.com": only the ID token counts
    google.claims["hd"] = hd
    h = await start(hosted_domain="example.com")
    page = await _refused(h, 403)
    assert "Only accounts of example.com may sign in here." in page


@pytest.mark.parametrize(
    ("in_id_token", "in_userinfo", "verified"),
    [
        (False, False, False),
        ("true", DROP, True),  # the documented payload carries the string "true"
        (DROP, DROP, False),
        ("false", DROP, False),
    ],
)
async def test_email_verified(
    start: Start, google: GoogleFake, in_id_token: Any, in_userinfo: Any, verified: bool
) -> None:
    google.claims["email_verified"] = in_id_token
    userinfo = load("google", "userinfo")
    if in_userinfo is DROP:
        del userinfo["email_verified"]
    else:
        userinfo["email_verified"] = in_userinfo
    google.fake.on("GET", "/v1/userinfo", userinfo)
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert me["email"] == "jsmith@example.com"
    assert me["email_verified"] is verified


# -- revocation on logout -------------------------------------------------------------------------


async def test_logout_revokes_the_refresh_token(start: Start, google: GoogleFake) -> None:
    h = await start(offline=True)
    assert (await h.login()).status == 303
    assert (await h.logout()).status == 303
    assert not await h.logged_in()
    revoke = google.fake.one("POST", "/revoke")
    assert revoke.form == {"token": TOKEN["refresh_token"], "token_type_hint": "refresh_token"}
    assert revoke.headers["Authorization"] == basic(CLIENT_ID, SECRET)
    assert not revoke.query
    h.assert_no_secrets_in_urls(TOKEN["access_token"], TOKEN["refresh_token"])


async def test_logout_revokes_the_access_token_without_a_refresh_token(
    start: Start, google: GoogleFake
) -> None:
    google.token = {k: v for k, v in TOKEN.items() if k != "refresh_token"}
    h = await start()
    assert (await h.login()).status == 303
    assert (await h.logout()).status == 303
    revoke = google.fake.one("POST", "/revoke")
    assert revoke.form == {"token": TOKEN["access_token"], "token_type_hint": "access_token"}
    assert not revoke.query


# -- refresh --------------------------------------------------------------------------------------


async def test_refresh_keeps_the_subject(start: Start, google: GoogleFake, clock: Clock) -> None:
    google.refresh_sub = SUB
    h = await start(offline=True)
    assert (await h.login()).status == 303
    clock.offset = TOKEN["expires_in"] + 60
    data = await (await h.api("v1/userinfo")).json()
    assert data["status"] == 200 and data["body"]["sub"] == SUB
    refresh = google.fake.requests("POST", "/token")[-1]
    assert refresh.form == {"grant_type": "refresh_token", "refresh_token": TOKEN["refresh_token"]}
    assert refresh.headers["Authorization"] == basic(CLIENT_ID, SECRET)
    last = google.fake.requests("GET", "/v1/userinfo")[-1]
    assert last.headers["Authorization"] == f"Bearer {REFRESHED['access_token']}"


async def test_refresh_with_another_subject_is_refused(
    start: Start, google: GoogleFake, clock: Clock
) -> None:
    google.refresh_sub = "999999999999999999999"
    h = await start(offline=True)
    assert (await h.login()).status == 303
    calls_before = len(google.fake.requests("GET", "/v1/userinfo"))
    clock.offset = TOKEN["expires_in"] + 60
    resp = await h.api("v1/userinfo")
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert len(google.fake.requests("POST", "/token")) == 2  # the code, one refresh
    assert len(google.fake.requests("GET", "/v1/userinfo")) == calls_before  # no API call
    clock.offset = 0
    assert not await h.logged_in()
