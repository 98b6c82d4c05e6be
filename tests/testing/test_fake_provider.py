"""Tests for the in-process fake OAuth 2.0 / OIDC provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aiohttp_oauth2_login.testing._fake.provider import FAILURE_MODES, FakeAccount, FakeProvider

from ..support.app import Client
from ..support.jwt import s256

ClientFactory = Callable[[web.Application], Awaitable[Client]]
REDIRECT_URI = "https://rp.example/auth/callback/dev"
CLIENT_SECRET = "test-secret"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _b64_json(segment: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


def jwt_header(token: str) -> dict[str, Any]:
    """The unverified header (pyjwt refuses to parse some of the hostile tokens at all)."""
    return _b64_json(token.split(".")[0])


def jwt_payload(token: str) -> dict[str, Any]:
    """The unverified claims."""
    return _b64_json(token.split(".")[1])


def basic(client_id: str = "test-client", secret: str = CLIENT_SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, fake: FakeProvider) -> Client:
    client = await aiohttp_client(fake.make_app())
    fake.issuer = str(client.make_url("")).rstrip("/")
    return client


def auth_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "client_id": "test-client",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": "st-" + secrets.token_urlsafe(8),
        "nonce": "n-" + secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


async def authorize(client: Client, fake: FakeProvider, **overrides: str) -> dict[str, Any]:
    """Run an auto-approved authorization request; return the callback query and PKCE data."""
    fake.auto_approve = True
    verifier, challenge = pkce()
    params = auth_params(challenge, **overrides)
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {"query": query_of(location), "verifier": verifier, "params": params}


async def redeem(
    client: Client, code: str, verifier: str, **overrides: str
) -> aiohttp.ClientResponse:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **overrides,
    }
    return await client.post("/token", data=form, headers=basic())


async def login(client: Client, fake: FakeProvider, **overrides: str) -> dict[str, Any]:
    flow = await authorize(client, fake, **overrides)
    resp = await redeem(client, flow["query"]["code"], flow["verifier"])
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    body["_nonce"] = flow["params"]["nonce"]
    return body


async def refresh(client: Client, token: str) -> aiohttp.ClientResponse:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return await client.post("/token", data=form, headers=basic())


async def verify_id_token(client: Client, fake: FakeProvider, token: str) -> dict[str, Any]:
    jwks = await (await client.get("/jwks")).json()
    kid = jwt_header(token)["kid"]
    jwk = next(key for key in jwks["keys"] if key["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=fake.client_id,
        issuer=fake.issuer,
        options={"require": ["exp", "iat", "sub"]},
    )
    return claims


# ---- configuration ----------------------------------------------------------------------------


def test_defaults_and_repr() -> None:
    fake = FakeProvider(client_secret="s3cret-value")
    assert set(fake.accounts) == {"alice", "bob"}
    assert fake.default_account == "alice"
    assert fake.accounts["alice"].claims() == {
        "sub": "alice",
        "name": "Alice Example",
        "email": "alice@example.com",
        "email_verified": True,
        "preferred_username": "alice",
    }
    assert "s3cret-value" not in repr(fake)
    with pytest.raises(RuntimeError, match="start"):
        _ = fake.issuer


def test_account_claims_and_custom_accounts() -> None:
    carol = FakeAccount(sub="c-1", email="c@x.test", email_verified=False, extra_claims={"hd": "x"})
    assert carol.claims() == {"sub": "c-1", "email": "c@x.test", "email_verified": False, "hd": "x"}
    assert FakeAccount(sub="d").claims() == {"sub": "d"}
    fake = FakeProvider(accounts=[carol])
    assert list(fake.accounts) == ["c-1"]
    assert fake.default_account == "c-1"
    with pytest.raises(ValueError, match="duplicate"):
        FakeProvider(accounts=[carol, carol])


def test_fail_validates_names_and_reset() -> None:
    fake = FakeProvider()
    with pytest.raises(ValueError, match="unknown failure mode"):
        fake.fail("token_error", "no_such_mode")
    assert fake.failures == set()
    fake.fail("token_error", "jwks_500")
    fake.calls["token"] += 1
    fake.reset()
    assert fake.failures == set() and not fake.calls


@pytest.mark.parametrize("mode", sorted(FAILURE_MODES))
def test_every_failure_mode_is_accepted(mode: str) -> None:
    fake = FakeProvider()
    fake.fail(mode)
    assert fake.failures == {mode}


# ---- discovery and keys -----------------------------------------------------------------------


async def test_discovery_document(client: Client, fake: FakeProvider) -> None:
    resp = await client.get("/.well-known/openid-configuration")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["issuer"] == fake.issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert doc[name] == fake.issuer + path
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert "refresh_token" in doc["grant_types_supported"]
    assert doc["subject_types_supported"] == ["public"]
    assert "email_verified" in doc["claims_supported"]
    assert fake.calls["discovery"] == 1


async def test_jwks(client: Client, fake: FakeProvider) -> None:
    keys = (await (await client.get("/jwks")).json())["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert {k: key[k] for k in ("kty", "use", "alg", "kid", "e")} == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": "fake-1",
        "e": "AQAB",
    }
    assert "d" not in key and "p" not in key
    assert jwt.PyJWK(key).key.key_size == 2048
    # the key is generated once per provider
    again = (await (await client.get("/jwks")).json())["keys"]
    assert again == keys


async def test_key_rotation(client: Client, fake: FakeProvider) -> None:
    first = await login(client, fake)
    assert jwt_header(first["id_token"])["kid"] == "fake-1"
    assert fake.rotate_keys() == "fake-2"
    kids = [k["kid"] for k in (await (await client.get("/jwks")).json())["keys"]]
    assert sorted(kids) == ["fake-1", "fake-2"]
    second = await login(client, fake)
    assert jwt_header(second["id_token"])["kid"] == "fake-2"
    await verify_id_token(client, fake, first["id_token"])
    await verify_id_token(client, fake, second["id_token"])
    assert fake.rotate_keys(keep_old=False) == "fake-3"
    kids = [k["kid"] for k in (await (await client.get("/jwks")).json())["keys"]]
    assert kids == ["fake-3"]


# ---- authorization endpoint -------------------------------------------------------------------


async def test_sign_in_page(client: Client, fake: FakeProvider) -> None:
    fake.title = "Dev <sign-in>"
    fake.accounts["evil"] = FakeAccount(sub="evil", name="<script>alert(1)</script>")
    _, challenge = pkce()
    resp = await client.get("/authorize", params=auth_params(challenge))
    assert resp.status == 200
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    # the form posts here and the answer redirects to the relying party: browsers check both
    # against form-action (CSP Level 3 §6.4.1), so the redirect URI's origin is allowed too
    assert csp == (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://rp.example; "
        "frame-ancestors 'none'"
    )
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert "<title>Dev &lt;sign-in&gt;</title>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "development" in page.lower()
    assert 'type="radio" name="account" value="alice" checked' in page
    assert 'value="bob"' in page
    assert 'name="username"' in page
    assert 'value="approve"' in page and 'value="deny"' in page
    assert 'action="/authorize"' in page
    assert "http" + "s://" not in page.split("<main>")[0]  # no external resources
    assert fake.calls["authorize"] == 1
    assert fake.authorize_requests[0]["client_id"] == "test-client"


@pytest.mark.parametrize(
    ("redirect_uri", "form_action"),
    [
        ("http://127.0.0.1:8080/auth/callback/dev", "'self' http://127.0.0.1:8080"),
        ("https://App.Example:8443/cb?x=1", "'self' https://app.example:8443"),
        ("http://[::1]:8080/cb", "*"),  # no CSP host-source names an IPv6 literal
        ("https://user@rp.example/cb", "*"),
    ],
)
async def test_sign_in_page_form_action_follows_the_redirect_uri(
    client: Client, redirect_uri: str, form_action: str
) -> None:
    _, challenge = pkce()
    resp = await client.get("/authorize", params=auth_params(challenge, redirect_uri=redirect_uri))
    assert resp.status == 200, await resp.text()
    directives = [d.strip() for d in resp.headers["Content-Security-Policy"].split(";")]
    assert f"form-action {form_action}" in directives
    assert "default-src 'none'" in directives and "frame-ancestors 'none'" in directives


async def open_interaction(client: Client) -> tuple[str, dict[str, str]]:
    _, challenge = pkce()
    params = auth_params(challenge)
    page = await (await client.get("/authorize", params=params)).text()
    interaction = page.split('name="interaction" value="')[1].split('"')[0]
    return interaction, params


async def test_sign_in_approve(client: Client, fake: FakeProvider) -> None:
    interaction, params = await open_interaction(client)
    form = {"interaction": interaction, "account": "bob", "action": "approve"}
    resp = await client.post("/authorize", data=form, allow_redirects=False)
    assert resp.status == 302
    query = query_of(resp.headers["Location"])
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == params["state"] and query["iss"] == fake.issuer
    assert fake.calls["authorize_submit"] == 1
    # the interaction is single use
    resp = await client.post("/authorize", data=form, allow_redirects=False)
    assert resp.status == 400 and "text/html" in resp.headers["Content-Type"]


async def test_sign_in_deny(client: Client, fake: FakeProvider) -> None:
    interaction, params = await open_interaction(client)
    form = {"interaction": interaction, "account": "alice", "action": "deny"}
    resp = await client.post("/authorize", data=form, allow_redirects=False)
    assert resp.status == 302
    query = query_of(resp.headers["Location"])
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == params["state"] and query["iss"] == fake.issuer
    assert "code" not in query


async def test_sign_in_ad_hoc_username(client: Client, fake: FakeProvider) -> None:
    interaction, _ = await open_interaction(client)
    form = {"interaction": interaction, "username": "zoe", "action": "approve"}
    resp = await client.post("/authorize", data=form, allow_redirects=False)
    assert resp.status == 302 and "code" in query_of(resp.headers["Location"])
    assert fake.accounts["zoe"].claims()["email"] == "zoe@example.com"


@pytest.mark.parametrize(
    "form",
    [
        {"interaction": "nope", "account": "alice", "action": "approve"},
        {"account": "alice", "action": "approve"},
    ],
)
async def test_sign_in_unknown_interaction(client: Client, form: dict[str, str]) -> None:
    resp = await client.post("/authorize", data=form, allow_redirects=False)
    assert resp.status == 400
    assert "Location" not in resp.headers


@pytest.mark.parametrize(
    "override",
    [
        {"client_id": "other"},
        {"redirect_uri": "/relative"},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "https://rp.example/cb#frag"},
        {"redirect_uri": ""},
    ],
)
async def test_authorize_unusable_client_or_redirect(
    client: Client, fake: FakeProvider, override: dict[str, str]
) -> None:
    fake.auto_approve = True
    _, challenge = pkce()
    params = auth_params(challenge, **override)
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    assert resp.status == 400
    assert "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "unsupported_response_type"),
    ],
)
async def test_authorize_invalid_request_redirects(
    client: Client, fake: FakeProvider, override: dict[str, str], error: str
) -> None:
    fake.auto_approve = True
    _, challenge = pkce()
    params = auth_params(challenge, **override)
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    assert resp.status == 302
    query = query_of(resp.headers["Location"])
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert "code" not in query


async def test_authorize_repeated_parameter(client: Client, fake: FakeProvider) -> None:
    fake.auto_approve = True
    _, challenge = pkce()
    params = list(auth_params(challenge).items()) + [("state", "second")]
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    assert query_of(resp.headers["Location"])["error"] == "invalid_request"


async def test_auto_approve(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake, redirect_uri=REDIRECT_URI)
    assert set(flow["query"]) == {"code", "state", "iss"}
    assert flow["query"]["state"] == flow["params"]["state"]
    assert fake.calls["authorize"] == 1 and fake.calls["authorize_submit"] == 0


async def test_redirect_uri_with_query_is_extended(client: Client, fake: FakeProvider) -> None:
    fake.auto_approve = True
    _, challenge = pkce()
    params = auth_params(challenge, redirect_uri="https://rp.example/cb?x=1")
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    location = resp.headers["Location"]
    assert location.startswith("https://rp.example/cb?x=1&code=")


# ---- token endpoint ---------------------------------------------------------------------------


async def test_code_exchange_and_id_token(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    resp = await redeem(client, flow["query"]["code"], flow["verifier"])
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid profile email"
    assert body["access_token"] and body["refresh_token"]
    claims = await verify_id_token(client, fake, body["id_token"])
    assert jwt_header(body["id_token"])["alg"] == "RS256"
    assert claims["iss"] == fake.issuer
    assert claims["sub"] == "alice"
    assert claims["aud"] == "test-client" and claims["azp"] == "test-client"
    assert claims["nonce"] == flow["params"]["nonce"]
    assert claims["name"] == "Alice Example" and claims["email_verified"] is True
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["exp"] == claims["iat"] + 300
    assert claims["auth_time"] <= claims["iat"]
    assert fake.calls["token"] == 1
    assert fake.token_requests[0]["code_verifier"] == flow["verifier"]
    assert fake.token_requests[0]["_auth"] == "basic"


async def test_no_id_token_without_openid_scope(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake, scope="profile")
    assert "id_token" not in body and body["scope"] == "profile"


async def test_no_nonce_when_not_requested(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    fake.auto_approve = True
    verifier, challenge = pkce()
    params = auth_params(challenge)
    del params["nonce"]
    resp = await client.get("/authorize", params=params, allow_redirects=False)
    code = query_of(resp.headers["Location"])["code"]
    body = await (await redeem(client, code, verifier)).json()
    assert "nonce" not in await verify_id_token(client, fake, body["id_token"])
    assert flow["query"]["code"] != code


@pytest.mark.parametrize(
    "verifier",
    [None, "", "x" * 43, "short", "é" * 43],
    ids=["missing", "empty", "wrong", "too-short", "non-ascii"],
)
async def test_pkce_wrong_verifier(
    client: Client, fake: FakeProvider, verifier: str | None
) -> None:
    flow = await authorize(client, fake)
    form = {
        "grant_type": "authorization_code",
        "code": flow["query"]["code"],
        "redirect_uri": REDIRECT_URI,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    resp = await client.post("/token", data=form, headers=basic())
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_grant"


async def test_redirect_uri_must_match(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    resp = await redeem(
        client, flow["query"]["code"], flow["verifier"], redirect_uri="https://rp.example/other"
    )
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"


async def test_code_reuse_revokes_issued_tokens(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    first = await (await redeem(client, flow["query"]["code"], flow["verifier"])).json()
    assert not fake.revoked(first["access_token"])
    again = await redeem(client, flow["query"]["code"], flow["verifier"])
    assert again.status == 400 and (await again.json())["error"] == "invalid_grant"
    assert fake.revoked(first["access_token"]) and fake.revoked(first["refresh_token"])
    assert fake.active_refresh_tokens() == set()


async def test_code_expires(client: Client, fake: FakeProvider) -> None:
    fake.code_ttl = -1
    flow = await authorize(client, fake)
    resp = await redeem(client, flow["query"]["code"], flow["verifier"])
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"


async def test_unknown_code_and_grant_type(client: Client, fake: FakeProvider) -> None:
    resp = await redeem(client, "nope", "x" * 43)
    assert (await resp.json())["error"] == "invalid_grant"
    resp = await client.post("/token", data={"grant_type": "password"}, headers=basic())
    assert resp.status == 400 and (await resp.json())["error"] == "unsupported_grant_type"


async def test_client_secret_post(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    form = {
        "grant_type": "authorization_code",
        "code": flow["query"]["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["verifier"],
        "client_id": "test-client",
        "client_secret": "test-secret",
    }
    resp = await client.post("/token", data=form)
    assert resp.status == 200
    assert fake.token_requests[-1]["_auth"] == "post"


async def test_basic_auth_credentials_are_form_urlencoded(
    aiohttp_client: ClientFactory,
) -> None:
    fake = FakeProvider(client_id="my client", client_secret="p@ss:wörd+")
    client = await aiohttp_client(fake.make_app())
    fake.issuer = str(client.make_url("")).rstrip("/")
    raw = base64.b64encode(b"my+client:p%40ss%3Aw%C3%B6rd%2B").decode()
    form = {"grant_type": "refresh_token", "refresh_token": "unknown"}
    resp = await client.post("/token", data=form, headers={"Authorization": f"Basic {raw}"})
    assert (await resp.json())["error"] == "invalid_grant"  # authenticated, then the grant fails


@pytest.mark.parametrize(
    ("headers", "form", "status", "error"),
    [
        (basic(secret="wrong"), {}, 401, "invalid_client"),
        (basic(client_id="other"), {}, 401, "invalid_client"),
        ({"Authorization": "Basic !!!"}, {}, 401, "invalid_client"),
        ({}, {"client_id": "test-client", "client_secret": "wrong"}, 401, "invalid_client"),
        ({}, {"client_id": "test-client"}, 401, "invalid_client"),
        (basic(), {"client_id": "test-client", "client_secret": "test-secret"}, 400, None),
    ],
    ids=["basic-wrong-secret", "basic-wrong-id", "basic-garbage", "post-wrong", "none", "both"],
)
async def test_client_authentication_failures(
    client: Client,
    fake: FakeProvider,
    headers: dict[str, str],
    form: dict[str, str],
    status: int,
    error: str | None,
) -> None:
    flow = await authorize(client, fake)
    data = {
        "grant_type": "authorization_code",
        "code": flow["query"]["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["verifier"],
        **form,
    }
    resp = await client.post("/token", data=data, headers=headers)
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == (error or "invalid_request")
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
    # the code was not burnt by the failed authentication
    assert (await redeem(client, flow["query"]["code"], flow["verifier"])).status == 200


async def test_refresh_rotation_and_reuse_detection(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    first_rt = body["refresh_token"]
    assert fake.active_refresh_tokens() == {first_rt}
    resp = await refresh(client, first_rt)
    assert resp.status == 200
    renewed = await resp.json()
    assert renewed["refresh_token"] != first_rt
    assert renewed["access_token"] != body["access_token"]
    assert fake.active_refresh_tokens() == {renewed["refresh_token"]}
    assert fake.calls["refresh"] == 1 and fake.calls["token"] == 1
    claims = await verify_id_token(client, fake, renewed["id_token"])
    assert claims["sub"] == "alice" and "nonce" not in claims
    # presenting the rotated token again revokes the whole family
    reuse = await refresh(client, first_rt)
    assert reuse.status == 400 and (await reuse.json())["error"] == "invalid_grant"
    assert fake.active_refresh_tokens() == set()
    assert fake.revoked(renewed["refresh_token"]) and fake.revoked(renewed["access_token"])
    resp = await refresh(client, renewed["refresh_token"])
    assert (await resp.json())["error"] == "invalid_grant"


async def test_refresh_scope_can_shrink_but_not_grow(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake, scope="openid email")
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "scope": "admin"}
    resp = await client.post("/token", data=form, headers=basic())
    assert (await resp.json())["error"] == "invalid_scope"
    form["scope"] = "email"
    renewed = await (await client.post("/token", data=form, headers=basic())).json()
    assert renewed["scope"] == "email"
    bearer = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert (await (await client.get("/api/me", headers=bearer)).json())["token_scope"] == "email"


# ---- userinfo, API, revocation, logout --------------------------------------------------------


async def test_userinfo(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    resp = await client.get("/userinfo", headers=bearer)
    assert resp.status == 200
    assert await resp.json() == fake.accounts["alice"].claims()
    assert (await client.post("/userinfo", headers=bearer)).status == 200
    resp = await client.get("/userinfo")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    fake.expire_access_tokens()
    resp = await client.get("/userinfo", headers=bearer)
    assert resp.status == 401
    assert fake.calls["userinfo"] == 5


async def test_api_me(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake, scope="openid profile")
    resp = await client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert resp.status == 200
    assert await resp.json() == {
        "sub": "alice",
        "name": "Alice Example",
        "token_scope": "openid profile",
    }
    assert (await client.get("/api/me")).status == 401
    assert fake.calls["api"] == 2


async def test_revoke_access_token_only(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    resp = await client.post(
        "/revoke",
        data={"token": body["access_token"], "token_type_hint": "access_token"},
        headers=basic(),
    )
    assert resp.status == 200
    assert fake.revoked(body["access_token"])
    assert not fake.revoked(body["refresh_token"])
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/userinfo", headers=bearer)).status == 401
    assert (await refresh(client, body["refresh_token"])).status == 200


async def test_revoke_refresh_token_revokes_family(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    form = {
        "token": body["refresh_token"],
        "client_id": "test-client",
        "client_secret": "test-secret",
    }
    resp = await client.post("/revoke", data=form)
    assert resp.status == 200
    assert fake.revoked(body["refresh_token"]) and fake.revoked(body["access_token"])
    assert fake.active_refresh_tokens() == set()
    assert (await refresh(client, body["refresh_token"])).status == 400
    assert fake.calls["revoke"] == 1


async def test_revoke_unknown_token_and_auth(client: Client, fake: FakeProvider) -> None:
    assert (await client.post("/revoke", data={"token": "nope"}, headers=basic())).status == 200
    assert not fake.revoked("nope")
    resp = await client.post("/revoke", data={"token": "nope"}, headers=basic(secret="bad"))
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"
    resp = await client.post("/revoke", data={}, headers=basic())
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"


async def test_logout(client: Client, fake: FakeProvider) -> None:
    params = {
        "id_token_hint": "hint",
        "post_logout_redirect_uri": "https://rp.example/bye",
        "state": "s1",
        "client_id": "test-client",
    }
    resp = await client.get("/logout", params=params, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://rp.example/bye?state=s1"
    assert fake.logout_requests[-1]["id_token_hint"] == "hint"
    resp = await client.get("/logout", allow_redirects=False)
    assert resp.status == 200 and "Signed out" in await resp.text()
    resp = await client.get(
        "/logout", params={"post_logout_redirect_uri": "javascript:x"}, allow_redirects=False
    )
    assert resp.status == 400 and "Location" not in resp.headers
    resp = await client.post("/logout", data=params, allow_redirects=False)
    assert resp.headers["Location"] == "https://rp.example/bye?state=s1"
    assert fake.calls["end_session"] == 4


# ---- serving ----------------------------------------------------------------------------------


async def test_start_and_stop_on_a_real_port() -> None:
    fake = FakeProvider(auto_approve=True)
    issuer = await fake.start()
    try:
        assert issuer == fake.issuer and issuer.startswith("http://127.0.0.1:")
        assert not issuer.endswith(":0")
        async with aiohttp.ClientSession() as session:
            async with session.get(issuer + "/.well-known/openid-configuration") as resp:
                assert (await resp.json())["issuer"] == issuer
        with pytest.raises(RuntimeError, match="already started"):
            await fake.start()
    finally:
        await fake.stop()
    await fake.stop()  # idempotent
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(issuer + "/jwks")


async def test_stop_does_not_wait_for_a_hanging_request() -> None:
    fake = FakeProvider()
    issuer = await fake.start()
    fake.fail("token_timeout")
    port = int(issuer.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"grant_type=authorization_code"
    writer.write(
        b"POST /token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    for _ in range(100):
        if fake.calls["token"]:
            break
        await asyncio.sleep(0.01)
    assert fake.calls["token"] == 1
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 2
    writer.close()
    await writer.wait_closed()


async def test_start_keeps_explicit_issuer() -> None:
    fake = FakeProvider(issuer="https://login.example")
    try:
        assert await fake.start() == "https://login.example"
    finally:
        await fake.stop()


async def test_mounted_as_sub_app(aiohttp_client: ClientFactory) -> None:
    fake = FakeProvider(auto_approve=True)
    app = web.Application()
    app.add_subapp("/dev", fake.make_app())
    client = await aiohttp_client(app)
    fake.issuer = str(client.make_url("/dev"))
    doc = await (await client.get("/dev/.well-known/openid-configuration")).json()
    assert doc["issuer"] == fake.issuer and fake.issuer.endswith("/dev")
    assert doc["token_endpoint"] == fake.issuer + "/token"
    verifier, challenge = pkce()
    resp = await client.get("/dev/authorize", params=auth_params(challenge), allow_redirects=False)
    code = query_of(resp.headers["Location"])["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    resp = await client.post("/dev/token", data=form, headers=basic())
    assert resp.status == 200
    fake.auto_approve = False
    page = await (await client.get("/dev/authorize", params=auth_params(challenge))).text()
    assert 'action="/dev/authorize"' in page


# ---- failure modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "check"),
    [
        ("token_error", 400, lambda body: json.loads(body)["error"] == "invalid_grant"),
        ("token_500", 500, lambda body: "error" in json.loads(body)),
        ("token_html", 200, lambda body: body.lstrip().startswith("<!doctype html>")),
        ("token_200_error", 200, lambda body: json.loads(body)["error"] == "bad_verification_code"),
        ("token_missing_access_token", 200, lambda body: "access_token" not in json.loads(body)),
        ("token_wrong_type", 200, lambda body: json.loads(body)["token_type"] == "mac"),
        ("token_not_object", 200, lambda body: isinstance(json.loads(body), list)),
        ("token_huge", 200, lambda body: len(body) > 5_000_000 and "padding" in json.loads(body)),
    ],
)
async def test_token_failure_modes(
    client: Client, fake: FakeProvider, mode: str, status: int, check: Callable[[str], bool]
) -> None:
    flow = await authorize(client, fake)
    fake.fail(mode)
    resp = await redeem(client, flow["query"]["code"], flow["verifier"])
    assert resp.status == status
    assert check(await resp.text())
    assert fake.calls["token"] == 1


async def test_token_failure_modes_apply_to_refresh(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    fake.fail("token_500")
    assert (await refresh(client, body["refresh_token"])).status == 500
    fake.reset()
    fake.fail("refresh_error")
    resp = await refresh(client, body["refresh_token"])
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    fake.reset()
    assert (await refresh(client, body["refresh_token"])).status == 200


async def test_refresh_error_does_not_affect_code_exchange(
    client: Client, fake: FakeProvider
) -> None:
    fake.fail("refresh_error")
    await login(client, fake)


@pytest.mark.parametrize("mode", ["token_timeout", "token_trickle"])
async def test_token_stalls_until_the_client_times_out(
    client: Client, fake: FakeProvider, mode: str
) -> None:
    flow = await authorize(client, fake)
    fake.fail(mode)
    started = time.monotonic()
    form = {
        "grant_type": "authorization_code",
        "code": flow["query"]["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["verifier"],
    }
    timeout = aiohttp.ClientTimeout(total=0.5)
    with pytest.raises(asyncio.TimeoutError):
        async with client.post("/token", data=form, headers=basic(), timeout=timeout) as resp:
            await resp.read()
    assert time.monotonic() - started < 5


async def test_token_redirect(client: Client, fake: FakeProvider) -> None:
    flow = await authorize(client, fake)
    fake.fail("token_redirect")
    form = {
        "grant_type": "authorization_code",
        "code": flow["query"]["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow["verifier"],
    }
    resp = await client.post("/token", data=form, headers=basic(), allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["Location"] == fake.issuer + "/redirect-target"
    assert fake.calls["redirect_target"] == 0
    # a client that follows the redirect re-sends its secrets, and gets a real token
    resp = await client.post("/token", data=form, headers=basic())
    assert resp.status == 200 and "access_token" in await resp.json()
    assert fake.calls["redirect_target"] == 1


@pytest.mark.parametrize(
    "mode",
    [
        "id_token_wrong_aud",
        "id_token_wrong_iss",
        "id_token_expired",
        "id_token_bad_signature",
        "id_token_future_iat",
    ],
)
async def test_id_token_failures_break_verification(
    client: Client, fake: FakeProvider, mode: str
) -> None:
    fake.fail(mode)
    body = await login(client, fake)
    with pytest.raises(jwt.InvalidTokenError):
        await verify_id_token(client, fake, body["id_token"])


async def test_id_token_claim_failure_modes(client: Client, fake: FakeProvider) -> None:
    async def claims_with(mode: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        fake.reset()
        fake.fail(mode)
        body = await login(client, fake)
        token = body.get("id_token", "")
        if not token:
            return {}, {}, body["_nonce"]
        return jwt_header(token), jwt_payload(token), body["_nonce"]

    _, claims, _ = await claims_with("id_token_missing")
    assert claims == {}
    _, claims, _ = await claims_with("id_token_multi_aud_no_azp")
    assert claims["aud"] == ["test-client", "other"] and "azp" not in claims
    _, claims, _ = await claims_with("id_token_wrong_azp")
    assert "test-client" in claims["aud"] and claims["azp"] != "test-client"
    _, claims, nonce = await claims_with("id_token_wrong_nonce")
    assert claims["nonce"] != nonce
    _, claims, _ = await claims_with("id_token_no_nonce")
    assert "nonce" not in claims
    _, claims, _ = await claims_with("id_token_old_iat")
    assert claims["iat"] < time.time() - 86400 < time.time() < claims["exp"]
    _, claims, _ = await claims_with("id_token_no_sub")
    assert "sub" not in claims
    header, _, _ = await claims_with("id_token_no_kid")
    assert "kid" not in header and header["alg"] == "RS256"
    header, _, _ = await claims_with("id_token_crit")
    assert header["crit"] == ["exp-x"] and "exp-x" in header
    with pytest.raises(jwt.InvalidTokenError, match="critical"):
        await verify_id_token(client, fake, (await login(client, fake))["id_token"])
    header, _, _ = await claims_with("id_token_unknown_kid")
    jwks = await (await client.get("/jwks")).json()
    assert header["kid"] not in {key["kid"] for key in jwks["keys"]}


async def test_id_token_alg_none_and_hs256_confusion(client: Client, fake: FakeProvider) -> None:
    fake.fail("id_token_alg_none")
    token = (await login(client, fake))["id_token"]
    assert jwt_header(token)["alg"] == "none" and token.endswith(".")
    fake.reset()
    fake.fail("id_token_hs256_pubkey")
    token = (await login(client, fake))["id_token"]
    assert jwt_header(token)["alg"] == "HS256"
    jwk = (await (await client.get("/jwks")).json())["keys"][0]
    pem = jwt.PyJWK(jwk).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
    with pytest.raises(jwt.InvalidTokenError):
        await verify_id_token(client, fake, token)


async def test_id_token_failure_modes_apply_to_refresh(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    fake.fail("id_token_wrong_iss")
    renewed = await (await refresh(client, body["refresh_token"])).json()
    assert jwt_payload(renewed["id_token"])["iss"] == "https://evil.example"


@pytest.mark.parametrize(
    ("mode", "status", "check"),
    [
        ("userinfo_401", 401, lambda body: True),
        ("userinfo_500", 500, lambda body: True),
        ("userinfo_html", 200, lambda body: body.lstrip().startswith("<!doctype html>")),
        ("userinfo_wrong_sub", 200, lambda body: json.loads(body)["sub"] != "alice"),
        ("userinfo_not_object", 200, lambda body: isinstance(json.loads(body), list)),
    ],
)
async def test_userinfo_failure_modes(
    client: Client, fake: FakeProvider, mode: str, status: int, check: Callable[[str], bool]
) -> None:
    body = await login(client, fake)
    fake.fail(mode)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    resp = await client.get("/userinfo", headers=bearer)
    assert resp.status == status and check(await resp.text())
    # the protected API is not affected by userinfo failure modes
    assert (await client.get("/api/me", headers=bearer)).status == 200


async def test_authorization_response_failure_modes(client: Client, fake: FakeProvider) -> None:
    fake.fail("iss_mismatch")
    assert (await authorize(client, fake))["query"]["iss"] == "https://evil.example"
    fake.reset()
    fake.fail("iss_missing")
    assert "iss" not in (await authorize(client, fake))["query"]
    fake.reset()
    fake.fail("deny")
    query = (await authorize(client, fake))["query"]
    assert query["error"] == "access_denied" and "code" not in query
    fake.reset()
    fake.fail("implicit_tokens")
    flow = await authorize(client, fake)
    query = flow["query"]
    assert {"code", "access_token", "id_token"} <= set(query)
    claims = await verify_id_token(client, fake, query["id_token"])
    assert claims["nonce"] == flow["params"]["nonce"]


async def test_discovery_and_jwks_failure_modes(client: Client, fake: FakeProvider) -> None:
    fake.fail("discovery_wrong_issuer")
    doc = await (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] != fake.issuer
    fake.reset()
    fake.fail("discovery_500")
    assert (await client.get("/.well-known/openid-configuration")).status == 500
    fake.reset()
    fake.fail("discovery_html")
    resp = await client.get("/.well-known/openid-configuration")
    assert resp.status == 200 and resp.content_type == "text/html"
    fake.reset()
    fake.fail("jwks_500")
    assert (await client.get("/jwks")).status == 500


async def test_revocation_failure_modes(client: Client, fake: FakeProvider) -> None:
    body = await login(client, fake)
    fake.fail("revoke_500")
    form = {"token": body["refresh_token"]}
    assert (await client.post("/revoke", data=form, headers=basic())).status == 500
    assert not fake.revoked(body["refresh_token"])
    fake.reset()
    fake.fail("revoke_timeout")
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            "/revoke", data=form, headers=basic(), timeout=aiohttp.ClientTimeout(total=0.5)
        )
    assert not fake.revoked(body["refresh_token"])
