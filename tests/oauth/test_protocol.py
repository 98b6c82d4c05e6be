"""The successful flow as the provider sees it: authorization request, PKCE, code exchange,
session rotation and the final redirect (G1-G4, G6, G9, G19, G20, L6).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from yarl import URL

from aiohttp_oauth2_login import CookieStorage
from aiohttp_oauth2_login.testing import FakeProvider, find_login, login_flow, oidc_provider_for

from ..support.app import COOKIE, JSON, Client, FakeFactory, MakeClient
from ..support.callbacks import assert_anonymous, begin, clean_logs, deliver
from ..support.jwt import B64URL_43
from ..support.session import oauth_session, session_cookie

__all__ = ["clean_logs"]  # the autouse log check (no secrets, no control characters) applies here


def query_lists(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


async def test_success_redirects_to_next_without_code_or_state(
    client: Client, fake: FakeProvider
) -> None:
    resp = await login_flow(client, next="/private?x=1")
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location == "/private?x=1"
    assert "code" not in location and "state" not in location
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    page = await client.get("/private", headers=JSON)
    assert page.status == 200
    assert (await page.json())["id"] == "alice"


async def test_next_on_the_callback_is_ignored(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client, query="?next=/mine")
    params = [*cb.params, ("next", "https://evil.example/"), ("next", "/other")]
    resp = await deliver(client, cb, params)
    assert resp.status == 303
    assert resp.headers["Location"] == "/mine"


@pytest.mark.parametrize(
    "next_",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "\uff0f\uff0fevil.example",
        "/ok\r\nSet-Cookie:x=1",
        "evil.example",
    ],
)
async def test_unsafe_next_becomes_the_default(
    client: Client, fake: FakeProvider, next_: str
) -> None:
    resp = await login_flow(client, next=next_)
    assert resp.status == 303
    assert resp.headers["Location"] == "/"


async def test_session_is_rotated_on_login(client: Client, fake: FakeProvider) -> None:
    # a visitor arrives with a session (anything the app or an attacker planted in it)
    storage = find_login(client.app).storage
    assert isinstance(storage, CookieStorage)
    before = storage.encrypt({"created": int(time.time()), "session": {"app": "planted"}})
    client.session.cookie_jar.update_cookies({COOKIE: before}, response_url=client.make_url("/"))
    cb = await begin(client)
    assert session_cookie(client) == before  # starting a login does not touch the session
    await assert_anonymous(client)
    resp = await deliver(client, cb)
    assert resp.status == 303
    morsel = resp.cookies[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert not morsel["domain"]
    assert int(morsel["max-age"]) == 7 * 24 * 3600
    after = session_cookie(client)
    assert after and after != before
    opened = storage.decrypt(after)
    assert opened is not None
    assert set(opened[0]["session"]) == {"oauth"}  # nothing carried over from before
    data = oauth_session(client)
    assert set(data) <= {"u", "t", "li", "la", "b"}
    assert (data["u"]["p"], data["u"]["i"]) == ("fake", "alice")
    # the pre-login cookie, replayed, is not a login
    client.session.cookie_jar.update_cookies({COOKIE: before}, response_url=client.make_url("/"))
    await assert_anonymous(client)


def tx_cookies(client: Client) -> list[str]:
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/auth/callback/fake"))
    return sorted(name for name in jar if "-tx-" in name)


async def test_login_transactions_live_in_their_own_cookies(client: Client) -> None:
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    assert COOKIE not in resp.cookies  # the session is not written at all
    (name,) = [n for n in resp.cookies if "-tx-" in n]
    morsel = resp.cookies[name]
    assert morsel["path"] == "/auth/" and morsel["httponly"] and morsel["samesite"] == "Lax"
    assert int(morsel["max-age"]) == 600
    state = query_lists(resp.headers["Location"])["state"][0]
    assert state not in morsel.value and name.endswith(
        hashlib.sha256(state.encode()).hexdigest()[:16]
    )


async def test_other_tabs_survive_a_login(client: Client, fake: FakeProvider) -> None:
    other_tab = await begin(client)
    cb = await begin(client)
    assert len(tx_cookies(client)) == 2
    assert (await deliver(client, cb)).status == 303
    assert len(tx_cookies(client)) == 1  # the used one is gone, the other tab's is kept
    assert (await deliver(client, other_tab)).status == 303
    assert tx_cookies(client) == []


async def test_authorization_request_parameters(client: Client, fake: FakeProvider) -> None:
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Cache-Control"] == "no-store"
    # the login URL is never sent to the provider as a Referer
    assert resp.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    location = resp.headers["Location"]
    assert location.startswith(fake.issuer + "/authorize?")
    assert fake.client_secret not in location
    params = query_lists(location)
    assert all(len(values) == 1 for values in params.values())
    await client.session.get(location, allow_redirects=False)
    request = fake.authorize_requests[-1]
    assert request["response_type"] == "code"
    assert request["client_id"] == fake.client_id
    assert request["redirect_uri"] == str(client.make_url("/auth/callback/fake"))
    assert request["code_challenge_method"] == "S256"
    assert B64URL_43.fullmatch(request["code_challenge"])
    assert B64URL_43.fullmatch(request["state"])  # 256 bits
    assert B64URL_43.fullmatch(request["nonce"])
    assert "openid" in request["scope"].split()
    assert "client_secret" not in request
    # a second login gets fresh values for everything
    await begin(client)
    again = fake.authorize_requests[-1]
    for name in ("state", "nonce", "code_challenge"):
        assert again[name] != request[name]


async def test_state_carries_no_meaning(client: Client, fake: FakeProvider) -> None:
    await begin(client, query="?next=/secret-place")
    state = fake.authorize_requests[-1]["state"]
    raw = base64.urlsafe_b64decode(state + "=")
    assert len(raw) == 32
    assert b"secret-place" not in raw and b"fake" not in raw


async def test_token_request_carries_the_verifier_of_the_challenge(
    client: Client, fake: FakeProvider
) -> None:
    assert (await login_flow(client)).status == 303
    authorize = fake.authorize_requests[-1]
    token = fake.token_requests[-1]
    assert token["grant_type"] == "authorization_code"
    assert token["redirect_uri"] == authorize["redirect_uri"]
    verifier = token["code_verifier"]
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == authorize["code_challenge"]
    assert verifier not in str(fake.authorize_requests)
    # client authentication: HTTP Basic, the secret neither in the body nor in a URL
    assert token["_auth"] == "basic"
    assert "client_secret" not in token


async def test_client_secret_post_sends_the_secret_in_the_body(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(
        providers=[oidc_provider_for(fake, client_auth="client_secret_post")]
    )
    assert (await login_flow(client)).status == 303
    token = fake.token_requests[-1]
    assert token["_auth"] == "post"
    assert token["client_secret"] == fake.client_secret


async def test_visitor_parameters_never_reach_the_authorization_request(
    client: Client, fake: FakeProvider
) -> None:
    hostile = {
        "state": "x",
        "nonce": "y",
        "redirect_uri": "https://evil.example/cb",
        "code_challenge": "z",
        "code_challenge_method": "plain",
        "response_type": "token",
        "client_id": "evil",
        "scope": "admin",
        "prompt": "none",
    }
    url = URL("/auth/login/fake").with_query(hostile)
    resp = await client.get(url, allow_redirects=False)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert "evil" not in location
    params = query_lists(location)
    assert all(len(values) == 1 for values in params.values())
    assert params["state"][0] != "x" and B64URL_43.fullmatch(params["state"][0])
    assert params["nonce"][0] != "y"
    assert params["code_challenge"][0] != "z"
    assert params["code_challenge_method"] == ["S256"]
    assert params["response_type"] == ["code"]
    assert params["client_id"] == [fake.client_id]
    assert params["redirect_uri"] == [str(client.make_url("/auth/callback/fake"))]
    assert "admin" not in params["scope"][0] and "prompt" not in params
    answer = await client.session.get(location, allow_redirects=False)
    callback = urlsplit(answer.headers["Location"])
    assert dict(parse_qsl(callback.query))["state"] == params["state"][0]
    done = await client.get(f"{callback.path}?{callback.query}", allow_redirects=False)
    assert done.status == 303


async def test_redirect_uri_comes_from_public_url_not_host(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(public_url="https://app.example/base")
    spoofed = {
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "http",
        "Forwarded": "host=evil.example;proto=http",
    }
    resp = await client.get("/auth/login/fake", headers=spoofed, allow_redirects=False)
    assert resp.status == 302
    params = query_lists(resp.headers["Location"])
    assert params["redirect_uri"] == ["https://app.example/base/auth/callback/fake"]


async def test_one_callback_path_per_provider(
    make_client: MakeClient, fake: FakeProvider, fake_provider_factory: FakeFactory
) -> None:
    other = await fake_provider_factory(auto_approve=True)
    client = await make_client(
        providers=[oidc_provider_for(fake, name="fake"), oidc_provider_for(other, name="other")]
    )
    for name, provider in (("fake", fake), ("other", other)):
        resp = await login_flow(client, name)
        assert resp.status == 303
        redirect_uri = provider.authorize_requests[-1]["redirect_uri"]
        assert redirect_uri == str(client.make_url(f"/auth/callback/{name}"))
    assert fake.calls["token"] == 1 and other.calls["token"] == 1


async def test_unknown_provider_login_is_404(client: Client, fake: FakeProvider) -> None:
    resp = await client.get("/auth/login/nope", allow_redirects=False)
    assert resp.status == 404
    assert resp.headers["Cache-Control"] == "no-store"
    assert fake.calls["authorize"] == 0
