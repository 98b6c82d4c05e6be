"""Sentinel sessions (#13): a primary, a replica and 3 Sentinels on loopback, a failover mid-load.

Four processes of ``tests/support/scale_app.py`` use ``redis+sentinel://`` and find the primary
through the Sentinels. While a loop of protected requests runs on all four, one Sentinel is told
``SENTINEL FAILOVER``: every answer is a 200 or a 503, and afterwards every session written before
the failover is still signed in on every process. What is guaranteed: Redis replication is
asynchronous, so a session written in the last instant before a failover may be lost; the test
makes sure the replica acknowledged the sessions first (``WAIT 1``) and asserts for those only.
Then one refresh for 4 processes x 10 racing requests, against the new primary.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest
from redis.asyncio.connection import Connection, SSLConnection

from aiohttp_oauth2_login import ConfigurationError
from aiohttp_oauth2_login.redis import redis_client
from aiohttp_oauth2_login.testing import FakeProvider

from ..support.app import MakeClient
from ..support.redis_peer import fetch, session_key
from ..support.redis_sentinel import SentinelGroup, running_sentinels
from .test_redis_scaleout import (  # noqa: F401 - fixtures
    AppProcess,
    Launch,
    browser,
    launch,
    sign_in,
)

SESSIONS = 8


@pytest.fixture
def sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    yield from running_sentinels(tmp_path_factory)


async def test_a_malformed_sentinel_url_names_the_fix_without_the_password(
    make_client: MakeClient,
) -> None:
    bad = {
        "redis+sentinel://:hunter2@127.0.0.1:26379": "the service name",
        "redis+sentinel://:hunter2@127.0.0.1:26379/mymaster/zero": "not a database number",
        "redis+sentinel://:hunter2@127.0.0.1:0/mymaster": "a port is not a number",
        "redis+sentinel://:hunter2@127.0.0.1/mymaster?socket_timeoutt=1": "does not know",
        "sentinel://:hunter2@127.0.0.1/mymaster": "unknown scheme",
    }
    for url, fix in bad.items():
        with pytest.raises(ConfigurationError) as info:
            await make_client(redis_url=url)
        assert fix in str(info.value)
        assert "hunter2" not in str(info.value)


async def test_the_sentinel_url_gives_servers_and_sentinels_their_own_credentials() -> None:
    url = "redis+sentinel://:srv%40pw@127.0.0.1:26380,[::1]/svc/3?sentinel_password=snpw"
    client = redis_client(url)
    try:
        pool = client.connection_pool
        assert pool.service_name == "svc"  # type: ignore[attr-defined]
        assert pool.connection_kwargs["password"] == "srv@pw"
        assert pool.connection_kwargs["db"] == 3
        assert pool.connection_kwargs["socket_timeout"] == 2.0
        sentinels = client.sentinels  # type: ignore[union-attr]
        assert sentinels.sentinel_kwargs["password"] == "snpw"
        hosts = [
            (
                s.connection_pool.connection_kwargs["host"],
                s.connection_pool.connection_kwargs["port"],
            )
            for s in sentinels.sentinels
        ]
        assert hosts == [("127.0.0.1", 26380), ("::1", 26379)]
    finally:
        await client.aclose()


def test_a_rediss_sentinel_url_connects_to_the_primary_over_tls() -> None:
    client = redis_client("rediss+sentinel://127.0.0.1:26380/svc?ssl_cert_reqs=none")
    pool = client.connection_pool
    assert issubclass(pool.connection_class, SSLConnection)
    assert "ssl" not in pool.connection_kwargs  # the class says TLS; no stray keyword for it


async def test_a_pooled_connection_to_a_demoted_primary_is_retried_on_the_primary(
    sentinels: SentinelGroup,
) -> None:
    """After a failover a pooled connection may still reach the former primary, now a replica
    (one whose command redis-py retried when Sentinel cut it): a write there is answered
    READONLY, and the one retry must ask the Sentinels where the primary is rather than
    reconnect to the same address (a 503 long after the failover completed)."""
    client = redis_client(sentinels.url)
    try:
        assert await client.set("test:demoted", "1")
        pool = client.connection_pool
        conn = await pool.get_connection()
        await conn.disconnect()
        conn.host, conn.port = "127.0.0.1", sentinels.replica.port  # the state a failover leaves
        await Connection.connect_check_health(conn)  # connected there, Sentinels not asked
        await pool.release(conn)
        assert await client.set("test:demoted", "2")  # on that connection: READONLY, then retried
        assert (conn.host, conn.port) == ("127.0.0.1", sentinels.primary.port)
    finally:
        await client.aclose()
    with sentinels.primary.client() as r:
        assert r.get("test:demoted") == "2"


async def test_a_sentinel_failover_mid_load_is_200_or_503_and_loses_no_replicated_session(
    fake: FakeProvider,
    sentinels: SentinelGroup,
    launch: Launch,  # noqa: F811 - the fixture imported above
    browser: aiohttp.ClientSession,  # noqa: F811
    replayer: aiohttp.ClientSession,
) -> None:
    apps = await launch(fake, sentinels, names=("A", "B", "C", "D"))
    ids = []
    for i in range(SESSIONS):
        ids.append(await sign_in(browser, apps[i % 4]))
        browser.cookie_jar.clear()
    sentinels.wait_replicated()  # the sessions are on the replica: they survive the failover

    statuses: Counter[int] = Counter()
    after_switch: Counter[int] = Counter()
    switched = asyncio.Event()
    stop = asyncio.Event()

    async def load(app: AppProcess) -> None:
        n = 0
        while not stop.is_set():
            session_id = ids[n % SESSIONS]
            n += 1
            answer = await fetch(replayer, app.url("/private"), session_id=session_id)
            statuses[answer.status] += 1
            if switched.is_set():
                after_switch[answer.status] += 1
            assert answer.status in (200, 503), (answer.status, answer.text)

    loops = [asyncio.ensure_future(load(app)) for app in apps]
    try:
        await wait_until(lambda: statuses[200] >= 40, "load before the failover", loops)
        started = time.monotonic()
        await asyncio.to_thread(sentinels.failover)
        await asyncio.to_thread(sentinels.wait_failed_over)
        failover_s = time.monotonic() - started
        switched.set()
        await wait_until(lambda: after_switch[200] >= 80, "load after the failover", loops)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    print(
        f"\n[sentinel failover] {dict(statuses)} in all, {dict(after_switch)} after the switch; "
        f"failover took {failover_s:.1f} s"
    )
    assert set(statuses) <= {200, 503}

    with sentinels.replica.client() as r:  # the new primary holds every session
        assert all(r.exists(session_key(i)) for i in ids)
    for app in apps:  # and every process finds each of them (no session lost)
        answers = await asyncio.gather(
            *(fetch(replayer, app.url("/private"), session_id=i) for i in ids)
        )
        assert [a.status for a in answers] == [200] * SESSIONS, [a.text for a in answers]

    # one refresh across 4 processes x 10 racing requests, on the new primary
    session_id = ids[0]
    with sentinels.replica.client() as r:
        key = session_key(session_id)
        data = json.loads(str(r.get(key)))
        data["session"]["oauth"]["t"]["fake"]["x"] = int(time.time()) - 5
        r.set(key, json.dumps(data), keepttl=True)
    before = fake.calls["refresh"]
    targets = [app for _ in range(10) for app in apps]
    answers = await asyncio.gather(
        *(fetch(replayer, app.url("/api"), session_id=session_id) for app in targets)
    )
    assert [a.status for a in answers] == [200] * 40, [a.text for a in answers]
    assert fake.calls["refresh"] - before == 1
    assert len(fake.active_refresh_tokens()) == SESSIONS  # no grant revoked


async def wait_until(
    condition: object, what: str, loops: list[asyncio.Future[None]], timeout: float = 60.0
) -> None:
    """Poll ``condition`` while the load runs; a load loop that failed ends the wait at once."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        for loop in loops:
            if loop.done():
                loop.result()  # raises the loop's assertion
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
