"""The fake provider's GitHub, Google and Facebook personalities: the real presets, unchanged,
sign in against them (``preset_for``), their APIs answer in the providers' documented shapes, and
the failure modes that apply to them break a login without a 500 (issue 12 §1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from aiohttp_oauth2_login import User, get_client, get_user, login_required
from aiohttp_oauth2_login.providers import Facebook, GitHub, Google, OIDCProvider
from aiohttp_oauth2_login.testing import (
    FAILURE_MODES,
    PERSONALITIES,
    FakeAccount,
    FakeProvider,
    login_as,
    login_flow,
    preset_for,
)

from ..support.app import Client, FakeFactory, build_app, origin_of, user_json, who
from ..support.jwt import s256

REDIRECT_URI = "https://rp.example/auth/callback/x"
#: modes a login survives: refresh and revocation come later; an ID token without ``kid`` is
#: fine while the JWKS holds one key
LOGIN_SURVIVES = {"refresh_error", "revoke_500", "revoke_timeout", "id_token_no_kid"}


@login_required
async def me(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({**user_json(user), "avatar_url": user.avatar_url})


@login_required
async def through_api(request: web.Request) -> web.Response:
    """``get_client`` GETs ``?path=`` at the provider's API as the user."""
    client = await get_client(request)
    async with client.get(request.query["path"]) as resp:
        body = await resp.json(content_type=None)
        return web.json_response({"status": resp.status, "body": body})


async def app_client(aiohttp_client: Any, fake: FakeProvider, **options: Any) -> Client:
    setup = {k: options.pop(k) for k in ("http_timeout",) if k in options}
    app = build_app([preset_for(fake, **options)], **setup)
    app.router.add_get("/me", me)
    app.router.add_get("/api", through_api)
    client: Client = await aiohttp_client(app)
    return client


