"""The GitHub preset against recorded GitHub responses (tests/data/github, see its README)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiohttp_oauth2_login import ConfigurationError
from aiohttp_oauth2_login.providers import Endpoints, GitHub

from ..support.jwt import s256
from ._recorded import Clock, Harness, RecordedProvider, Seen, basic, load, make_harness

CLIENT_ID = "Iv1.8a61f9b3a7aba766"
SECRET = "1f3b7d9c2e4a6b8d0f1e3c5a7b9d2f4e6a8c0b1d"
TOKEN_PATH = "/login/oauth/access_token"  # noqa: S105 - a URL path
GRANT_PATH = f"/api/applications/{CLIENT_ID}/grant"
ACCESS = load("github", "token")["access_token"]
EXPIRING = load("github", "token_expiring")
REFRESHED = load("github", "token_refreshed")

Start = Callable[..., Awaitable[Harness]]


def _github_fake() -> RecordedProvider:
    fake = RecordedProvider(authorize_path="/login/oauth/authorize")
    fake.on("POST", TOKEN_PATH, load("github", "token"))
    fake.on("GET", "/api/user", load("github", "user"))
    fake.on("GET", "/api/user/emails", load("github", "emails"))
    fake.on("GET", "/api/user/repos", load("github", "repos"))
    fake.on("DELETE", GRANT_PATH, None, 204)
    return fake


@pytest.fixture
async def gh(aiohttp_server: Any) -> RecordedProvider:
    return await _github_fake().start(aiohttp_server)


@pytest.fixture
def start(aiohttp_client: Any, gh: RecordedProvider) -> Start:
    """``await start(**GitHub options)``: the app with a GitHub preset pointed at the fake."""

    async def make(**kwargs: Any) -> Harness:
        provider = GitHub(
            client_id=CLIENT_ID,
            client_secret=SECRET,
            base_url=gh.url,
            api_base_url=gh.url + "/api",
            **kwargs,
        )
        return await make_harness(aiohttp_client, gh, provider)

    return make


async def _refused(h: Harness, status: int) -> str:
    resp = await h.login()
    assert resp.status == status
    assert not await h.logged_in()
    text: str = await resp.text()
    return text


# -- the authorization request and the code exchange -------------------------------------------


async def test_pkce_s256_and_client_secret_post_without_secrets_in_urls(
    start: Start, gh: RecordedProvider
) -> None:
    h = await start()
    assert (await h.login()).status == 303
    authorize = gh.authorize.query
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == CLIENT_ID
    assert authorize["scope"] == "read:user user:email"
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["redirect_uri"].endswith("/auth/callback/github")
    assert len(authorize["state"]) >= 43

    token = gh.one("POST", TOKEN_PATH)
    assert token.headers["Accept"] == "application/json"
    assert "Authorization" not in token.headers  # client_secret_post, not HTTP Basic
    assert not token.query
    assert token.form["client_id"] == CLIENT_ID
    assert token.form["client_secret"] == SECRET
    assert token.form["grant_type"] == "authorization_code"
    assert token.form["code"] in gh.codes
    assert token.form["redirect_uri"] == authorize["redirect_uri"]
    assert s256(token.form["code_verifier"]) == authorize["code_challenge"]
    assert "code_verifier" not in authorize
    h.assert_no_secrets_in_urls(ACCESS, token.form["code_verifier"])


async def test_200_with_error_member_is_a_failure(start: Start, gh: RecordedProvider) -> None:
    gh.on("POST", TOKEN_PATH, load("github", "token_error"))  # GitHub sends errors with 200
    h = await start()
    await _refused(h, 401)
    assert len(gh.requests("POST", TOKEN_PATH)) == 1
    assert not gh.requests("GET", "/api/user")
    assert h.logins == []
    h.assert_no_secrets_in_urls()


# -- the profile ---------------------------------------------------------------------------------


async def test_user_from_recorded_profile_and_emails(start: Start, gh: RecordedProvider) -> None:
    h = await start()
    assert (await h.login()).status == 303
    assert await h.whoami() == {
        "provider": "github",
        "id": "1",
        "name": "monalisa octocat",
        "email": "octocat@github.com",
        "email_verified": True,
        "username": "octocat",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    }
    for path in ("/api/user", "/api/user/emails"):
        seen = gh.one("GET", path)
        assert seen.headers["Authorization"] == f"Bearer {ACCESS}"
        assert seen.headers["Accept"] == "application/vnd.github+json"
        assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"
    h.assert_no_secrets_in_urls(ACCESS)


async def test_email_is_the_primary_verified_entry_not_the_public_one(
    start: Start, gh: RecordedProvider
) -> None:
    gh.on("GET", "/api/user/emails", load("github", "emails_private_primary"))
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert me["email"] == "mona@private.example"  # /user says octocat@github.com (public)
    assert me["email_verified"] is True


@pytest.mark.parametrize(
    "emails",
    [
        pytest.param([], id="empty"),
        pytest.param(load("github", "emails_primary_unverified"), id="primary-unverified"),
        pytest.param(load("github", "emails_verified_not_primary"), id="verified-not-primary"),
    ],
)
async def test_no_primary_verified_email_means_no_email(
    start: Start, gh: RecordedProvider, emails: list[dict[str, Any]]
) -> None:
    gh.on("GET", "/api/user/emails", emails)
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert me["email"] is None
    assert me["email_verified"] is False
    assert me["id"] == "1"


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, load("github", "not_found")), (403, load("github", "forbidden_emails"))],
)
async def test_emails_not_granted_still_logs_in_without_email(
    start: Start, gh: RecordedProvider, status: int, body: dict[str, Any]
) -> None:
    gh.on("GET", "/api/user/emails", body, status)
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert (me["id"], me["email"], me["email_verified"]) == ("1", None, False)


async def test_name_falls_back_to_login(start: Start, gh: RecordedProvider) -> None:
    gh.on("GET", "/api/user", {**load("github", "user"), "name": None})
    h = await start()
    assert (await h.login()).status == 303
    me = await h.whoami()
    assert (me["name"], me["username"]) == ("octocat", "octocat")


@pytest.mark.parametrize("bad_id", ["1", True, None, 1.0, "absent"])
async def test_non_numeric_id_is_refused(start: Start, gh: RecordedProvider, bad_id: Any) -> None:
    user = load("github", "user")
    if bad_id == "absent":
        del user["id"]
    else:
        user["id"] = bad_id
    gh.on("GET", "/api/user", user)
    h = await start()
    await _refused(h, 401)
    assert h.logins == []


# -- GitHub Apps: expiring tokens and refresh -----------------------------------------------------


async def test_expiring_tokens_are_stored(start: Start, gh: RecordedProvider) -> None:
    gh.on("POST", TOKEN_PATH, EXPIRING)
    h = await start()
    before = time.time()
    assert (await h.login()).status == 303
    stored = await h.stored_token()
    assert stored["access_token"] == EXPIRING["access_token"]
    assert stored["refresh_token"] == EXPIRING["refresh_token"]
    assert before + 28800 - 5 <= stored["expires_at"] <= time.time() + 28800 + 5
    assert before + 15811200 - 5 <= stored["refresh_expires_at"] <= time.time() + 15811200 + 5


async def test_get_client_refreshes_an_expired_token_once(
    start: Start, gh: RecordedProvider, clock: Clock
) -> None:
    def token_endpoint(seen: Seen) -> tuple[int, Any]:
        grant = seen.form["grant_type"]
        return 200, EXPIRING if grant == "authorization_code" else REFRESHED

    gh.on_call("POST", TOKEN_PATH, token_endpoint)
    h = await start()
    assert (await h.login()).status == 303

    clock.offset = 28800 + 60  # eight hours later
    resp = await h.api("/user")
    assert resp.status == 200
    data = await resp.json()
    assert data["status"] == 200 and data["body"]["login"] == "octocat"

    refreshes = [
        s for s in gh.requests("POST", TOKEN_PATH) if s.form["grant_type"] != "authorization_code"
    ]
    assert len(refreshes) == 1
    refresh = refreshes[0]
    assert refresh.form == {
        "grant_type": "refresh_token",
        "refresh_token": EXPIRING["refresh_token"],
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    assert refresh.headers["Accept"] == "application/json"
    assert not refresh.query
    api_call = gh.requests("GET", "/api/user")[-1]
    assert api_call.headers["Authorization"] == f"Bearer {REFRESHED['access_token']}"

    clock.offset = 0
    stored = await h.stored_token()  # written back to the session
    assert stored["access_token"] == REFRESHED["access_token"]
    assert stored["refresh_token"] == REFRESHED["refresh_token"]
    assert len(gh.requests("POST", TOKEN_PATH)) == 2  # no further refresh
    h.assert_no_secrets_in_urls(
        EXPIRING["access_token"],
        EXPIRING["refresh_token"],
        REFRESHED["access_token"],
        REFRESHED["refresh_token"],
    )


# -- revocation on logout -------------------------------------------------------------------------


async def test_logout_deletes_the_app_grant(start: Start, gh: RecordedProvider) -> None:
    h = await start()
    assert (await h.login()).status == 303
    resp = await h.logout()
    assert resp.status == 303
    assert not await h.logged_in()
    grant = gh.one("DELETE", GRANT_PATH)
    assert grant.headers["Authorization"] == basic(CLIENT_ID, SECRET)
    assert grant.json == {"access_token": ACCESS}
    assert not grant.query
    h.assert_no_secrets_in_urls(ACCESS)


# -- endpoints: github.com and GitHub Enterprise Server -------------------------------------------


def test_github_com_endpoints() -> None:
    github = GitHub(client_id=CLIENT_ID, client_secret=SECRET)
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.token_url == "https://github.com/login/oauth/access_token"
    assert github.api_base_url == "https://api.github.com/"
    assert github.userinfo_url == "https://api.github.com/user"
    assert github.revocation_url == f"https://api.github.com/applications/{CLIENT_ID}/grant"
    assert github.client_auth == "client_secret_post"


@pytest.mark.parametrize("base", ["https://ghe.example", "https://ghe.example/"])
def test_github_enterprise_server_endpoints(base: str) -> None:
    ghe = GitHub(client_id=CLIENT_ID, client_secret=SECRET, base_url=base)
    assert ghe.authorize_url == "https://ghe.example/login/oauth/authorize"
    assert ghe.token_url == "https://ghe.example/login/oauth/access_token"
    assert ghe.api_base_url == "https://ghe.example/api/v3/"
    assert ghe.userinfo_url == "https://ghe.example/api/v3/user"
    assert ghe.revocation_url == f"https://ghe.example/api/v3/applications/{CLIENT_ID}/grant"
    endpoints = Endpoints(authorize_url=ghe.authorize_url, token_url=ghe.token_url)
    assert ghe.api_base(endpoints) == "https://ghe.example/api/v3/"


# -- organization and team restrictions ---------------------------------------------------------


async def test_allowed_orgs_asks_read_org_and_accepts_an_active_member(
    start: Start, gh: RecordedProvider
) -> None:
    gh.on("GET", "/api/user/memberships/orgs/acme", load("github", "org_membership"))
    h = await start(allowed_orgs=["acme"])
    assert (await h.login()).status == 303
    assert gh.authorize.query["scope"] == "read:user user:email read:org"
    membership = gh.one("GET", "/api/user/memberships/orgs/acme")
    assert membership.headers["Authorization"] == f"Bearer {ACCESS}"
    assert await h.logged_in()


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, load("github", "not_found")), (200, load("github", "org_membership_pending"))],
    ids=["not-a-member", "pending"],
)
async def test_allowed_orgs_refuses_non_members(
    start: Start, gh: RecordedProvider, status: int, body: dict[str, Any]
) -> None:
    gh.on("GET", "/api/user/memberships/orgs/acme", body, status)
    h = await start(allowed_orgs=["acme"])
    page = await _refused(h, 403)
    assert "not a member of an organization or team allowed here" in page
    assert h.logins == []


async def test_allowed_teams_checks_the_team_membership(start: Start, gh: RecordedProvider) -> None:
    path = "/api/orgs/acme/teams/admins/memberships/octocat"
    gh.on("GET", path, load("github", "team_membership"))
    h = await start(allowed_teams=["acme/admins"])
    assert (await h.login()).status == 303
    assert "read:org" in gh.authorize.query["scope"].split()
    assert gh.one("GET", path).headers["Authorization"] == f"Bearer {ACCESS}"


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, load("github", "not_found")), (200, load("github", "team_membership_pending"))],
    ids=["not-a-member", "pending"],
)
async def test_allowed_teams_refuses_non_members(
    start: Start, gh: RecordedProvider, status: int, body: dict[str, Any]
) -> None:
    gh.on("GET", "/api/orgs/acme/teams/admins/memberships/octocat", body, status)
    h = await start(allowed_teams=["acme/admins"])
    page = await _refused(h, 403)
    assert "not a member of an organization or team allowed here" in page


@pytest.mark.parametrize("team", ["acme", "acme/admins/extra", "acme/", "/admins", ""])
def test_malformed_team_entry_is_a_configuration_error(team: str) -> None:
    with pytest.raises(ConfigurationError):
        GitHub(client_id=CLIENT_ID, client_secret=SECRET, allowed_teams=[team])


@pytest.mark.parametrize("option", ["allowed_orgs", "allowed_teams"])
def test_a_plain_string_is_not_a_list_of_orgs_or_teams(option: str) -> None:
    # "acme" must not silently become the orgs "a", "c", "m" and "e"
    value: Any = "acme" if option == "allowed_orgs" else "acme/admins"
    with pytest.raises(ConfigurationError):
        GitHub(client_id=CLIENT_ID, client_secret=SECRET, **{option: value})


# -- from_env -------------------------------------------------------------------------------------


def test_from_env_reads_client_id_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", SECRET)
    github = GitHub.from_env()
    assert isinstance(github, GitHub)
    assert (github.name, github.client_id, github.client_secret) == ("github", CLIENT_ID, SECRET)
    assert github.token_url == "https://github.com/login/oauth/access_token"


def test_from_env_with_a_name_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GHE_CLIENT_ID", "ghe-id")
    monkeypatch.setenv("GHE_CLIENT_SECRET", "ghe-secret")
    ghe = GitHub.from_env(name="ghe", base_url="https://ghe.example")
    assert (ghe.name, ghe.client_id, ghe.client_secret) == ("ghe", "ghe-id", "ghe-secret")
    assert ghe.api_base_url == "https://ghe.example/api/v3/"


def test_from_env_without_client_id_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_CLIENT_ID", raising=False)
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", SECRET)
    with pytest.raises(ConfigurationError, match="GITHUB_CLIENT_ID"):
        GitHub.from_env()


def test_from_env_without_client_secret_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_CLIENT_ID", CLIENT_ID)
    monkeypatch.delenv("GITHUB_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="GITHUB_CLIENT_SECRET"):
        GitHub.from_env()


# -- get_client -----------------------------------------------------------------------------------


async def test_get_client_resolves_paths_against_the_api(
    start: Start, gh: RecordedProvider
) -> None:
    h = await start()
    assert (await h.login()).status == 303
    data = await (await h.api("/user/repos")).json()
    assert data["url"] == gh.url + "/api/user/repos"
    assert data["status"] == 200
    assert data["body"][0]["full_name"] == "octocat/Hello-World"
    call = gh.one("GET", "/api/user/repos")
    assert call.headers["Authorization"] == f"Bearer {ACCESS}"
    h.assert_no_secrets_in_urls(ACCESS)


@pytest.mark.parametrize(
    "target", ["https://evil.example/user/repos", "http://127.0.0.1:1/user/repos"]
)
async def test_get_client_refuses_other_origins(start: Start, target: str) -> None:
    h = await start()
    assert (await h.login()).status == 303
    data = await (await h.api(target)).json()
    assert data["refused"] is not None
    assert "only" in data["refused"]


async def test_bearer_is_not_forwarded_on_a_redirect_to_another_origin(
    start: Start, gh: RecordedProvider, aiohttp_server: Any
) -> None:
    elsewhere = await RecordedProvider(authorize_path="/nothing").start(aiohttp_server)
    elsewhere.on("GET", "/landing", {"ok": True})
    gh.on("GET", "/api/moved", None, 302, {"Location": elsewhere.url + "/landing"})
    h = await start()
    assert (await h.login()).status == 303
    data = await (await h.api("/moved")).json()
    assert data["status"] == 200 and data["body"] == {"ok": True}
    assert gh.one("GET", "/api/moved").headers["Authorization"] == f"Bearer {ACCESS}"
    assert "Authorization" not in elsewhere.one("GET", "/landing").headers
