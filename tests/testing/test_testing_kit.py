"""The testing kit: ``login_as``, ``login_flow``, ``find_login``, ``oidc_provider_for`` and the
pytest fixtures (README, Testing your app; ``aiohttp_oauth2_login.testing``)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from aiohttp_oauth2_login import TokenSet, UnknownProvider, User, get_user
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import (
    FakeProvider,
    fake_for,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import Client, FakeFactory, MakeClient, build_app, call_api, home


async def _private(client: Client) -> Any:
    resp = await client.get("/private")
    assert resp.status == 200
    return await resp.json()


async def test_login_as_an_id(client: Client, fake: FakeProvider) -> None:
    user = await login_as(client, "alice")
    # the fake's account alice, as the preset would have built it from a real login
    assert (user.provider, user.id, user.name) == ("fake", "alice", "Alice Example")
    assert (user.email, user.email_verified, user.username) == ("alice@example.com", True, "alice")
    assert await _private(client) == {"id": "alice", "provider": "fake", "name": "Alice Example"}
    view = await client.get("/view")
    assert await view.json() == {"view": True, "id": "alice"}
    assert fake.calls["token"] == 0  # no dance


async def test_login_as_gives_a_token_the_fake_accepts(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/api-me", call_api)
    client: Client = await aiohttp_client(app)
    await login_as(client, "bob")
    resp = await client.get("/api-me")
    assert await resp.json() == {
        "status": 200,
        "body": {"sub": "bob", "name": "Bob Example", "token_scope": "openid email profile"},
    }
    (token,) = fake._access_tokens  # issued by the fake itself
    assert not fake.revoked(token)


async def test_login_as_an_unknown_account_of_the_fake(client: Client, fake: FakeProvider) -> None:
    user = await login_as(client, "zoe")
    assert (user.id, user.name, user.email) == ("zoe", "zoe", "zoe@example.com")
    assert "zoe" in fake.accounts


async def test_login_as_without_a_fake_serving_the_provider(aiohttp_client: Any) -> None:
    provider = OIDCProvider(
        name="fake", issuer="https://sso.example", client_id="c", client_secret="s"
    )
    client: Client = await aiohttp_client(build_app([provider]))
    assert fake_for(provider) is None
    user = await login_as(client, "alice")
    assert user == User(provider="fake", id="alice", name="alice")
    assert await _private(client) == {"id": "alice", "provider": "fake", "name": "alice"}


async def test_login_as_with_an_explicit_fake(
    aiohttp_client: Any, fake_provider_factory: FakeFactory
) -> None:
    fake = await fake_provider_factory(auto_approve=True)
    provider = OIDCProvider(
        name="fake", issuer="https://sso.example", client_id="c", client_secret="s"
    )
    client: Client = await aiohttp_client(build_app([provider]))
    user = await login_as(client, "bob", fake=fake)
    assert user.name == "Bob Example"
    assert len(fake._access_tokens) == 1


async def test_fake_for_matches_client_and_url(fake_provider_factory: FakeFactory) -> None:
    one = await fake_provider_factory()
    two = await fake_provider_factory()
    assert fake_for(oidc_provider_for(one)) is one
    assert fake_for(oidc_provider_for(two)) is two
    other_client = OIDCProvider(name="x", issuer=one.issuer, client_id="other", client_secret="s")
    assert fake_for(other_client) is None
    await one.stop()
    assert fake_for(oidc_provider_for(one)) is None  # stopped: no longer serves


async def test_login_as_a_full_user(client: Client) -> None:
    given = User(
        provider="fake",
        id="12345",
        name="Bob Builder",
        email="bob@example.com",
        email_verified=True,
        username="bob",
        avatar_url="https://example.com/bob.png",
        raw={"plan": "pro"},
    )
    assert await login_as(client, given) is given
    assert await _private(client) == {"id": "12345", "provider": "fake", "name": "Bob Builder"}


async def test_login_as_sees_every_user_field(aiohttp_client: Any, fake: FakeProvider) -> None:
    seen: list[User] = []

    async def whoami(request: web.Request) -> web.Response:
        user = await get_user(request)
        assert user is not None
        seen.append(user)
        return web.Response()

    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/whoami", whoami)
    client: Client = await aiohttp_client(app)
    given = User(
        provider="fake",
        id="7",
        name="N",
        email="e@example.com",
        email_verified=True,
        username="u",
        avatar_url="https://example.com/a.png",
        raw={"k": "v"},
    )
    await login_as(client, given)
    await client.get("/whoami")
    assert seen == [given]
    assert dict(seen[0].raw) == {"k": "v"}


async def test_login_as_replaces_the_previous_user(client: Client) -> None:
    await login_as(client, "alice")
    await login_as(client, "bob")
    assert (await _private(client))["id"] == "bob"


async def test_login_as_with_a_token(client: Client) -> None:
    token = TokenSet(access_token="given", expires_at=int(time.time()) + 60)
    await login_as(client, "alice", token=token)
    assert (await _private(client))["id"] == "alice"


async def test_login_as_with_another_provider(
    make_client: MakeClient, fake: FakeProvider, fake_provider_factory: FakeFactory
) -> None:
    other = await fake_provider_factory(auto_approve=True)
    client = await make_client(
        providers=[oidc_provider_for(fake), oidc_provider_for(other, name="other")]
    )
    await login_as(client, "carol", provider="other")
    assert (await _private(client))["provider"] == "other"


@pytest.mark.parametrize(
    ("user", "provider"),
    [
        ("alice", "nope"),
        (User(provider="nope", id="alice"), None),
    ],
)
async def test_login_as_unknown_provider_is_an_error(
    client: Client, user: User | str, provider: str | None
) -> None:
    with pytest.raises(UnknownProvider):
        await login_as(client, user, provider=provider)
    assert (await (await client.get("/")).json())["user"] is None


async def test_login_as_on_an_app_without_the_plugin(aiohttp_client: Any) -> None:
    app = web.Application()
    app.router.add_get("/", home)
    client = await aiohttp_client(app)
    with pytest.raises(LookupError, match="setup_oauth"):
        await login_as(client, "alice")


async def test_login_as_on_a_sub_app(aiohttp_client: Any, fake: FakeProvider) -> None:
    parent = web.Application()
    sub = build_app([oidc_provider_for(fake)])
    parent.add_subapp("/app", sub)
    client: Client = await aiohttp_client(parent)
    assert find_login(parent) is find_login(sub)
    await login_as(client, "alice")
    resp = await client.get("/app/private")
    assert resp.status == 200


async def test_fake_provider_fixture_is_started(fake_provider: FakeProvider) -> None:
    assert fake_provider.auto_approve
    assert fake_provider.issuer.startswith("http://127.0.0.1:")
    async with (
        aiohttp.ClientSession() as http,
        http.get(fake_provider.issuer + "/.well-known/openid-configuration") as resp,
    ):
        assert resp.status == 200
        meta = await resp.json()
    assert meta["issuer"] == fake_provider.issuer
    assert meta["token_endpoint"].startswith(fake_provider.issuer)


def test_oidc_provider_for(fake_provider: FakeProvider) -> None:
    provider = oidc_provider_for(fake_provider)
    assert isinstance(provider, OIDCProvider)
    assert provider.name == "fake"
    assert provider.issuer == fake_provider.issuer
    assert provider.client_id == fake_provider.client_id
    assert provider.client_secret == fake_provider.client_secret
    named = oidc_provider_for(fake_provider, name="dev", title="Dev")
    assert (named.name, named.title) == ("dev", "Dev")


def test_oidc_provider_for_needs_a_started_provider() -> None:
    with pytest.raises(RuntimeError, match="start"):
        oidc_provider_for(FakeProvider())


async def test_fake_provider_factory_starts_distinct_providers(
    fake_provider_factory: FakeFactory,
) -> None:
    one = await fake_provider_factory()
    two = await fake_provider_factory(auto_approve=True)
    assert one.issuer != two.issuer
    assert not one.auto_approve and two.auto_approve


async def test_login_flow_with_auto_approve(client: Client, fake: FakeProvider) -> None:
    resp = await login_flow(client, next="/view")
    assert resp.status == 303
    assert resp.headers["Location"] == "/view"
    assert (await _private(client))["id"] == "alice"
    assert fake.calls["token"] == 1
    assert fake.calls["authorize_submit"] == 0


async def test_login_flow_drives_the_sign_in_form(
    aiohttp_client: Any, fake_provider_factory: FakeFactory
) -> None:
    fake = await fake_provider_factory(auto_approve=False)
    client: Client = await aiohttp_client(build_app([oidc_provider_for(fake)]))
    resp = await login_flow(client, account="bob", next="/private")
    assert resp.status == 303
    assert resp.headers["Location"] == "/private"
    assert await _private(client) == {"id": "bob", "provider": "fake", "name": "Bob Example"}
    assert fake.calls["authorize_submit"] == 1


async def test_login_flow_without_account_stops_at_the_sign_in_page(
    aiohttp_client: Any, fake_provider_factory: FakeFactory
) -> None:
    fake = await fake_provider_factory(auto_approve=False)
    client: Client = await aiohttp_client(build_app([oidc_provider_for(fake)]))
    resp = await login_flow(client)
    assert resp.status == 200
    assert 'name="interaction"' in await resp.text()
    assert (await (await client.get("/")).json())["user"] is None


async def test_login_flow_returns_the_failure(client: Client, fake: FakeProvider) -> None:
    fake.fail("deny")
    resp = await login_flow(client)
    assert resp.status == 403
    assert (await (await client.get("/")).json())["user"] is None


async def test_login_flow_unknown_provider(client: Client) -> None:
    with pytest.raises(UnknownProvider):
        await login_flow(client, "nope")


def test_find_login_without_the_plugin() -> None:
    with pytest.raises(LookupError):
        find_login(web.Application())
