"""Redis sessions (#5), in one process: the cookie holds only an opaque session id; the key, its
TTL, rotation, logout and garbage; Redis down gives a clear 503; the refresh lock against the
real server; refreshed tokens written later; storage clients passed in; configuration; a save
never puts back tokens another instance refreshed meanwhile.

Everything runs against a real ``redis-server`` (``tests/support/redis_peer.py``); the tests with
several processes are in test_redis_scaleout.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp_session
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp_session.redis_storage import RedisStorage
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from yarl import URL

from aiohttp_oauth2_login import (
    ConfigurationError,
    TokenSet,
    get_client,
    get_user,
    login_required,
    setup_oauth,
)
from aiohttp_oauth2_login._sessions.redis import (
    LOCK_LEASE,
    RedisRefreshLock,
    client_warnings,
    read,
    redis_client,
    replace_tokens,
)
from aiohttp_oauth2_login.errors import ProviderTimeout, ReauthenticationRequired
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import (
    FakeProvider,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import COOKIE, HTML, JSON, KEY, Client, MakeClient, build_app, presented
from ..support.peers import wait_for
from ..support.redis_peer import (
    LIFETIME,
    SESSION_ID,
    Answer,
    RedisPeer,
    assert_clear_503,
    edit_stored,
    expire_in_redis,
    fetch,
    keys,
    session_key,
    stored,
    stored_tokens,
)
from ..support.session import session_cookie


def redis_setup(url: str, **options: Any) -> dict[str, Any]:
    """``setup_oauth`` options for Redis sessions; the shared ``secret_key`` protects the login
    transaction cookies (a login may start on one instance and finish on another)."""
    return {"redis_url": url, "secret_key": KEY, "session_lifetime": LIFETIME, **options}


def offline_provider() -> OIDCProvider:
    """A provider for apps that never sign anyone in (nothing listens on port 9)."""
    return OIDCProvider(name="fake", issuer="http://127.0.0.1:9", client_id="c", client_secret="s")


# ---- in one process: the cookie, the key, rotation, logout, garbage --------------------------


@pytest.fixture
async def redis_client_app(make_client: MakeClient, redis_server: RedisPeer) -> Client:
    return await make_client(**redis_setup(redis_server.url))


async def test_the_cookie_holds_only_an_opaque_session_id(
    redis_client_app: Client,
    redis_server: RedisPeer,
) -> None:
    resp = await login_flow(redis_client_app)
    assert resp.status == 303
    set_cookies = [h for h in resp.headers.getall("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    assert len(set_cookies) == 1  # (the other one deletes the used transaction cookie)
    morsel = resp.cookies[COOKIE]
    assert SESSION_ID.fullmatch(morsel.value)
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert morsel["domain"] == ""
    assert not morsel["secure"]  # plain http here; see the https test below
    assert int(morsel["max-age"]) == LIFETIME
    tokens = stored_tokens(redis_server, morsel.value)
    assert tokens["a"] not in resp.headers["Set-Cookie"]
    assert tokens["r"] not in resp.headers["Set-Cookie"]
    resp = await redis_client_app.get("/private", headers=JSON)
    assert (await resp.json())["id"] == "alice"


async def test_https_gives_a_host_prefixed_secure_cookie(
    make_client: MakeClient,
    redis_server: RedisPeer,
) -> None:
    client = await make_client(**redis_setup(redis_server.url, public_url="https://app.example"))
    storage = find_login(client.app).storage  # (a Secure cookie never travels over this http)
    session = await storage.new_session()
    session["oauth"] = {"li": int(time.time())}
    resp = web.Response()
    await storage.save_session(make_mocked_request("GET", "/"), resp, session)
    name = f"__Host-{COOKIE}"
    morsel = resp.cookies[name]
    assert SESSION_ID.fullmatch(morsel.value)
    assert morsel["secure"] is True and morsel["httponly"] is True
    assert morsel["samesite"] == "Lax" and morsel["path"] == "/" and morsel["domain"] == ""
    assert keys(redis_server) == {session_key(morsel.value, name)}


@pytest.mark.parametrize("cookie_name", [COOKIE, "myapp_sid"])
async def test_the_session_key_is_cookie_name_setup_and_id_with_the_session_lifetime_as_ttl(
    make_client: MakeClient,
    redis_server: RedisPeer,
    cookie_name: str,
) -> None:
    client = await make_client(**redis_setup(redis_server.url, cookie_name=cookie_name))
    assert (await login_flow(client)).status == 303
    session_id = session_cookie(client, cookie_name)
    assert session_id is not None
    key = session_key(session_id, cookie_name)
    assert keys(redis_server) == {key}
    with redis_server.client() as r:
        ttl = r.ttl(key)
        data = json.loads(str(r.get(key)))
    assert LIFETIME - 5 <= int(str(ttl)) <= LIFETIME
    assert data["session"]["oauth"]["u"]["i"] == "alice"


async def test_login_rotates_the_session_id_and_deletes_the_pre_login_session(
    redis_client_app: Client,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    client = redis_client_app
    await login_as(client, "bob")  # a session exists before the login
    before = session_cookie(client)
    assert before is not None and keys(redis_server) == {session_key(before)}
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    assert resp.status == 302
    answer = await client.session.get(resp.headers["Location"], allow_redirects=False)
    callback = URL(answer.headers["Location"])
    resp = await client.get(callback.path_qs, allow_redirects=False)
    assert resp.status == 303
    after = session_cookie(client)
    assert after is not None and SESSION_ID.fullmatch(after) and after != before
    assert keys(redis_server) == {session_key(after)}  # the pre-login session is gone
    answer = await fetch(replayer, client.make_url("/"), session_id=before)
    assert answer.json()["user"] is None
    answer = await fetch(replayer, client.make_url("/"), session_id=after)
    assert answer.json()["user"] == "alice"


async def test_login_drops_the_anonymous_session_and_carries_nothing_over(
    aiohttp_client: Any,
    fake: FakeProvider,
    redis_server: RedisPeer,
) -> None:
    """An anonymous visitor's server-side session (here with app data) is deleted at login;
    the signed-in session is a new one holding nothing of it (G9)."""

    async def visit(request: web.Request) -> web.Response:
        session = await aiohttp_session.get_session(request)
        session["cart"] = "3 apples"
        return web.json_response({"ok": True})

    app = build_app(
        [oidc_provider_for(fake)], session_middleware=True, **redis_setup(redis_server.url)
    )  # the app's own handler uses the session
    app.router.add_get("/visit", visit)
    client: Client = await aiohttp_client(app)
    assert (await client.get("/visit")).status == 200
    before = session_cookie(client)
    assert before is not None and keys(redis_server) == {session_key(before)}
    assert (await login_flow(client)).status == 303
    after = session_cookie(client)
    assert after is not None and after != before
    assert keys(redis_server) == {session_key(after)}
    data = stored(redis_server, after)
    assert data is not None and "cart" not in data["session"]


async def test_a_planted_session_id_is_never_adopted(
    redis_client_app: Client,
    redis_server: RedisPeer,
) -> None:
    planted = "0123456789abcdef" * 2  # well-formed, but Redis never issued it
    redis_client_app.session.cookie_jar.update_cookies(
        {COOKIE: planted}, response_url=redis_client_app.make_url("/")
    )
    assert (await login_flow(redis_client_app)).status == 303
    session_id = session_cookie(redis_client_app)
    assert session_id is not None and session_id != planted
    assert keys(redis_server) == {session_key(session_id)}


async def test_logout_deletes_the_session_and_a_replayed_cookie_is_anonymous(
    redis_client_app: Client,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    client = redis_client_app
    assert (await login_flow(client)).status == 303
    session_id = session_cookie(client)
    assert session_id is not None
    home, private = client.make_url("/"), client.make_url("/private")
    assert (await fetch(replayer, home, session_id=session_id)).json()["user"] == "alice"
    origin = str(client.make_url("/").origin())
    resp = await client.post("/auth/logout", headers={"Origin": origin}, allow_redirects=False)
    assert resp.status == 303
    assert resp.cookies[COOKIE].value == ""
    assert "Max-Age=0" in resp.cookies[COOKIE].OutputString()
    assert keys(redis_server) == set()
    assert (await fetch(replayer, home, session_id=session_id)).json()["user"] is None
    assert (await fetch(replayer, private, session_id=session_id)).status == 401
    assert keys(redis_server) == set()


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "0123456789abcdef" * 2,  # well-formed but unknown
        "0123456789ABCDEF" * 2,
        "0123456789abcdef" * 4,
        "0123456789abcde",
        "*",
        "..%2F..%2Fx",
        "x" * 3000,
    ],
    ids=["word", "unknown", "upper", "long", "short", "glob", "path", "huge"],
)
async def test_a_garbage_or_unknown_session_cookie_is_anonymous(
    redis_client_app: Client,
    redis_server: RedisPeer,
    value: str,
) -> None:
    cookie = {"Cookie": f"{COOKIE}={value}"}
    resp = await redis_client_app.get("/", headers=cookie)
    assert resp.status == 200 and (await resp.json())["user"] is None
    resp = await redis_client_app.get("/private", headers={**JSON, **cookie})
    assert resp.status == 401
    resp = await redis_client_app.get("/private", headers={**HTML, **cookie}, allow_redirects=False)
    assert resp.status == 302
    assert keys(redis_server) == set()


async def test_large_token_sets_stay_in_redis_and_the_cookie_stays_small(
    redis_client_app: Client,
    redis_server: RedisPeer,
) -> None:
    big = TokenSet(
        access_token="a" * 12_000,
        refresh_token="r" * 12_000,
        id_token="i" * 12_000,
        expires_at=int(time.time()) + 3600,
    )
    await login_as(redis_client_app, "alice", token=big)
    session_id = session_cookie(redis_client_app)
    assert session_id is not None and SESSION_ID.fullmatch(session_id)
    assert stored_tokens(redis_server, session_id)["a"] == big.access_token
    resp = await redis_client_app.get("/private", headers=JSON)
    assert resp.status == 200 and (await resp.json())["id"] == "alice"
    assert all(len(header) < 200 for header in resp.headers.getall("Set-Cookie", []))


async def test_the_redis_ttl_never_outlives_the_absolute_lifetime(
    redis_client_app: Client,
    redis_server: RedisPeer,
) -> None:
    """A session signed in half a lifetime ago and written again now (an activity update)
    must not stay in Redis, tokens included, for another full lifetime."""
    assert (await login_flow(redis_client_app)).status == 303
    session_id = session_cookie(redis_client_app)
    assert session_id is not None
    now, half = int(time.time()), LIFETIME // 2

    def age(oauth: dict[str, Any]) -> None:
        oauth["li"], oauth["la"] = now - half, now - 120

    edit_stored(redis_server, session_id, age)
    with redis_server.client() as r:
        r.expire(session_key(session_id), half)  # what is left of the absolute lifetime
    resp = await redis_client_app.get("/private", headers=JSON)
    assert resp.status == 200
    with redis_server.client() as r:
        ttl = int(str(r.ttl(session_key(session_id))))
    assert 0 < ttl <= half + 2, f"TTL {ttl} s, but the session ends in {half} s"


# ---- in one process: Redis down → 503 (HTML and JSON), then recovery -------------------------


async def test_redis_down_gives_a_clear_503_and_service_resumes(
    make_client: MakeClient,
    persistent_redis: RedisPeer,
    fake: FakeProvider,
) -> None:
    client = await make_client(**redis_setup(persistent_redis.url))
    assert (await login_flow(client)).status == 303
    session_id = session_cookie(client)
    persistent_redis.stop()

    origin = {"Origin": str(client.make_url("/").origin())}
    requests = [
        ("GET", "/private", JSON, False),
        ("GET", "/private", HTML, True),
        ("GET", "/view", JSON, False),
        ("GET", "/", JSON, False),
        ("POST", "/auth/logout", {**JSON, **origin}, False),
        ("POST", "/auth/logout", {**HTML, **origin}, True),
    ]
    for method, path, headers, html in requests:
        answer = await fetch(client.session, client.make_url(path), method=method, headers=headers)
        assert_clear_503(answer, html=html)
        if html:
            assert answer.headers["X-Frame-Options"] == "DENY"
    # starting a login needs no session store: the transaction is a cookie of its own
    answer = await fetch(client.session, client.make_url("/auth/login/fake"), headers=HTML)
    assert answer.status == 302
    assert fake.calls["authorize"] == 1 and fake.calls["revoke"] == 0

    await persistent_redis.start_async()
    resp = await client.get("/private", headers=JSON)
    assert resp.status == 200 and (await resp.json())["id"] == "alice"
    assert session_cookie(client) == session_id


@pytest.mark.parametrize("error", [FileNotFoundError, ConnectionRefusedError])
async def test_an_app_error_is_not_reported_as_a_session_store_outage(
    aiohttp_client: Any,
    redis_server: RedisPeer,
    error: type[OSError],
) -> None:
    """Only the session store's failures are a 503 'sessions unavailable': an OSError of the
    application's own (a missing file, its own backend refusing) is the application's error."""

    async def broken(request: web.Request) -> web.Response:
        raise error("the application's own failure")

    app = build_app([offline_provider()], **redis_setup(redis_server.url))
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    resp = await client.get("/broken", headers=JSON)
    assert resp.status == 500
    assert "temporarily_unavailable" not in await resp.text()


# ---- the refresh lock against the real server ------------------------------------------------


@pytest.fixture
async def lock_clients(redis_server: RedisPeer) -> AsyncIterator[list[aioredis.Redis]]:
    """Two clients, as two instances would have."""
    clients = [redis_client(redis_server.url) for _ in range(2)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


LOCK_KEY = "app:lock:session"


async def test_refresh_lock_mutual_exclusion(lock_clients: list[aioredis.Redis]) -> None:
    locks = [RedisRefreshLock(client, prefix="app") for client in lock_clients]
    inside, most, done = 0, 0, 0

    async def worker(lock: RedisRefreshLock) -> None:
        nonlocal inside, most, done
        async with lock.hold("session"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1
            done += 1

    await asyncio.gather(*(worker(locks[i % 2]) for i in range(8)))
    assert (most, done) == (1, 8)
    # different sessions do not exclude each other
    async with locks[0].hold("one"), locks[1].hold("two"):
        assert await lock_clients[0].exists("app:lock:one", "app:lock:two") == 2


async def test_refresh_lock_waiter_waits_for_the_holder(
    lock_clients: list[aioredis.Redis],
) -> None:
    first, second = (RedisRefreshLock(client, prefix="app") for client in lock_clients)
    events: list[str] = []

    async def waiter() -> None:
        async with second.hold("session"):
            events.append("second in")

    async with first.hold("session"):
        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0.3)
        assert events == [] and not task.done()
        events.append("first out")
    await asyncio.wait_for(task, 2)
    assert events == ["first out", "second in"]
    assert await lock_clients[0].exists(LOCK_KEY) == 0


async def test_refresh_lock_is_released_only_by_its_holder(
    lock_clients: list[aioredis.Redis],
) -> None:
    """A holder that stopped renewing (frozen) was taken over: neither its release nor its
    renewals, should it come back to life, touch the new holder's lock."""
    frozen = RedisRefreshLock(lock_clients[0], prefix="app", lease=0.3)
    other = RedisRefreshLock(lock_clients[1], prefix="app", lease=0.3)
    async with contextlib.AsyncExitStack() as later:
        async with frozen.hold("session") as held:
            assert held._renewal is not None
            held._renewal.cancel()  # frozen: no more renewals
            await asyncio.wait_for(later.enter_async_context(other.hold("session")), 5)
            taken_over = await lock_clients[0].get(LOCK_KEY)
            assert taken_over is not None and not taken_over.startswith(held.owner.encode())
            held.start()  # alive again: its renewals find the lock taken
            await asyncio.sleep(0.3)
            assert (await lock_clients[0].get(LOCK_KEY) or b"").startswith(taken_over[:33])
        assert (await lock_clients[0].get(LOCK_KEY) or b"").startswith(taken_over[:33])
    assert await lock_clients[0].exists(LOCK_KEY) == 0  # released by its holder


