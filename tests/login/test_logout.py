"""Logout: a GET page that changes nothing, a same-origin POST that always completes, revocation
(RFC 7009) best effort and bounded (G6, G15, G19, G20)."""

from __future__ import annotations

import html
from typing import Any

import pytest

import aiohttp_oauth2_login._login.logout as logout_module
from aiohttp_oauth2_login.testing import FakeProvider, login_as, login_flow

from ..support.app import COOKIE, Client, MakeClient, origin_of, who


async def _signed_in(client: Client, fake: FakeProvider) -> str:
    """Log in through the fake provider; returns the refresh token it issued."""
    assert (await login_flow(client)).status == 303
    tokens = fake.active_refresh_tokens()
    assert len(tokens) == 1
    return next(iter(tokens))


async def test_get_shows_a_post_form_and_changes_nothing(
    client: Client, fake: FakeProvider
) -> None:
    refresh = await _signed_in(client, fake)
    resp = await client.get("/auth/logout")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    page = await resp.text()
    assert '<form method="post" action="/auth/logout">' in page
    assert COOKIE not in resp.cookies
    assert await who(client) == "alice"
    assert fake.calls["revoke"] == 0
    assert not fake.revoked(refresh)


@pytest.mark.parametrize(
    ("next_", "shown"),
    [("/bye", "/bye"), ("//evil.example", "/"), ("https://evil.example", "/"), (None, "/")],
)
async def test_get_page_validates_next(client: Client, next_: str | None, shown: str) -> None:
    params = {} if next_ is None else {"next": next_}
    page = await (await client.get("/auth/logout", params=params)).text()
    assert f'name="next" value="{html.escape(shown)}"' in page
    assert "evil.example" not in page


async def test_post_same_origin_logs_out_and_revokes(client: Client, fake: FakeProvider) -> None:
    refresh = await _signed_in(client, fake)
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.cookies[COOKIE].value == ""
    assert "Max-Age=0" in resp.cookies[COOKIE].OutputString()
    assert await who(client) is None
    assert (await client.get("/private")).status == 401
    assert fake.calls["revoke"] == 1
    assert fake.revoked(refresh)
    assert fake.active_refresh_tokens() == set()


async def test_post_with_sec_fetch_site_same_origin(client: Client, fake: FakeProvider) -> None:
    await _signed_in(client, fake)
    resp = await client.post(
        "/auth/logout", headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False
    )
    assert resp.status == 303
    assert await who(client) is None


async def test_post_default_next_is_configurable(make_client: MakeClient) -> None:
    client = await make_client(default_next="/goodbye")
    await login_as(client, "alice")
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/goodbye"


CROSS_SITE: list[dict[str, str]] = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
    {"Referer": "http://evil.example/"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=repr)
async def test_cross_site_post_is_refused(
    client: Client, fake: FakeProvider, headers: dict[str, str]
) -> None:
    refresh = await _signed_in(client, fake)
    resp = await client.post("/auth/logout", headers=headers, allow_redirects=False)
    assert resp.status == 403
    assert resp.headers["Cache-Control"] == "no-store"
    assert COOKIE not in resp.cookies
    assert await who(client) == "alice"
    assert fake.calls["revoke"] == 0
    assert not fake.revoked(refresh)


async def test_cross_site_post_is_refused_with_json_too(client: Client) -> None:
    await login_as(client, "alice")
    resp = await client.post(
        "/auth/logout", headers={"Origin": "null", "Accept": "application/json"}
    )
    assert resp.status == 403
    assert (await resp.json())["error"] == "invalid_request"
    assert await who(client) == "alice"


async def test_origin_of_the_public_url_is_required(make_client: MakeClient) -> None:
    client = await make_client(public_url="http://localhost:9")
    await login_as(client, "alice")
    refused = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert refused.status == 403
    resp = await client.post(
        "/auth/logout", headers={"Origin": "http://localhost:9"}, allow_redirects=False
    )
    assert resp.status == 303


@pytest.mark.parametrize("mode", ["revoke_500", "revoke_timeout"])
async def test_logout_completes_when_revocation_fails(
    client: Client, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr(logout_module, "REVOCATION_TIMEOUT", 0.5)  # keep the hang short
    await _signed_in(client, fake)
    fake.fail(mode)
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.cookies[COOKIE].value == ""
    assert await who(client) is None
    assert fake.calls["revoke"] == 1


async def test_logout_completes_when_the_provider_is_gone(
    client: Client, fake: FakeProvider
) -> None:
    await _signed_in(client, fake)
    await fake.stop()
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    assert await who(client) is None


async def test_logout_of_an_anonymous_visitor(client: Client, fake: FakeProvider) -> None:
    resp = await client.post(
        "/auth/logout", headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    assert fake.calls["revoke"] == 0


NEXT_CASES: list[tuple[Any, str]] = [
    ("/bye", "/bye"),
    ("/a?b=c", "/a?b=c"),
    ("//evil.example", "/"),
    ("https://evil.example", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/a\r\nSet-Cookie: x=1", "/"),
    ("", "/"),
]


@pytest.mark.parametrize(("next_", "location"), NEXT_CASES, ids=repr)
async def test_post_next_is_validated(client: Client, next_: str, location: str) -> None:
    await login_as(client, "alice")
    resp = await client.post(
        "/auth/logout",
        data={"next": next_},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == location


async def test_next_in_the_query_string_of_the_post_is_ignored(client: Client) -> None:
    resp = await client.post(
        "/auth/logout?next=//evil.example",
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/"


async def test_https_logout_clears_the_host_cookie(make_client: MakeClient) -> None:
    """The deletion of a ``__Host-`` cookie needs ``Secure`` or browsers keep the old cookie."""
    client = await make_client(public_url="https://app.example.com")
    await login_as(client, "alice")
    resp = await client.post(
        "/auth/logout",
        headers={"Origin": "https://app.example.com"},
        allow_redirects=False,
    )
    assert resp.status == 303
    name = "__Host-" + COOKIE
    parts = [p.strip() for p in resp.cookies[name].OutputString().split(";")]
    assert resp.cookies[name].value == ""
    assert "Max-Age=0" in parts
    assert "Path=/" in parts
    assert "Secure" in parts
    assert not any(p.lower().startswith("domain") for p in parts)


async def test_form_posts_to_the_mounted_route(make_client: MakeClient) -> None:
    client = await make_client(prefix="/sso")
    page = await (await client.get("/sso/logout")).text()
    assert 'action="/sso/logout"' in page
