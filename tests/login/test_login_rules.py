"""Login rules: ``allowed_email_domains`` (verified addresses only), ``@login_required(allow=...)``
and ``on_login`` refusals; a refused user gets a clear 403 and is not signed in."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from aiohttp_oauth2_login import (
    ConfigurationError,
    TokenSet,
    User,
    get_user,
    login_required,
)
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import (
    FakeAccount,
    FakeProvider,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import Client, MakeClient, build_app, who


async def _fake_with(factory: Any, account: FakeAccount) -> FakeProvider:
    fake: FakeProvider = await factory(accounts=[account], auto_approve=True)
    assert fake.default_account == account.sub
    return fake


# ---- allowed_email_domains -----------------------------------------------------------------------


async def test_a_verified_address_of_an_allowed_domain_signs_in(make_client: MakeClient) -> None:
    client = await make_client(allowed_email_domains=["example.com"])
    resp = await login_flow(client)
    assert resp.status == 303
    assert await who(client) == "alice"


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("carol@Example.COM", ["example.com"]),  # domains compare case-insensitively
        ("carol@example.com", ["EXAMPLE.com"]),
        ("carol@example.org", ["example.com", "example.org"]),
    ],
)
async def test_domain_matching_ignores_case(
    make_client: MakeClient, fake_provider_factory: Any, email: str, allowed: list[str]
) -> None:
    fake = await _fake_with(fake_provider_factory, FakeAccount(sub="carol", email=email))
    client = await make_client(providers=[oidc_provider_for(fake)], allowed_email_domains=allowed)
    assert (await login_flow(client)).status == 303
    assert await who(client) == "carol"


REFUSED = [
    FakeAccount(sub="carol", email="carol@other.com"),
    FakeAccount(sub="carol", email="carol@example.com", email_verified=False),
    FakeAccount(sub="carol"),  # no email at all
    FakeAccount(sub="carol", email="carol@sub.example.com"),
    FakeAccount(sub="carol", email="carol@example.com.evil.com"),
    FakeAccount(sub="carol", email="carol@evilexample.com"),
    FakeAccount(sub="carol", email="example.com"),
]


@pytest.mark.parametrize("account", REFUSED, ids=lambda a: f"{a.email}-{a.email_verified}")
async def test_other_or_unverified_addresses_are_refused(
    make_client: MakeClient, fake_provider_factory: Any, account: FakeAccount
) -> None:
    fake = await _fake_with(fake_provider_factory, account)
    client = await make_client(
        providers=[oidc_provider_for(fake)], allowed_email_domains=["example.com"]
    )
    resp = await login_flow(client)
    assert resp.status == 403
    assert resp.content_type == "text/html"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert "Only verified email addresses of example.com may sign in." in page
    assert "Location" not in resp.headers
    assert await who(client) is None
    assert (await client.get("/private", headers={"Accept": "application/json"})).status == 401
    assert fake.calls["token"] == 1  # the state was valid: the refusal came after the login


async def test_the_refusal_names_every_allowed_domain(
    make_client: MakeClient, fake_provider_factory: Any
) -> None:
    fake = await _fake_with(fake_provider_factory, FakeAccount(sub="c", email="c@other.com"))
    client = await make_client(
        providers=[oidc_provider_for(fake)], allowed_email_domains=["example.org", "example.com"]
    )
    resp = await login_flow(client)
    assert resp.status == 403
    assert "example.com, example.org" in await resp.text()


BAD_DOMAINS: list[Any] = [
    "example.com",  # a string, not a list
    [],
    ["not a domain"],
    [""],
    ["@example.com"],
    ["*.example.com"],
    ["example"],
    ["https://example.com"],
    [123],
    [None],
    {"example.com": True},
]


@pytest.mark.parametrize("value", BAD_DOMAINS, ids=repr)
def test_bad_allowed_email_domains_fail_at_setup(value: Any) -> None:
    provider = OIDCProvider(
        name="idp", issuer="https://idp.example", client_id="app", client_secret="s"
    )
    with pytest.raises(ConfigurationError, match="allowed_email_domains"):
        build_app([provider], allowed_email_domains=value)


def test_none_allows_every_domain() -> None:
    provider = OIDCProvider(
        name="idp", issuer="https://idp.example", client_id="app", client_secret="s"
    )
    build_app([provider], allowed_email_domains=None)


# ---- @login_required(allow=...) ------------------------------------------------------------------


def _staff_only(user: User) -> bool:
    return user.email is not None and user.email_verified and user.email.endswith("@staff.org")


async def _staff_only_async(user: User) -> bool:
    return _staff_only(user)


@pytest.mark.parametrize("rule", [_staff_only, _staff_only_async], ids=["sync", "async"])
async def test_an_allow_rule_on_the_email(
    aiohttp_client: Any, fake: FakeProvider, rule: Any
) -> None:
    @login_required(allow=rule)
    async def staff(request: web.Request) -> web.Response:
        user = await get_user(request)
        assert user is not None
        return web.Response(text=f"hello {user.id}")

    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/staff", staff)
    client: Client = await aiohttp_client(app)

    assert (await login_flow(client)).status == 303  # alice@example.com
    resp = await client.get("/staff")
    assert resp.status == 403
    assert resp.content_type == "text/html"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "You are signed in but may not open this page." in await resp.text()
    assert await who(client) == "alice"  # refused here, still signed in

    staff_user = User(provider="fake", id="s1", email="s1@staff.org", email_verified=True)
    await login_as(client, staff_user)
    resp = await client.get("/staff")
    assert resp.status == 200
    assert await resp.text() == "hello s1"

    unverified = User(provider="fake", id="s2", email="s2@staff.org", email_verified=False)
    await login_as(client, unverified)
    assert (await client.get("/staff")).status == 403


# ---- on_login ------------------------------------------------------------------------------------


async def test_on_login_can_refuse_with_its_own_response(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    seen: list[tuple[str, str | None, bool]] = []

    async def on_login(request: web.Request, user: User, token: TokenSet) -> web.Response | None:
        seen.append((user.id, user.email, bool(token.access_token)))
        return web.Response(status=403, text="no")

    client = await make_client(on_login=on_login)
    resp = await login_flow(client)
    assert resp.status == 403
    assert await resp.text() == "no"
    assert seen == [("alice", "alice@example.com", True)]
    assert await who(client) is None
    assert (await client.get("/private", headers={"Accept": "application/json"})).status == 401


async def test_on_login_returning_none_lets_the_user_in(make_client: MakeClient) -> None:
    async def on_login(request: web.Request, user: User, token: TokenSet) -> None:
        return None

    client = await make_client(on_login=on_login)
    assert (await login_flow(client)).status == 303
    assert await who(client) == "alice"


async def test_on_login_raising_refuses_the_login(make_client: MakeClient) -> None:
    async def on_login(request: web.Request, user: User, token: TokenSet) -> None:
        raise RuntimeError("database down")

    client = await make_client(on_login=on_login)
    resp = await login_flow(client)
    assert resp.status == 403
    assert "database down" not in await resp.text()
    assert await who(client) is None


async def test_on_login_runs_after_the_domain_rule(
    make_client: MakeClient, fake_provider_factory: Any
) -> None:
    calls: list[str] = []

    async def on_login(request: web.Request, user: User, token: TokenSet) -> None:
        calls.append(user.id)

    fake = await _fake_with(fake_provider_factory, FakeAccount(sub="c", email="c@other.com"))
    client = await make_client(
        providers=[oidc_provider_for(fake)],
        allowed_email_domains=["example.com"],
        on_login=on_login,
    )
    assert (await login_flow(client)).status == 403
    assert calls == []
