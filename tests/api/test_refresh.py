"""Refresh: a new ID token must validate and keep ``iss``/``sub`` (G7, OIDC Core §12.2),
and the ``RefreshCoordinator`` runs one refresh per refresh token and remembers results briefly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

import aiohttp_oauth2_login._clock as plugin_clock
import aiohttp_oauth2_login._oauth.refresh as refresh_module
from aiohttp_oauth2_login import (
    InvalidIDToken,
    TokenSet,
    User,
)
from aiohttp_oauth2_login._oauth.refresh import RefreshCoordinator
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import (
    FakeProvider,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import COOKIE, JSON, Client, build_app, call_api
from ..support.session import expire_in_session, oauth_session


async def _api_client(aiohttp_client: Any, provider: OIDCProvider, *, login: bool = True) -> Client:
    app = build_app([provider])
    app.router.add_get("/call", call_api)
    client: Client = await aiohttp_client(app)
    if login:
        assert (await login_flow(client)).status == 303
    return client


def _claims(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


# ---- the ID token of a refresh -------------------------------------------------------------------


async def test_refresh_with_a_valid_new_id_token(aiohttp_client: Any, fake: FakeProvider) -> None:
    # rp_initiated_logout keeps the ID token in the session, so the new one can be inspected
    client = await _api_client(aiohttp_client, oidc_provider_for(fake, rp_initiated_logout=True))
    first = oauth_session(client)["t"]["fake"]["i"]
    expire_in_session(client)
    resp = await client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1
    second = oauth_session(client, resp.cookies[COOKIE].value)["t"]["fake"]["i"]
    assert second != first
    assert _claims(second)["sub"] == _claims(first)["sub"] == "alice"
    assert _claims(second)["iss"] == fake.issuer


async def test_refresh_without_a_new_id_token_is_accepted(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """OIDC Core §12.2: the token response of a refresh MAY omit the ID token."""
    client = await _api_client(aiohttp_client, oidc_provider_for(fake))
    expire_in_session(client)
    fake.fail("id_token_missing")
    resp = await client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1


BAD_ID_TOKENS = [
    "id_token_wrong_iss",
    "id_token_bad_signature",
    "id_token_wrong_aud",
    "id_token_wrong_azp",
    "id_token_expired",
    "id_token_no_sub",
    "id_token_alg_none",
    "id_token_hs256_pubkey",
]


@pytest.mark.parametrize("mode", BAD_ID_TOKENS)
async def test_a_bad_id_token_on_refresh_requires_a_new_login(
    aiohttp_client: Any, fake: FakeProvider, mode: str
) -> None:
    client = await _api_client(aiohttp_client, oidc_provider_for(fake))
    expire_in_session(client)
    fake.fail(mode)
    resp = await client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert fake.calls["refresh"] == 1
    assert fake.calls["api"] == 0  # the refused tokens were never used
    assert resp.cookies[COOKIE].value == ""  # nor stored
    fake.reset()
    assert (await client.get("/private", headers=JSON)).status == 401


@pytest.mark.parametrize("mode", ["id_token_wrong_iss", "id_token_bad_signature"])
async def test_a_bad_id_token_after_an_api_401_requires_a_new_login(
    aiohttp_client: Any, fake: FakeProvider, mode: str
) -> None:
    client = await _api_client(aiohttp_client, oidc_provider_for(fake))
    fake.expire_access_tokens()  # refresh after the API's 401
    fake.fail(mode)
    resp = await client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert fake.calls["refresh"] == 1
    assert fake.calls["api"] == 1  # the refused call, and no retry with the refused tokens


async def test_a_refreshed_id_token_naming_another_user_is_refused(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """A session of bob holding a refresh token of alice: the new ID token names alice."""
    client = await _api_client(aiohttp_client, oidc_provider_for(fake))
    alice = oauth_session(client)["t"]["fake"]
    assert alice["r"] in fake.active_refresh_tokens()
    token = TokenSet(
        access_token="stale", expires_at=int(time.time()) - 5, refresh_token=alice["r"]
    )
    await login_as(client, User(provider="fake", id="bob", name="Bob"), token=token)
    resp = await client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert fake.calls["refresh"] == 1
    assert fake.calls["api"] == 0
    assert resp.cookies[COOKIE].value == ""
    assert (await (await client.get("/")).json())["user"] is None


async def test_oidc_provider_refresh_checks_the_subject(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    """``OIDCProvider.refresh`` itself, against the fake's real token endpoint."""
    client = await _api_client(aiohttp_client, oidc_provider_for(fake))
    login = find_login(client.app)
    provider = login.providers["fake"]
    http, limits = login.http, login.config.limits
    endpoints = await provider.endpoints(http, limits)
    stored = oauth_session(client)["t"]["fake"]
    token = TokenSet(access_token=stored["a"], refresh_token=stored["r"])

    fresh = await provider.refresh(
        http, limits, endpoints, token, User(provider="fake", id="alice")
    )
    assert fresh.id_token is not None and _claims(fresh.id_token)["sub"] == "alice"
    assert fresh.refresh_token is not None and fresh.refresh_token != token.refresh_token

    with pytest.raises(InvalidIDToken):
        await provider.refresh(http, limits, endpoints, fresh, User(provider="fake", id="mallory"))
    assert fake.calls["refresh"] == 2


# ---- RefreshCoordinator --------------------------------------------------------------------------