async def signed_in_as(client: Client) -> dict[str, Any]:
    resp = await client.get("/me")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def api(client: Client, path: str) -> dict[str, Any]:
    resp = await client.get("/api", params={"path": path})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def log_out(client: Client) -> None:
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(
    http: aiohttp.ClientSession, fake: FakeProvider, path: str, scope: str, **extra: str
) -> tuple[dict[str, str], str]:
    """An auto-approved authorization request straight at the fake: callback query, verifier."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": fake.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    async with http.get(fake.issuer + path, params=params, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return query_of(resp.headers["Location"]), verifier


def code_form(fake: FakeProvider, code: str, verifier: str, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }
    form.update(changes)
    return form


def failure_cases(personality: str) -> list[str]:
    return sorted(FakeProvider(personality=personality).failure_modes - LOGIN_SURVIVES)


async def assert_login_fails_cleanly(aiohttp_client: Any, fake: FakeProvider, mode: str) -> None:
    client = await app_client(aiohttp_client, fake, http_timeout=1.0)
    fake.fail(mode)
    resp = await login_flow(client, fake.personality if fake.personality != "oidc" else "fake")
    assert resp.status in (400, 401, 403, 502, 504), (mode, resp.status)
    assert await who(client) is None


# ---- personalities in general -----------------------------------------------------------------


def test_personalities_and_their_failure_modes() -> None:
    assert set(PERSONALITIES) == {"oidc", "github", "google", "facebook"}
    assert FakeProvider().failure_modes == FAILURE_MODES
    github = FakeProvider(personality="github")
    assert github.failure_modes < FAILURE_MODES
    assert not {m for m in github.failure_modes if m.startswith(("id_token_", "discovery_"))}
    assert FakeProvider(personality="google").failure_modes == FAILURE_MODES - {"iss_missing"}
    with pytest.raises(ValueError, match="personality"):
        FakeProvider(personality="gitlab")


def test_fail_refuses_modes_a_personality_ignores() -> None:
    fake = FakeProvider(personality="facebook")
    with pytest.raises(ValueError, match="change nothing on the facebook personality"):
        fake.fail("id_token_expired")
    assert fake.failures == set()
    fake.fail("token_500", "userinfo_401")
    assert fake.failures == {"token_500", "userinfo_401"}


@pytest.mark.parametrize(
    ("personality", "title"),
    [
        ("oidc", "Development sign-in"),
        ("github", "Sign in to GitHub (fake)"),
        ("google", "Sign in with Google (fake)"),
        ("facebook", "Log in with Facebook (fake)"),
    ],
)
def test_titles_and_repr(personality: str, title: str) -> None:
    fake = FakeProvider(personality=personality)
    assert fake.title == title
    assert f"<FakeProvider {personality} " in repr(fake)
    assert FakeProvider(personality=personality, title="Mine").title == "Mine"


@pytest.mark.parametrize(
    ("fixture", "preset"),
    [
        ("fake_provider", OIDCProvider),
        ("fake_github", GitHub),
        ("fake_google", Google),
        ("fake_facebook", Facebook),
    ],
)
def test_preset_for_every_fixture(
    request: pytest.FixtureRequest, fixture: str, preset: type[Any]
) -> None:
    fake: FakeProvider = request.getfixturevalue(fixture)
    provider = preset_for(fake, name="mine", title="Mine")
    assert type(provider) is preset
    assert (provider.name, provider.title, provider.client_id) == ("mine", "Mine", fake.client_id)
    assert provider.client_secret == fake.client_secret
    assert fake.auto_approve and fake.personality == fixture.removeprefix("fake_").replace(
        "provider", "oidc"
    )


def test_numeric_ids_are_stable_and_digits_stay() -> None:
    one, two = FakeProvider(personality="github"), FakeProvider(personality="github")
    assert one.user_id("alice") == two.user_id("alice") != one.user_id("bob")
    assert one.user_id("alice").isdigit() and len(one.user_id("alice")) == 8
    assert one.user_id("583231") == "583231"
    facebook = FakeProvider(personality="facebook")
    assert facebook.user_id("alice").isdigit() and len(facebook.user_id("alice")) == 17
    assert FakeProvider(personality="google").user_id("alice") == "alice"


# ---- GitHub -----------------------------------------------------------------------------------


async def test_github_sign_in_with_the_real_preset(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github)
    resp = await login_flow(client, "github", next="/me")
    assert resp.status == 303 and resp.headers["Location"] == "/me"
    assert await signed_in_as(client) == {
        "provider": "github",
        "id": fake_github.user_id("alice"),
        "name": "Alice Example",
        "email": "alice@example.com",
        "email_verified": True,
        "username": "alice",
        "avatar_url": f"{fake_github.issuer}/avatars/alice.png",
    }
    assert fake_github.calls["userinfo"] == 1 and fake_github.calls["emails"] == 1
    assert fake_github.token_requests[0]["_auth"] == "post"
    assert fake_github.authorize_requests[0]["scope"] == "read:user user:email"
    assert "nonce" not in fake_github.authorize_requests[0]


async def test_github_token_endpoint_speaks_like_github(fake_github: FakeProvider) -> None:
    token_url = fake_github.issuer + "/login/oauth/access_token"
    as_json = {"Accept": "application/json"}
    async with aiohttp.ClientSession() as http:
        query, verifier = await authorize(http, fake_github, "/login/oauth/authorize", "read:user")
        assert "iss" not in query and query["state"] == "st"
        form = code_form(fake_github, query["code"], verifier)
        async with http.post(token_url, data=form) as resp:  # no Accept: form-encoded
            assert resp.status == 200
            assert resp.content_type == "application/x-www-form-urlencoded"
            body = {k: v[0] for k, v in parse_qs(await resp.text()).items()}
        assert set(body) == {"access_token", "token_type", "scope"}
        assert body["token_type"] == "bearer" and body["scope"] == "read:user"
        async with http.post(token_url, data=form, headers=as_json) as resp:  # used code
            assert resp.status == 200
            assert (await resp.json())["error"] == "bad_verification_code"
        query, verifier = await authorize(http, fake_github, "/login/oauth/authorize", "a b")
        wrong = code_form(fake_github, query["code"], verifier, client_secret="nope")
        async with http.post(token_url, data=wrong, headers=as_json) as resp:
            assert resp.status == 200
            assert (await resp.json())["error"] == "incorrect_client_credentials"
        query, verifier = await authorize(http, fake_github, "/login/oauth/authorize", "a b")
        other = code_form(fake_github, query["code"], verifier, redirect_uri="https://x.example/")
        async with http.post(token_url, data=other, headers=as_json) as resp:
            assert (await resp.json())["error"] == "redirect_uri_mismatch"
        query, verifier = await authorize(http, fake_github, "/login/oauth/authorize", "a b")
        ok = code_form(fake_github, query["code"], verifier)
        async with http.post(token_url, data=ok, headers=as_json) as resp:
            body = await resp.json()
        assert body["scope"] == "a,b" and "refresh_token" not in body and "expires_in" not in body


async def test_github_wrong_client_secret_is_not_a_login(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github, client_secret="wrong")
    resp = await login_flow(client, "github")
    assert resp.status in (401, 502)
    assert await who(client) is None


async def test_github_rest_api(fake_github: FakeProvider) -> None:
    api = fake_github.issuer + "/api/v3"
    token = fake_github.issue_token("alice", scope="read:user")["access_token"]
    async with aiohttp.ClientSession() as http:
        for scheme in ("Bearer", "token"):
            headers = {"Authorization": f"{scheme} {token}"}
            async with http.get(api + "/user", headers=headers) as resp:
                assert resp.status == 200
                user = await resp.json()
            assert user["login"] == "alice" and user["id"] == int(fake_github.user_id("alice"))
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(api + "/user/emails", headers=headers) as resp:
            assert resp.status == 403  # no user:email scope
        async with http.get(api + "/user/memberships/orgs/acme", headers=headers) as resp:
            assert resp.status == 404  # no read:org scope
        async with http.get(api + "/user") as resp:
            assert resp.status == 401
            assert (await resp.json())["message"] == "Requires authentication"
        async with http.get(api + "/user", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["message"] == "Bad credentials"
        scoped = fake_github.issue_token("alice", scope="user:email read:org")["access_token"]
        headers = {"Authorization": f"Bearer {scoped}"}
        async with http.get(api + "/user/emails", headers=headers) as resp:
            assert await resp.json() == [
                {
                    "email": "alice@example.com",
                    "verified": True,
                    "primary": True,
                    "visibility": "private",
                }
            ]
        async with http.get(api + "/user/memberships/orgs/ACME", headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["state"] == "active"
        path = "/orgs/acme/teams/admins/memberships/alice"
        async with http.get(api + path, headers=headers) as resp:
            assert (await resp.json())["state"] == "active"
        async with http.get(api + path.replace("alice", "bob"), headers=headers) as resp:
            assert resp.status == 404


@pytest.mark.parametrize(
    ("option", "allowed", "refused"),
    [
        ({"allowed_orgs": ["acme"]}, "alice", "bob"),
        ({"allowed_teams": ["acme/admins"]}, "alice", "bob"),
        ({"allowed_orgs": ["other"]}, None, "alice"),
    ],
)
async def test_github_orgs_and_teams(
    aiohttp_client: Any,
    fake_provider_factory: FakeFactory,
    option: dict[str, Any],
    allowed: str | None,
    refused: str,
) -> None:
    fake = await fake_provider_factory(personality="github")
    if allowed is not None:
        client = await app_client(aiohttp_client, fake, **option)
        assert (await login_flow(client, "github", account=allowed)).status == 303
        assert (await signed_in_as(client))["username"] == allowed
    client = await app_client(aiohttp_client, fake, **option)
    assert (await login_flow(client, "github", account=refused)).status == 403
    assert await who(client) is None
    assert "read:org" in fake.authorize_requests[-1]["scope"].split()


async def test_github_without_the_email_scope(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github, scopes=["read:user"])
    assert (await login_flow(client, "github")).status == 303
    user = await signed_in_as(client)
    assert (user["email"], user["email_verified"]) == (None, False)


async def test_github_unverified_email_does_not_count(
    aiohttp_client: Any, fake_provider_factory: FakeFactory
) -> None:
    carol = FakeAccount(sub="carol", email="carol@example.com", email_verified=False)
    fake = await fake_provider_factory(personality="github", accounts=[carol], auto_approve=True)
    client = await app_client(aiohttp_client, fake)
    assert (await login_flow(client, "github")).status == 303
    user = await signed_in_as(client)
    assert (user["username"], user["email"], user["email_verified"]) == ("carol", None, False)


async def test_github_login_as_then_get_client(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github)
    user = await login_as(client, "bob")
    assert user.id == fake_github.user_id("bob") and user.username == "bob"
    answer = await api(client, "user")
    assert answer["status"] == 200 and answer["body"]["login"] == "bob"
    assert fake_github.calls["token"] == 0  # no dance


async def test_github_logout_deletes_the_grant(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github)
    assert (await login_flow(client, "github")).status == 303
    (token,) = fake_github._access_tokens
    await log_out(client)
    assert fake_github.calls["revoke"] == 1
    assert fake_github.revoked(token)


async def test_github_grant_deletion_checks_the_client(fake_github: FakeProvider) -> None:
    token = fake_github.issue_token("alice", scope="read:user")["access_token"]
    url = f"{fake_github.issuer}/api/v3/applications/{fake_github.client_id}/grant"

    def basic(secret: str) -> dict[str, str]:
        raw = base64.b64encode(f"{fake_github.client_id}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    good = basic(fake_github.client_secret)
    async with aiohttp.ClientSession() as http:
        body = {"access_token": token}
        async with http.delete(url, json=body, headers=basic("wrong")) as resp:
            assert resp.status == 401
        other = url.replace(fake_github.client_id, "someone-else")
        async with http.delete(other, json=body, headers=good) as resp:
            assert resp.status == 404
        async with http.delete(url, json={}, headers=good) as resp:
            assert resp.status == 422
        assert not fake_github.revoked(token)
        async with http.delete(url, json=body, headers=good) as resp:
            assert resp.status == 204
        assert fake_github.revoked(token)
        async with http.delete(url, json=body, headers=good) as resp:
            assert resp.status == 404


@pytest.mark.parametrize("mode", failure_cases("github"))
async def test_github_failure_modes_break_the_login_cleanly(
    aiohttp_client: Any, fake_github: FakeProvider, mode: str
) -> None:
    await assert_login_fails_cleanly(aiohttp_client, fake_github, mode)


# ---- Google -----------------------------------------------------------------------------------


async def test_google_sign_in_with_the_real_preset(
    aiohttp_client: Any, fake_google: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_google)
    assert (await login_flow(client, "google", next="/me")).status == 303
    user = await signed_in_as(client)
    assert user["id"] == "alice" and user["provider"] == "google"
    assert (user["email"], user["email_verified"]) == ("alice@example.com", True)
    assert fake_google.calls["discovery"] == 1 and fake_google.calls["userinfo"] == 1
    assert fake_google.active_refresh_tokens() == set()  # not offline: no refresh token


async def test_google_shapes(fake_google: FakeProvider) -> None:
    base = fake_google.issuer
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/.well-known/openid-configuration") as resp:
            doc = await resp.json()
        assert doc["issuer"] == base
        assert doc["authorization_endpoint"] == base + "/o/oauth2/v2/auth"
        assert doc["jwks_uri"] == base + "/oauth2/v3/certs"
        assert "end_session_endpoint" not in doc
        assert "authorization_response_iss_parameter_supported" not in doc
        query, _ = await authorize(
            http, fake_google, "/o/oauth2/v2/auth", "openid email profile", nonce="n"
        )
        assert query["iss"] == base and query["hd"] == "example.com"
        assert query["authuser"] == "0"
        assert "https://www.googleapis.com/auth/userinfo.email" in query["scope"].split()
        token = fake_google.issue_token("alice", scope="openid email")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(base + "/v1/userinfo", headers=headers) as resp:
            info = await resp.json()
        assert info["email_verified"] == "true" and info["hd"] == "example.com"  # a string
        bob = fake_google.issue_token("bob", scope="openid email")["access_token"]
        async with http.get(
            base + "/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {bob}"}
        ) as resp:
            info = await resp.json()
        assert info["email"] == "bob@gmail.com" and "hd" not in info


async def test_google_hosted_domain(
    aiohttp_client: Any, fake_provider_factory: FakeFactory
) -> None:
    fake = await fake_provider_factory(personality="google")
    client = await app_client(aiohttp_client, fake, hosted_domain="example.com")
    assert (await login_flow(client, "google", account="alice")).status == 303
    assert fake.authorize_requests[-1]["hd"] == "example.com"
    client = await app_client(aiohttp_client, fake, hosted_domain="example.com")
    assert (await login_flow(client, "google", account="bob")).status == 403
    assert await who(client) is None


async def test_google_offline_refresh_tokens_do_not_rotate(
    aiohttp_client: Any, fake_google: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_google, offline=True)
    assert (await login_flow(client, "google")).status == 303
    assert fake_google.authorize_requests[0]["access_type"] == "offline"
    (refresh,) = fake_google.active_refresh_tokens()
    raw = base64.b64encode(f"{fake_google.client_id}:{fake_google.client_secret}".encode()).decode()
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {raw}"}) as http:
        for _ in range(2):  # the same refresh token works again: Google does not rotate
            async with http.post(fake_google.issuer + "/token", data=form) as resp:
                assert resp.status == 200
                body = await resp.json()
            assert "refresh_token" not in body and "id_token" in body
    assert fake_google.active_refresh_tokens() == {refresh}


async def test_google_logout_revokes_the_grant(
    aiohttp_client: Any, fake_google: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_google, offline=True)
    assert (await login_flow(client, "google")).status == 303
    (refresh,) = fake_google.active_refresh_tokens()
    (access,) = fake_google._access_tokens
    await log_out(client)
    assert fake_google.calls["revoke"] == 1
    assert fake_google.revoked(refresh) and fake_google.revoked(access)


async def test_google_login_as_then_get_client(
    aiohttp_client: Any, fake_google: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_google)
    user = await login_as(client, "alice")
    assert (user.id, user.email, user.email_verified) == ("alice", "alice@example.com", True)
    answer = await api(client, "oauth2/v3/userinfo")
    assert answer["status"] == 200 and answer["body"]["sub"] == "alice"


@pytest.mark.parametrize("mode", failure_cases("google"))
async def test_google_failure_modes_break_the_login_cleanly(
    aiohttp_client: Any, fake_google: FakeProvider, mode: str
) -> None:
    await assert_login_fails_cleanly(aiohttp_client, fake_google, mode)


# ---- Facebook ---------------------------------------------------------------------------------


async def test_facebook_sign_in_with_the_real_preset(
    aiohttp_client: Any, fake_facebook: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_facebook)
    assert (await login_flow(client, "facebook", next="/me")).status == 303
    user = await signed_in_as(client)
    assert user == {
        "provider": "facebook",
        "id": fake_facebook.user_id("alice"),
        "name": "Alice Example",
        "email": "alice@example.com",
        "email_verified": False,  # Facebook never says
        "username": None,
        "avatar_url": f"{fake_facebook.issuer}/avatar/{fake_facebook.user_id('alice')}",
    }
    assert fake_facebook.token_requests[0]["_auth"] == "post"
    assert fake_facebook.calls["userinfo"] == 1


def proof(fake: FakeProvider, token: str) -> str:
    return hmac.new(fake.client_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


async def test_facebook_graph_checks_appsecret_proof(fake_facebook: FakeProvider) -> None:
    token = fake_facebook.issue_token("alice", scope="email public_profile")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for prefix in ("/v26.0", "", "/v19.0"):
            url = f"{fake_facebook.issuer}{prefix}/me"
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 400
                error = (await resp.json())["error"]
            assert error["type"] == "GraphMethodException" and "appsecret_proof" in error["message"]
            params = {"appsecret_proof": "0" * 64}
            async with http.get(url, headers=headers, params=params) as resp:
                assert resp.status == 400
                assert "Invalid appsecret_proof" in (await resp.json())["error"]["message"]
            params = {"appsecret_proof": proof(fake_facebook, token)}
            async with http.get(url, headers=headers, params=params) as resp:
                assert await resp.json() == {
                    "id": fake_facebook.user_id("alice"),
                    "name": "Alice Example",
                }
            params["fields"] = "id,email,first_name"
            async with http.get(url, params={**params, "access_token": token}) as resp:
                assert await resp.json() == {
                    "id": fake_facebook.user_id("alice"),
                    "email": "alice@example.com",
                    "first_name": "Alice",
                }
        async with http.get(fake_facebook.issuer + "/me", params={"access_token": "bad"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == 190


async def test_facebook_token_errors_are_graph_errors(fake_facebook: FakeProvider) -> None:
    token_url = fake_facebook.issuer + "/v26.0/oauth/access_token"
    async with aiohttp.ClientSession() as http:
        query, verifier = await authorize(http, fake_facebook, "/v26.0/dialog/oauth", "email")
        assert "iss" not in query
        form = code_form(fake_facebook, query["code"], verifier)
        async with http.get(token_url, params=form) as resp:  # the documented GET form
            assert resp.status == 200
            body = await resp.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        async with http.post(token_url, data=form) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert (error["code"], error["error_subcode"]) == (100, 36009)
        query, verifier = await authorize(http, fake_facebook, "/dialog/oauth", "email")
        wrong = code_form(fake_facebook, query["code"], verifier, client_secret="nope")
        async with http.post(token_url, data=wrong) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == 1


async def test_facebook_login_as_then_get_client(
    aiohttp_client: Any, fake_facebook: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_facebook)
    user = await login_as(client, "alice")
    assert user.id == fake_facebook.user_id("alice")
    answer = await api(client, "me/permissions")  # get_client adds appsecret_proof
    assert answer["status"] == 200
    assert answer["body"]["data"] == [
        {"permission": "email", "status": "granted"},
        {"permission": "public_profile", "status": "granted"},
    ]


@pytest.mark.parametrize("revoke_on_logout", [True, False])
async def test_facebook_deauthorizes_on_logout_only_when_asked(
    aiohttp_client: Any, fake_facebook: FakeProvider, revoke_on_logout: bool
) -> None:
    client = await app_client(aiohttp_client, fake_facebook, revoke_on_logout=revoke_on_logout)
    assert (await login_flow(client, "facebook")).status == 303
    (token,) = fake_facebook._access_tokens
    await log_out(client)
    assert fake_facebook.calls["revoke"] == int(revoke_on_logout)
    assert fake_facebook.revoked(token) is revoke_on_logout


@pytest.mark.parametrize("mode", failure_cases("facebook"))
async def test_facebook_failure_modes_break_the_login_cleanly(
    aiohttp_client: Any, fake_facebook: FakeProvider, mode: str
) -> None:
    await assert_login_fails_cleanly(aiohttp_client, fake_facebook, mode)


# ---- login_as picks the fake that serves the provider -----------------------------------------


async def test_login_as_with_a_user_object_finds_its_account(
    aiohttp_client: Any, fake_github: FakeProvider
) -> None:
    client = await app_client(aiohttp_client, fake_github)
    given = User(provider="github", id=fake_github.user_id("bob"), name="Bob", username="bob")
    assert await login_as(client, given) is given
    answer = await api(client, "user")
    assert answer["body"]["login"] == "bob"
