"""Redis Cluster sessions (#13): a real 3-master cluster on loopback, sessions spread over slots.

The cluster is started by the test (``tests/support/redis_cluster.py``): three
``redis-server --cluster-enabled yes`` joined by ``redis-cli --cluster create``. Login, the
protected route, the batched login check (``MGET`` per slot), ``replace_tokens``
(``WATCH``/``MULTI`` on one key), the refresh lock, one refresh across two processes, logout,
and an outage (a 503, never a 500).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest
from redis.cluster import RedisCluster as SyncCluster

from aiohttp_oauth2_login import ConfigurationError
from aiohttp_oauth2_login._sessions.redis import RedisRefreshLock, read, replace_tokens
from aiohttp_oauth2_login._sessions.redis.client import _Cluster
from aiohttp_oauth2_login.testing import FakeProvider, find_login, login_flow

from ..support.app import JSON, MakeClient
from ..support.redis_cluster import RedisCluster3, running_cluster
from ..support.redis_peer import SESSION_ID, assert_clear_503, fetch, session_key
from ..support.session import session_cookie
from .test_redis_scaleout import (  # noqa: F401 - fixtures
    Launch,
    browser,
    browser_session_id,
    launch,
    sign_in,
)

SESSIONS = 24  # real logins; 24 random ids land on one of 3 masters with p = 3 * (1/3)^24


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster3]:
    yield from running_cluster(tmp_path_factory)


def cluster_client(cluster: RedisCluster3) -> SyncCluster:
    node = cluster.nodes[0]
    return SyncCluster(host="127.0.0.1", port=node.port, decode_responses=True)


def expire_tokens(cluster: RedisCluster3, session_id: str) -> None:
    """The stored access token expired a moment ago: the next API call refreshes first."""
    with cluster_client(cluster) as r:
        key = session_key(session_id)
        data = json.loads(str(r.get(key)))
        data["session"]["oauth"]["t"]["fake"]["x"] = int(time.time()) - 5
        r.set(key, json.dumps(data), keepttl=True)


async def test_setup_builds_a_cluster_client_and_refuses_a_malformed_url(
    make_client: MakeClient, cluster: RedisCluster3
) -> None:
    for spelling in ("redis+cluster://", "redis-cluster://"):
        url = cluster.url.replace("redis+cluster://", spelling)
        client = await make_client(redis_url=url)
        assert isinstance(find_login(client.app).backend.storage.redis, _Cluster)  # type: ignore[attr-defined]
    bad = {
        "redis+cluster://:hunter2@127.0.0.1:7000/3": "only database 0",
        "redis+cluster://:hunter2@127.0.0.1:70000": "a port is not a number",
        "redis+cluster://:hunter2@,127.0.0.1": "a host is empty",
        "redis+cluster://:hunter2@h?nonsense=1": "does not know",
        "redis+cluster://:hunter2@h?sentinel_password=x": "only apply to a Sentinel URL",
    }
    for url, fix in bad.items():
        with pytest.raises(ConfigurationError) as info:
            await make_client(redis_url=url)
        assert fix in str(info.value)
        assert "hunter2" not in str(info.value)  # the password is never repeated


async def test_sessions_spread_over_the_masters_and_the_batched_check_reads_every_slot(
    make_client: MakeClient,
    cluster: RedisCluster3,
    replayer: aiohttp.ClientSession,
) -> None:
    client = await make_client(redis_url=cluster.url)
    ids = []
    for _ in range(SESSIONS):
        assert (await login_flow(client)).status == 303
        session_id = session_cookie(client)
        assert session_id is not None and SESSION_ID.fullmatch(session_id)
        ids.append(session_id)
        client.session.cookie_jar.clear()
    per_node = cluster.keys_per_node()
    assert set().union(*per_node.values()) == {session_key(i) for i in ids}
    assert sum(1 for held in per_node.values() if held) >= 2, per_node  # spread over masters

    # one event-loop pass of checks: one MGET per slot (mget_nonatomic), each its own answer
    answers = await asyncio.gather(
        *(fetch(replayer, client.make_url("/private"), session_id=i) for i in ids)
    )
    assert [a.status for a in answers] == [200] * SESSIONS
    assert {a.json()["id"] for a in answers} == {"alice"}
    bogus = "0" * 32
    answer = await fetch(replayer, client.make_url("/private"), session_id=bogus)
    assert answer.status == 401


async def test_replace_tokens_and_the_refresh_lock_on_keys_in_different_slots(
    make_client: MakeClient, cluster: RedisCluster3
) -> None:
    client = await make_client(redis_url=cluster.url)
    backend = find_login(client.app).backend
    storage = backend.storage
    ids = []
    for _ in range(4):
        assert (await login_flow(client)).status == 303
        ids.append(str(session_cookie(client)))
        client.session.cookie_jar.clear()
    with cluster_client(cluster) as r:
        slots = {r.keyslot(session_key(i)) for i in ids}
    assert len(slots) == 4  # four sessions, four slots (a collision has p < 1e-3)
    for session_id in ids:
        data = await read(storage, session_id)  # type: ignore[arg-type]
        assert data is not None
        spent = data["session"]["oauth"]["t"]["fake"]["r"]
        fresh = {**data["session"]["oauth"]["t"]["fake"], "r": f"new-{session_id}"}
        assert await replace_tokens(storage, session_id, "fake", spent, fresh)  # type: ignore[arg-type]
        assert not await replace_tokens(storage, session_id, "fake", spent, {**fresh, "r": "x"})  # type: ignore[arg-type]
        stored = await read(storage, session_id)  # type: ignore[arg-type]
        assert stored is not None and stored["session"]["oauth"]["t"]["fake"]["r"] == fresh["r"]

    lock = backend.refresh_lock
    assert isinstance(lock, RedisRefreshLock)
    inside: dict[str, int] = {}
    most: dict[str, int] = {}

    async def holder(name: str) -> None:
        async with lock.hold(name):
            inside[name] = inside.get(name, 0) + 1
            most[name] = max(most.get(name, 0), inside[name])
            await asyncio.sleep(0.05)  # work done while holding; the other waits for release
            inside[name] -= 1

    names = [f"{i}:fake" for i in ids[:2]]  # lock keys in two different slots
    await asyncio.gather(*(holder(name) for name in names for _ in range(3)))
    assert most == {name: 1 for name in names}  # one holder per name at a time
    with cluster_client(cluster) as r:
        assert not any(r.keys(f"*:lock:{n}") for n in names)  # released
    await lock.aclose()


async def test_two_processes_on_the_cluster_login_refresh_once_and_logout(
    fake: FakeProvider,
    cluster: RedisCluster3,
    launch: Launch,  # noqa: F811 - the fixture imported above
    browser: aiohttp.ClientSession,  # noqa: F811
    replayer: aiohttp.ClientSession,
) -> None:
    a, b = await launch(fake, cluster, hold_delay=0.3)
    session_id = await sign_in(browser, a)
    for app in (a, b):
        answer = await fetch(replayer, app.url("/private"), session_id=session_id)
        assert answer.status == 200 and answer.json()["id"] == "alice"

    expire_tokens(cluster, session_id)
    targets = [app for _ in range(10) for app in (a, b)]
    answers = await asyncio.gather(
        *(fetch(replayer, app.url("/api"), session_id=session_id) for app in targets)
    )
    assert [answer.status for answer in answers] == [200] * 20, [a.text for a in answers]
    assert fake.calls["refresh"] == 1  # one refresh for 20 racing requests on 2 processes
    assert len(fake.active_refresh_tokens()) == 1  # the grant survived

    async with browser.post(
        b.url("/auth/logout"), headers={"Origin": b.origin}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    assert browser_session_id(browser, a) is None
    assert set().union(*cluster.keys_per_node().values()) == set()
    for app in (a, b):
        answer = await fetch(replayer, app.url("/private"), session_id=session_id)
        assert answer.status == 401


async def test_a_cluster_outage_is_a_503_never_a_500(
    make_client: MakeClient,
    cluster: RedisCluster3,
    replayer: aiohttp.ClientSession,
) -> None:
    client = await make_client(redis_url=cluster.url)
    ids = []
    for _ in range(6):
        assert (await login_flow(client)).status == 303
        ids.append(str(session_cookie(client)))
        client.session.cookie_jar.clear()

    cluster.nodes[0].stop()  # one master gone: its slots are unreachable
    answers = await asyncio.gather(
        *(fetch(replayer, client.make_url("/private"), session_id=i) for i in ids)
    )
    assert {a.status for a in answers} <= {200, 503}, [a.text for a in answers]
    for answer in answers:
        if answer.status == 503:
            assert_clear_503(answer)

    cluster.stop()  # the whole cluster gone
    for session_id in ids[:2]:
        answer = await fetch(replayer, client.make_url("/private"), session_id=session_id)
        assert_clear_503(answer)
    answer = await fetch(replayer, client.make_url("/private"), headers=JSON)
    assert answer.status == 401  # no cookie: nothing to read, no Redis needed