async def test_refresh_lock_lease_expires_by_itself(lock_clients: list[aioredis.Redis]) -> None:
    """A lock key with an expiry of its own ends with it."""
    await lock_clients[0].set(LOCK_KEY, "crashed-holder", nx=True, px=300)
    lock = RedisRefreshLock(lock_clients[1], prefix="app", lease=5)
    started = time.monotonic()
    async with lock.hold("session"):
        waited = time.monotonic() - started
        assert await lock_clients[1].get(LOCK_KEY) != b"crashed-holder"
    assert waited < 2.5  # the key's 0.3 s, not a 5 s lease


async def test_refresh_lock_of_a_crashed_holder_is_taken_over_after_one_lease(
    lock_clients: list[aioredis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    """A holder that died (nobody renews its lock; its Redis TTL is an hour, so that a lock
    survives a Redis restart) blocks the others for one lease, measured on their own clock."""
    await lock_clients[0].set(LOCK_KEY, "crashed-holder.7", px=3_600_000)
    lock = RedisRefreshLock(lock_clients[1], prefix="app", lease=0.3)
    started = time.monotonic()
    async with lock.hold("session") as held:
        waited = time.monotonic() - started
        assert (await lock_clients[1].get(LOCK_KEY) or b"").startswith(held.owner.encode())
    assert waited >= 0.3  # never before a whole lease without a renewal
    assert waited < 3.0  # generous: one lease plus polling on a loaded machine
    assert "took over a refresh lock" in caplog.text


async def test_refresh_lock_live_holder_keeps_it_beyond_the_lease(
    lock_clients: list[aioredis.Redis],
) -> None:
    """A slow holder that is alive renews its lock: it is not taken over after a lease."""
    holder = RedisRefreshLock(lock_clients[0], prefix="app", lease=1.0)
    waiter = RedisRefreshLock(lock_clients[1], prefix="app", lease=1.0)
    events: list[str] = []

    async def wait_in() -> None:
        async with waiter.hold("session"):
            events.append("waiter in")

    async with holder.hold("session"):
        task = asyncio.ensure_future(wait_in())
        await asyncio.sleep(2.5)  # two and a half leases, renewed all along
        assert events == [] and not task.done()
        events.append("holder out")
    await asyncio.wait_for(task, 5)
    assert events == ["holder out", "waiter in"]


async def test_refresh_lock_waiter_gives_up_after_wait(
    lock_clients: list[aioredis.Redis],
) -> None:
    holder = RedisRefreshLock(lock_clients[0], prefix="app", lease=1.0)
    waiter = RedisRefreshLock(lock_clients[1], prefix="app", lease=1.0, wait=1.5)
    async with holder.hold("session") as held:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            async with waiter.hold("session"):
                pytest.fail("entered a lock a live holder holds")
        assert time.monotonic() - started < 5.0
        assert (await lock_clients[0].get(LOCK_KEY) or b"").startswith(held.owner.encode())


async def test_refresh_lock_is_released_as_soon_as_a_restarted_redis_is_back(
    persistent_redis: RedisPeer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis died while the lock was held, so the holder could not release it, and the lock
    comes back from the append-only file: the holder releases it as soon as Redis is back, so
    the next instance waits neither for a lease nor for the key's TTL."""
    clients = [redis_client(persistent_redis.url) for _ in range(2)]
    holder = RedisRefreshLock(clients[0], prefix="app")
    waiter = RedisRefreshLock(clients[1], prefix="app")
    try:
        async with holder.hold("session"):
            persistent_redis.crash()
        assert holder.pending == 1  # the release, retried in the background
        await persistent_redis.start_async()
        started = time.monotonic()
        async with waiter.hold("session"):
            waited = time.monotonic() - started
        assert waited < LOCK_LEASE  # released by its holder, not taken over
        assert "took over" not in caplog.text
        await wait_for(lambda: holder.pending == 0, 5, "the background release to end")
    finally:
        for lock in (holder, waiter):
            await lock.aclose()
        for client in clients:
            await client.aclose()


async def test_a_result_that_could_not_be_written_keeps_the_lock_until_it_is(
    lock_clients: list[aioredis.Redis],
) -> None:
    """``HeldLock.write``: when the immediate write fails (Redis unavailable), the result is
    written in the background until it succeeds, and the lock is held until then (so no other
    instance refreshes with the spent token meanwhile); ``done`` runs after the write."""
    lock = RedisRefreshLock(lock_clients[0], prefix="app", lease=0.3)
    back, attempts, done = asyncio.Event(), [0], []

    async def now() -> None:
        raise RedisConnectionError("Redis is down")

    async def later() -> None:
        attempts[0] += 1
        if not back.is_set():
            raise RedisConnectionError("still down")

    async with lock.hold("session") as held:
        await held.write(now(), later=later, done=lambda: done.append("written"))
    assert held.handed_over
    await wait_for(lambda: attempts[0] >= 2, 5, "attempts to write")
    await asyncio.sleep(0.5)  # more than a lease: still renewed by its holder
    assert done == []
    assert (await lock_clients[1].get(LOCK_KEY) or b"").startswith(held.owner.encode())
    back.set()
    await wait_for(lambda: done == ["written"], 5, "the write")
    await wait_for(lambda: lock.pending == 0, 5, "the release")
    assert await lock_clients[1].exists(LOCK_KEY) == 0


async def test_a_failed_write_that_is_not_an_outage_releases_the_lock(
    lock_clients: list[aioredis.Redis],
) -> None:
    lock = RedisRefreshLock(lock_clients[0], prefix="app")
    done: list[str] = []

    async def now() -> None:
        raise ReauthenticationRequired()  # the session was deleted meanwhile (a logout)

    async def later() -> None:
        pytest.fail("no write later: the session is gone")

    with pytest.raises(ReauthenticationRequired):
        async with lock.hold("session") as held:
            await held.write(now(), later=later, done=lambda: done.append("done"))
    assert done == ["done"] and not held.handed_over
    assert await lock_clients[0].exists(LOCK_KEY) == 0
    assert lock.pending == 0


# ---- writing refreshed tokens later ------------------------------------------------------------


async def test_replace_tokens_writes_only_over_the_tokens_they_replace(
    redis_client_app: Client, redis_server: RedisPeer
) -> None:
    assert (await login_flow(redis_client_app)).status == 303
    session_id = session_cookie(redis_client_app)
    assert session_id is not None
    storage = find_login(redis_client_app.app).storage
    assert isinstance(storage, RedisStorage)
    before = stored(redis_server, session_id)
    assert before is not None
    spent = before["session"]["oauth"]["t"]["fake"]["r"]
    fresh = {"a": "new-access", "r": "new-refresh", "x": int(time.time()) + 600}
    with redis_server.client() as r:
        ttl = int(str(r.ttl(session_key(session_id))))

    # someone else's tokens: left alone
    assert not await replace_tokens(storage, session_id, "fake", "another-token", fresh)
    assert stored(redis_server, session_id) == before
    # over the spent ones: written, nothing else of the session changes, the TTL stays
    assert await replace_tokens(storage, session_id, "fake", spent, fresh)
    after = stored(redis_server, session_id)
    assert after is not None and after["session"]["oauth"]["t"]["fake"] == fresh
    after["session"]["oauth"]["t"]["fake"] = before["session"]["oauth"]["t"]["fake"]
    assert after == before
    with redis_server.client() as r:
        assert 0 < int(str(r.ttl(session_key(session_id)))) <= ttl
    # again (a retry after a lost reply): already there
    assert await replace_tokens(storage, session_id, "fake", spent, fresh)
    # a deleted session (a logout meanwhile) is not brought back
    with redis_server.client() as r:
        r.delete(session_key(session_id))
    assert not await replace_tokens(storage, session_id, "fake", spent, fresh)
    assert await read(storage, session_id) is None
    assert keys(redis_server) == set()


# ---- clients passed in -------------------------------------------------------------------------


async def test_client_warnings_name_what_a_client_lacks() -> None:
    ours = redis_client("redis://127.0.0.1:9/0")
    bare = aioredis.Redis.from_url("redis://127.0.0.1:9/0")
    default = aioredis.Redis(host="127.0.0.1", port=9)
    try:
        assert client_warnings(ours) == []
        assert any("reconnect" in w for w in client_warnings(bare))
        assert any("retries timeouts" in w for w in client_warnings(default))
    finally:
        for client in (ours, bare, default):
            await client.aclose()


async def test_a_storage_client_without_reconnect_is_reported_at_setup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = web.Application()
    bare = aioredis.Redis.from_url("redis://127.0.0.1:9/0")  # never connects
    try:
        setup_oauth(app, providers=[offline_provider()], storage=RedisStorage(bare), secret_key=KEY)
    finally:
        await bare.aclose()
    assert "does not reconnect" in caplog.text and "redis_client(url)" in caplog.text


# ---- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redis_url", "also"),
    [
        ("http://x", None),
        ("127.0.0.1:6379", None),
        ("redis://127.0.0.1:9/0", "storage"),
    ],
    ids=["http-scheme", "no-scheme", "with-storage"],
)
async def test_redis_url_misconfiguration_is_refused(redis_url: str, also: str | None) -> None:
    app = web.Application()
    unused = aioredis.Redis.from_url("redis://127.0.0.1:9/0")  # never connects
    options: dict[str, Any] = {}
    if also == "secret_key":
        options["secret_key"] = KEY
    elif also == "storage":
        options["storage"] = RedisStorage(unused)
    try:
        with pytest.raises(ConfigurationError, match="redis_url"):
            setup_oauth(app, providers=[offline_provider()], redis_url=redis_url, **options)
    finally:
        await unused.aclose()
    assert app.middlewares == [] and list(app.cleanup_ctx) == []  # the app was not touched


async def test_storage_accepts_aiohttp_sessions_own_redis_storage(
    make_client: MakeClient,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    """``storage=RedisStorage(...)``: the same guarantees as ``redis_url=``."""
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        client = await make_client(storage=RedisStorage(redis, cookie_name=COOKIE), secret_key=KEY)
        assert find_login(client.app).backend.refresh_lock is not None
        assert (await login_flow(client)).status == 303
        session_id = session_cookie(client)
        assert session_id is not None and keys(redis_server) == {session_key(session_id)}
        assert (await (await client.get("/private", headers=JSON)).json())["id"] == "alice"
        origin = {"Origin": str(client.make_url("/").origin())}
        resp = await client.post("/auth/logout", headers=origin, allow_redirects=False)
        assert resp.status == 303
        answer = await fetch(replayer, client.make_url("/"), session_id=session_id)
        assert answer.json()["user"] is None
        assert keys(redis_server) == set()  # logout deleted the server-side session
    finally:
        await redis.aclose()


# ---- a save never puts back tokens refreshed meanwhile -----------------------------------------


@dataclass
class Instance:
    """An in-process app instance on the shared Redis; ``/held`` reads the session (an activity
    update when due; with ``?refresh=1`` also a refresh of its own), sets ``loaded`` and waits
    for ``gate`` before answering, so its save comes after whatever the test does meanwhile."""

    client: Client
    loaded: asyncio.Event
    gate: asyncio.Event


async def instance(aiohttp_client: Any, fake: FakeProvider, redis: RedisPeer) -> Instance:
    loaded, gate = asyncio.Event(), asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        user = await get_user(request)
        if request.query.get("refresh"):
            await (await get_client(request)).fresh_token()
        loaded.set()
        await gate.wait()
        return web.json_response({"user": None if user is None else user.id})

    @login_required
    async def api(request: web.Request) -> web.Response:
        async with (await get_client(request)).get("api/me") as resp:
            return web.json_response({"status": resp.status})

    app = build_app([oidc_provider_for(fake)], **redis_setup(redis.url))
    app.router.add_get("/held", held)
    app.router.add_get("/api", api)
    return Instance(await aiohttp_client(app), loaded, gate)


def due_for_activity_update(peer: RedisPeer, session_id: str, *, expired: bool) -> None:
    """The last activity was two minutes ago (the next request rewrites the session), and with
    ``expired`` the access token expired a moment ago (the next API call refreshes first)."""
    now = int(time.time())

    def edit(oauth: dict[str, Any]) -> None:
        oauth["la"] = now - 120
        if expired:
            oauth["t"]["fake"]["x"] = now - 5

    edit_stored(peer, session_id, edit)


def saved_cookie(answer: Answer) -> str | None:
    """The session cookie value a response set (``""`` when it deleted it)."""
    for header in answer.set_cookie:
        if header.startswith(f"{COOKIE}="):
            return header.split(";", 1)[0].split("=", 1)[1].strip('"')
    return None


async def test_a_save_never_puts_back_tokens_another_instance_refreshed_meanwhile(
    aiohttp_client: Any,
    fake: FakeProvider,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    """R reads the session (old tokens) and is due for its activity update; meanwhile A
    refreshes (the provider rotates the refresh token). R's save must not write the old tokens
    back: the next refresh would present the spent token and the provider revoke the grant."""
    a = await instance(aiohttp_client, fake, redis_server)
    b = await instance(aiohttp_client, fake, redis_server)
    assert (await login_flow(a.client)).status == 303
    session_id = session_cookie(a.client)
    assert session_id is not None
    old = stored_tokens(redis_server, session_id)
    due_for_activity_update(redis_server, session_id, expired=True)

    request_r = asyncio.ensure_future(
        fetch(replayer, b.client.make_url("/held"), session_id=session_id)
    )
    await asyncio.wait_for(b.loaded.wait(), 10)  # R holds the old tokens
    answer = await fetch(replayer, a.client.make_url("/api"), session_id=session_id)
    assert answer.status == 200 and answer.json() == {"status": 200}, answer.text
    fresh = stored_tokens(redis_server, session_id)
    assert fresh["r"] != old["r"] and presented(fake) == [old["r"]]

    b.gate.set()
    answer = await request_r
    assert answer.status == 200 and answer.json() == {"user": "alice"}, answer.text
    assert saved_cookie(answer) == session_id  # R did save (its activity update)
    assert stored_tokens(redis_server, session_id) == fresh  # not R's old copy

    expire_in_redis(redis_server, session_id)  # the next refresh, on either instance
    answer = await fetch(replayer, b.client.make_url("/api"), session_id=session_id)
    assert answer.status == 200 and answer.json() == {"status": 200}, answer.text
    assert presented(fake) == [old["r"], fresh["r"]]  # the spent token never came back
    assert fake.active_refresh_tokens() == {stored_tokens(redis_server, session_id)["r"]}


async def test_a_request_that_refreshed_writes_its_tokens_but_never_over_newer_ones(
    aiohttp_client: Any,
    fake: FakeProvider,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    """R refreshes itself: its new tokens reach Redis. When another instance refreshes those
    again before R's response is saved, R's save keeps the newest ones (R's are spent)."""
    a = await instance(aiohttp_client, fake, redis_server)
    b = await instance(aiohttp_client, fake, redis_server)
    assert (await login_flow(a.client)).status == 303
    session_id = session_cookie(a.client)
    assert session_id is not None
    old = stored_tokens(redis_server, session_id)
    due_for_activity_update(redis_server, session_id, expired=True)

    request_r = asyncio.ensure_future(
        fetch(replayer, b.client.make_url("/held?refresh=1"), session_id=session_id)
    )
    await asyncio.wait_for(b.loaded.wait(), 10)  # R refreshed and wrote its tokens
    mine = stored_tokens(redis_server, session_id)
    assert mine["r"] != old["r"] and presented(fake) == [old["r"]]
    expire_in_redis(redis_server, session_id)  # A refreshes R's tokens again
    answer = await fetch(replayer, a.client.make_url("/api"), session_id=session_id)
    assert answer.status == 200 and answer.json() == {"status": 200}, answer.text
    newest = stored_tokens(redis_server, session_id)
    assert newest["r"] != mine["r"] and presented(fake) == [old["r"], mine["r"]]

    b.gate.set()
    answer = await request_r
    assert answer.status == 200 and saved_cookie(answer) == session_id, answer.text
    assert stored_tokens(redis_server, session_id) == newest

    expire_in_redis(redis_server, session_id)
    answer = await fetch(replayer, b.client.make_url("/api"), session_id=session_id)
    assert answer.status == 200 and answer.json() == {"status": 200}, answer.text
    assert presented(fake) == [old["r"], mine["r"], newest["r"]]
    assert fake.active_refresh_tokens() == {stored_tokens(redis_server, session_id)["r"]}


async def test_a_save_writes_the_requests_own_new_tokens_over_an_unrelated_change(
    redis_client_app: Client, redis_server: RedisPeer
) -> None:
    """The stored session changed meanwhile, but not its tokens: the request's own new tokens
    (a refresh whose immediate write failed) are written, the TTL logic unchanged."""
    assert (await login_flow(redis_client_app)).status == 303
    session_id = session_cookie(redis_client_app)
    assert session_id is not None
    storage = find_login(redis_client_app.app).storage
    cookie = {"Cookie": f"{COOKIE}={session_id}"}
    mine = await storage.load_session(make_mocked_request("GET", "/", headers=cookie))
    other = await storage.load_session(make_mocked_request("GET", "/", headers=cookie))
    other["cart"] = "3 apples"  # another request writes the session (the same old tokens)
    await storage.save_session(make_mocked_request("GET", "/"), web.Response(), other)
    fresh = {"a": "new-access", "r": "new-refresh", "x": int(time.time()) + 600}
    mine["oauth"] = {**mine["oauth"], "t": {"fake": fresh}}  # as the refresh stores them
    response = web.Response()
    await storage.save_session(make_mocked_request("GET", "/"), response, mine)
    assert response.cookies[COOKIE].value == session_id
    assert stored_tokens(redis_server, session_id) == fresh
    with redis_server.client() as r:
        assert LIFETIME - 5 <= int(str(r.ttl(session_key(session_id)))) <= LIFETIME


async def test_a_session_logged_out_meanwhile_is_not_brought_back_by_a_save(
    aiohttp_client: Any,
    fake: FakeProvider,
    redis_server: RedisPeer,
    replayer: aiohttp.ClientSession,
) -> None:
    a = await instance(aiohttp_client, fake, redis_server)
    b = await instance(aiohttp_client, fake, redis_server)
    assert (await login_flow(a.client)).status == 303
    session_id = session_cookie(a.client)
    assert session_id is not None
    due_for_activity_update(redis_server, session_id, expired=False)

    request_r = asyncio.ensure_future(
        fetch(replayer, b.client.make_url("/held"), session_id=session_id)
    )
    await asyncio.wait_for(b.loaded.wait(), 10)
    origin = {**JSON, "Origin": str(a.client.make_url("/").origin())}
    logout = a.client.make_url("/auth/logout")
    answer = await fetch(replayer, logout, method="POST", headers=origin, session_id=session_id)
    assert answer.status == 303, answer.text
    assert keys(redis_server) == set()

    b.gate.set()
    answer = await request_r
    assert answer.status == 200 and saved_cookie(answer) == "", answer.text
    assert keys(redis_server) == set()  # not brought back
    for instance_ in (a, b):
        home = instance_.client.make_url("/")
        assert (await fetch(replayer, home, session_id=session_id)).json()["user"] is None
