"""The Facebook preset against recorded Graph API answers (tests/data/facebook, see its README)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiohttp_oauth2_login.providers import Facebook
from aiohttp_oauth2_login.providers.facebook import GRAPH_VERSION

from ..support.jwt import s256
from ._recorded import Clock, Harness, RecordedProvider, load, make_harness

CLIENT_ID = "1234567890123456"
SECRET = "4f1c2a9e8b7d6c5a4f3e2d1c0b9a8f7e"  # noqa: S105 - a test value
V = GRAPH_VERSION
TOKEN_PATH = f"/{V}/oauth/access_token"  # noqa: S105 - a URL path
TOKEN = load("facebook", "token")
ACCESS = TOKEN["access_token"]
ME = load("facebook", "me")

Start = Callable[..., Awaitable[Harness]]


def proof(token: str) -> str:
    """appsecret_proof as "Securing Graph API Requests" defines it, computed independently."""
    return hmac.new(SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
async def fb(aiohttp_server: Any) -> RecordedProvider:
    fake = RecordedProvider(authorize_path=f"/{V}/dialog/oauth")
    fake.on("POST", TOKEN_PATH, TOKEN)
    fake.on("GET", f"/{V}/me", ME)
    fake.on("GET", f"/{V}/me/friends", load("facebook", "friends"))
    fake.on("DELETE", f"/{V}/me/permissions", load("facebook", "permissions_delete"))
    return await fake.start(aiohttp_server)


@pytest.fixture
def start(aiohttp_client: Any, fb: RecordedProvider) -> Start:
    """``await start(**Facebook options)``: the app with a Facebook preset pointed at the fake."""

    async def make(**kwargs: Any) -> Harness:
        provider = Facebook(
            client_id=CLIENT_ID,
            client_secret=SECRET,
            authorize_url=f"{fb.url}/{V}/dialog/oauth",
            token_url=f"{fb.url}{TOKEN_PATH}",
            userinfo_url=f"{fb.url}/{V}/me?fields=id,name,email,picture",
            api_base_url=f"{fb.url}/{V}/",
            **kwargs,
        )
        return await make_harness(aiohttp_client, fb, provider)

    return make


def _assert_signed_graph_call(fb: RecordedProvider, path: str) -> None:
    """Every Graph call carries the bearer (in a header) and its appsecret_proof."""
    calls = fb.requests(path=path)
    assert calls, f"no request to {path}"
    for call in calls:
        assert call.query["appsecret_proof"] == proof(ACCESS)
        assert call.headers["Authorization"] == f"Bearer {ACCESS}"


# -- the Graph version ----------------------------------------------------------------------------


def test_graph_version_is_pinned_in_every_url() -> None:
    assert re.fullmatch(r"v\d+\.0", GRAPH_VERSION)
    fb = Facebook(client_id=CLIENT_ID, client_secret=SECRET)
    assert fb.authorize_url == f"https://www.facebook.com/{V}/dialog/oauth"
    assert fb.token_url == f"https://graph.facebook.com/{V}/oauth/access_token"
    assert fb.userinfo_url == f"https://graph.facebook.com/{V}/me?fields=id,name,email,picture"
    assert fb.api_base_url == f"https://graph.facebook.com/{V}/"
    assert fb.revocation_url == f"https://graph.facebook.com/{V}/me/permissions"
    assert fb.client_auth == "client_secret_post"


def test_custom_graph_version_changes_every_url() -> None:
    fb = Facebook(client_id=CLIENT_ID, client_secret=SECRET, graph_version="v25.0")
    urls = [fb.authorize_url, fb.token_url, fb.userinfo_url, fb.api_base_url, fb.revocation_url]
    for url in urls:
        assert url is not None
        assert "/v25.0/" in url
        if V != "v25.0":
            assert f"/{V}/" not in url


# -- login ----------------------------------------------------------------------------------------


async def test_login_with_pkce_and_appsecret_proof(start: Start, fb: RecordedProvider) -> None:
    h = await start()
    assert (await h.login()).status == 303
    authorize = fb.authorize.query
    assert authorize["client_id"] == CLIENT_ID
    assert authorize["response_type"] == "code"
    assert authorize["scope"] == "email public_profile"
    assert authorize["code_challenge_method"] == "S256"

    token = fb.one("POST", TOKEN_PATH)
    assert not token.query
    assert "Authorization" not in token.headers
    assert token.form["client_id"] == CLIENT_ID
    assert token.form["client_secret"] == SECRET
    assert token.form["grant_type"] == "authorization_code"
    assert token.form["code"] in fb.codes
    assert token.form["redirect_uri"] == authorize["redirect_uri"]
    assert s256(token.form["code_verifier"]) == authorize["code_challenge"]

    me = fb.one("GET", f"/{V}/me")
    assert me.query["fields"] == "id,name,email,picture"
    _assert_signed_graph_call(fb, f"/{V}/me")

    assert await h.whoami() == {
        "provider": "facebook",
        "id": "10158456712345678",
        "name": "Jane Doe",
        "email": "jane.doe@example.com",
        "email_verified": False,  # Facebook never says so
        "username": None,
        "avatar_url": ME["picture"]["data"]["url"],
    }
    h.assert_no_secrets_in_urls(ACCESS, token.form["code_verifier"])


async def test_absent_email_is_none(start: Start, fb: RecordedProvider) -> None:
    fb.on("GET", f"/{V}/me", load("facebook", "me_no_email"))
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert (me["id"], me["email"], me["email_verified"]) == ("10158456712345678", None, False)


async def test_refused_code_is_a_clean_failure(start: Start, fb: RecordedProvider) -> None:
    fb.on("POST", TOKEN_PATH, load("facebook", "token_error"), 400)
    h = await start()
    resp = await h.login()
    assert resp.status in (401, 502)  # refused or unusable, never a 500
    assert not await h.logged_in()
    assert not fb.requests("GET", f"/{V}/me")
    h.assert_no_secrets_in_urls()


# -- get_client -----------------------------------------------------------------------------------


async def test_get_client_signs_every_graph_call(start: Start, fb: RecordedProvider) -> None:
    h = await start()
    assert (await h.login()).status == 303
    data = await (await h.api("me/friends?limit=5")).json()
    assert data["status"] == 200
    assert data["body"]["summary"]["total_count"] == 42
    call = fb.one("GET", f"/{V}/me/friends")
    assert call.query["limit"] == "5"
    _assert_signed_graph_call(fb, f"/{V}/me/friends")
    h.assert_no_secrets_in_urls(ACCESS)


async def test_expired_token_asks_for_login_without_refreshing(
    start: Start, fb: RecordedProvider, clock: Clock
) -> None:
    h = await start()
    assert (await h.login()).status == 303
    clock.offset = TOKEN["expires_in"] + 60  # about 60 days later
    resp = await h.api("me/friends")
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert len(fb.requests("POST", TOKEN_PATH)) == 1  # the code exchange only: no refresh
    assert not fb.requests("GET", f"/{V}/me/friends")
    assert not await h.logged_in()


# -- revocation on logout -------------------------------------------------------------------------


async def test_revoke_on_logout_deletes_the_permissions(start: Start, fb: RecordedProvider) -> None:
    h = await start(revoke_on_logout=True)
    assert (await h.login()).status == 303
    assert (await h.logout()).status == 303
    assert not await h.logged_in()
    fb.one("DELETE", f"/{V}/me/permissions")
    _assert_signed_graph_call(fb, f"/{V}/me/permissions")
    h.assert_no_secrets_in_urls(ACCESS)


async def test_no_revocation_by_default(start: Start, fb: RecordedProvider) -> None:
    h = await start()
    assert (await h.login()).status == 303
    assert (await h.logout()).status == 303
    assert not await h.logged_in()
    assert not fb.requests("DELETE", f"/{V}/me/permissions")
