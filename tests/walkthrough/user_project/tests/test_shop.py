from aiohttp_oauth2_login.testing import login_as, login_flow


async def test_browsing_needs_no_login(client):
    resp = await client.get("/")
    assert await resp.json() == {"shop": "open", "signed_in_as": None}


async def test_the_account_page_asks_browsers_to_sign_in(client):
    resp = await client.get("/account", headers={"Accept": "text/html"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/auth/login/github?next=/account"


async def test_apis_get_a_401(client):
    resp = await client.get("/account", headers={"Accept": "application/json"})
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"


async def test_sign_in_with_github(client, fake_github):
    resp = await login_flow(client, "github", next="/account")
    assert resp.status == 303
    assert resp.headers["Location"] == "/account"
    account = await (await client.get("/account")).json()
    assert account["login"] == "alice"
    assert account["email"] == "alice@example.com"
    assert fake_github.calls["token"] == 1


async def test_cancelled_sign_in_leaves_the_visitor_anonymous(client, fake_github):
    fake_github.fail("deny")
    resp = await login_flow(client, "github", next="/account")
    assert resp.status == 403
    assert (await (await client.get("/")).json())["signed_in_as"] is None


async def test_the_github_api_as_the_user(client):
    await login_as(client, "bob")
    resp = await client.get("/github")
    assert resp.status == 200
    assert (await resp.json())["login"] == "bob"


async def test_github_down_is_a_502_not_a_500(client, fake_github):
    await login_as(client, "alice")
    fake_github.fail("userinfo_500")
    resp = await client.get("/github")
    assert resp.status == 502


async def test_sign_out(client):
    await login_flow(client, "github")
    resp = await client.post(
        "/auth/logout",
        headers={"Origin": str(client.make_url("/").origin())},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert (await (await client.get("/")).json())["signed_in_as"] is None


async def test_chaos_with_every_github_failure(client, fake_github, oauth_chaos):
    report = await oauth_chaos(client, fake_github)
    assert report.routes == ["GET /account", "GET /github"]
    assert "token_500" in report.modes and "userinfo_500" in report.modes