class _Job:
    """A refresh job that counts its runs and can be held open or made to fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.runs = 0
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> TokenSet:
        self.runs += 1
        await self.release.wait()
        if self.fail:
            raise InvalidIDToken()
        return TokenSet(access_token=f"access-{self.runs}", refresh_token=f"refresh-{self.runs}")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:  # the wall clock stays real: only the coalescing window moves
        return time.time()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(plugin_clock, "time", clock)
    return clock


async def test_concurrent_refreshes_of_one_token_share_one_job() -> None:
    coordinator = RefreshCoordinator()
    job = _Job()
    job.release.clear()
    waiting = [asyncio.ensure_future(coordinator.refresh("rt-1", job)) for _ in range(10)]
    await asyncio.sleep(0.01)
    assert job.runs == 1
    job.release.set()
    results = await asyncio.gather(*waiting)
    assert job.runs == 1
    assert all(result is results[0] for result in results)


async def test_different_tokens_refresh_independently() -> None:
    coordinator = RefreshCoordinator()
    one, two = _Job(), _Job()
    first, second = await asyncio.gather(
        coordinator.refresh("rt-1", one), coordinator.refresh("rt-2", two)
    )
    assert (one.runs, two.runs) == (1, 1)
    assert coordinator.recent("rt-1") is first
    assert coordinator.recent("rt-2") is second
    assert coordinator.recent("rt-3") is None


async def test_a_cancelled_waiter_does_not_cancel_the_shared_job() -> None:
    coordinator = RefreshCoordinator()
    job = _Job()
    job.release.clear()
    impatient = asyncio.ensure_future(coordinator.refresh("rt-1", job))
    patient = asyncio.ensure_future(coordinator.refresh("rt-1", job))
    await asyncio.sleep(0.01)
    impatient.cancel()
    job.release.set()
    result = await patient
    assert impatient.cancelled()
    assert result.access_token == "access-1"
    assert job.runs == 1


async def test_a_failure_is_shared_but_not_remembered() -> None:
    coordinator = RefreshCoordinator()
    job = _Job(fail=True)
    job.release.clear()
    waiting = [asyncio.ensure_future(coordinator.refresh("rt-1", job)) for _ in range(3)]
    await asyncio.sleep(0.01)
    job.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, InvalidIDToken) for r in results)
    assert job.runs == 1
    assert coordinator.recent("rt-1") is None
    job.fail = False
    result = await coordinator.refresh("rt-1", job)  # the next call runs the job again
    assert job.runs == 2
    assert result.access_token == "access-2"


async def test_results_are_remembered_for_recent_ttl(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    monkeypatch.setattr(refresh_module, "RECENT_TTL", 5.0)
    coordinator = RefreshCoordinator()
    job = _Job()
    first = await coordinator.refresh("rt-1", job)
    clock.now += 4.9
    assert await coordinator.refresh("rt-1", job) is first  # a late request: no second refresh
    assert job.runs == 1
    clock.now += 0.1  # RECENT_TTL after the refresh: forgotten
    assert coordinator.recent("rt-1") is None
    second = await coordinator.refresh("rt-1", job)
    assert job.runs == 2
    assert second is not first


async def test_remembered_results_are_bounded_by_recent_max(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    monkeypatch.setattr(refresh_module, "RECENT_MAX", 3)
    coordinator = RefreshCoordinator()
    jobs = {f"rt-{i}": _Job() for i in range(5)}
    for token, job in jobs.items():
        await coordinator.refresh(token, job)
    # the three newest are remembered, the two oldest were evicted
    for token in ("rt-2", "rt-3", "rt-4"):
        assert coordinator.recent(token) is not None
        await coordinator.refresh(token, jobs[token])
        assert jobs[token].runs == 1
    for token in ("rt-0", "rt-1"):
        assert coordinator.recent(token) is None
    await coordinator.refresh("rt-0", jobs["rt-0"])
    assert jobs["rt-0"].runs == 2
    assert sum(coordinator.recent(t) is not None for t in jobs) == 3


async def test_results_are_keyed_by_a_hash_not_the_token() -> None:
    coordinator = RefreshCoordinator()
    await coordinator.refresh("a-very-secret-refresh-token", _Job())
    assert "a-very-secret-refresh-token" not in repr(vars(coordinator))


async def test_a_result_not_yet_written_is_kept_until_it_is(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """A refresh whose result could not reach the session store (Redis down) is ``keep``-t
    however long that takes: a request still carrying the spent token gets the result, never
    a second refresh (which would present a token the provider has rotated away)."""
    monkeypatch.setattr(refresh_module, "RECENT_TTL", 5.0)
    coordinator = RefreshCoordinator()
    job = _Job()

    async def refresh_and_keep() -> TokenSet:
        result = await job()
        coordinator.keep("rt-1", result)  # what the Redis path does before writing
        return result

    first = await coordinator.refresh("rt-1", refresh_and_keep)
    assert coordinator.unsaved == 1
    clock.now += 3600.0  # Redis was down for an hour: long past RECENT_TTL
    assert coordinator.recent("rt-1") is first
    assert await coordinator.refresh("rt-1", job) is first
    assert job.runs == 1
    coordinator.written("rt-1")  # in Redis now: requests read the new token from there
    assert coordinator.unsaved == 0
    assert coordinator.recent("rt-1") is None
    coordinator.written("rt-1")  # idempotent


async def test_kept_results_are_keyed_by_a_hash_not_the_token() -> None:
    coordinator = RefreshCoordinator()
    coordinator.keep("a-very-secret-refresh-token", TokenSet(access_token="a"))
    assert "a-very-secret-refresh-token" not in repr(vars(coordinator))
