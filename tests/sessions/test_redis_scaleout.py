"""Scale-out (#5): several app processes on one Redis, one refresh across them, Redis outages.

Everything runs against a real ``redis-server`` (``tests/support/redis_peer.py``). These tests
start two processes of ``tests/support/scale_app.py`` on ports the OS picks, both pointing at the
fake provider that runs in this test process and at the same Redis; one cookie jar plays the
browser (cookies are per host, not per port, so it serves both instances on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login._sessions.redis import (
    LOCK_LEASE,
)
from aiohttp_oauth2_login.testing import (
    FakeProvider,
)

from ..support.app import COOKIE, HTML, JSON, presented
from ..support.peers import ROOT, terminate, wait_for
from ..support.redis_peer import (
    LIFETIME,
    REQUEST_TIMEOUT,
    SESSION_ID,
    RedisPeer,
    assert_clear_503,
    expire_in_redis,
    fetch,
    keys,
    session_key,
    stored_tokens,
)

SOCKET_TIMEOUT = 2.0  # aiohttp_oauth2_login._sessions.redis.redis_client: socket (connect) timeout
STARTUP_TIMEOUT = 20.0


# ---- app processes ---------------------------------------------------------------------------


@dataclass
class AppProcess:
    """One ``python -m tests.support.scale_app`` process."""

    name: str
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    base: URL | None = None

    def url(self, path: str) -> URL:
        assert self.base is not None
        return self.base.join(URL(path))

    @property
    def origin(self) -> str:
        assert self.base is not None
        return str(self.base.origin())

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            for line in self.out.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    self.base = URL(line.split(" ", 1)[1].strip())
                    return
            if self.process.poll() is not None:
                pytest.fail(
                    f"app {self.name} exited with {self.process.returncode}:\n{self.log()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(f"app {self.name} did not start:\n{self.log()}", pytrace=False)
            await asyncio.sleep(0.02)

    def log(self) -> str:
        return self.err.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        terminate(self.process)


Launch = Callable[..., Awaitable[list[AppProcess]]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """``await launch(fake, redis, names=("A", "B"), hold_delay=0.0)``: app processes, all
    stopped by PID after the test (their logs are printed when one logged a traceback)."""
    started: list[AppProcess] = []

    async def start(
        fake: FakeProvider,
        redis: RedisPeer,
        *,
        names: Iterable[str] = ("A", "B"),
        hold_delay: float = 0.0,
    ) -> list[AppProcess]:
        batch: list[AppProcess] = []
        for name in names:
            out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
            argv = [sys.executable, "-m", "tests.support.scale_app", "--port", "0"]
            argv += ["--redis-url", redis.url, "--issuer", fake.issuer, "--name", name]
            argv += ["--client-id", fake.client_id, "--client-secret", fake.client_secret]
            argv += ["--session-lifetime", str(LIFETIME), "--hold-delay", str(hold_delay)]
            with out.open("wb") as stdout, err.open("wb") as stderr:
                process = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            app = AppProcess(name, process, out, err)
            started.append(app)
            batch.append(app)
        await asyncio.gather(*(app.wait_ready() for app in batch))
        return batch

    try:
        yield start
    finally:
        for app in started:
            app.stop()
        for app in started:
            log = app.log()
            if "Traceback" in log or "Error handling request" in log:
                print(f"---- log of app {app.name} ----\n{log}")


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """The user's browser: one cookie jar for every instance on 127.0.0.1."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=REQUEST_TIMEOUT) as session:
        yield session


def browser_session_id(browser: aiohttp.ClientSession, app: AppProcess) -> str | None:
    morsel = browser.cookie_jar.filter_cookies(app.url("/")).get(COOKIE)
    return None if morsel is None else morsel.value


async def sign_in(browser: aiohttp.ClientSession, app: AppProcess) -> str:
    """The real login through the fake provider (auto-approve); returns the session id."""
    async with browser.get(app.url("/auth/login/fake"), allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        authorize = resp.headers["Location"]
    async with browser.get(authorize, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        callback = URL(resp.headers["Location"])
    assert callback.origin() == app.url("/").origin()  # back to the instance that started it
    async with browser.get(callback, allow_redirects=False, headers=HTML) as resp:
        assert resp.status == 303, await resp.text()
    session_id = browser_session_id(browser, app)
    assert session_id is not None and SESSION_ID.fullmatch(session_id)
    return session_id


async def user_on(http: aiohttp.ClientSession, app: AppProcess, session_id: str) -> Any:
    answer = await fetch(http, app.url("/"), session_id=session_id)
    assert answer.status == 200, answer.text
    return answer.json()["user"]


# ---- several processes: shared sessions, logout everywhere -----------------------------------


async def test_two_processes_share_one_session_and_logout_ends_it_everywhere(
    fake: FakeProvider,
    redis_server: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
) -> None:
    a, b = await launch(fake, redis_server)
    pids = {(await fetch(replayer, app.url("/health"))).json()["pid"] for app in (a, b)}
    assert len(pids) == 2  # two real processes

    session_id = await sign_in(browser, a)
    assert keys(redis_server) == {session_key(session_id)}
    assert await user_on(replayer, b, session_id) == "alice"  # what the replays below send
    for app in (a, b):
        async with browser.get(app.url("/private"), headers=JSON) as resp:
            assert resp.status == 200
            assert (await resp.json())["id"] == "alice"
        async with browser.get(app.url("/api?n=3"), headers=JSON) as resp:
            assert resp.status == 200
            data = await resp.json()
        assert data == {"instance": app.name, "statuses": [200] * 3, "subs": ["alice"] * 3}
    assert fake.calls["api"] == 6
    assert fake.calls["refresh"] == 0

    async with browser.post(
        b.url("/auth/logout"), headers={"Origin": b.origin}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    assert browser_session_id(browser, a) is None  # the jar dropped it for every port
    assert keys(redis_server) == set()  # the server-side session is gone

    for app in (a, b):  # the old cookie, replayed on each instance, is anonymous
        assert await user_on(replayer, app, session_id) is None
        answer = await fetch(replayer, app.url("/private"), session_id=session_id)
        assert answer.status == 401
        assert answer.json()["error"] == "login_required"
        answer = await fetch(replayer, app.url("/api"), session_id=session_id)
        assert answer.status == 401
    assert keys(redis_server) == set()  # replays created nothing
    assert fake.calls["api"] == 6


@pytest.mark.parametrize(
    ("expired_at", "hold_delay"),
    [("session", 0.5), ("provider", 0.0)],
    ids=["expired-in-session+slow-holder", "revoked-at-provider"],
)
async def test_two_processes_times_twenty_racing_requests_refresh_once(
    fake: FakeProvider,
    redis_server: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
    record_property: Callable[[str, object], None],
    expired_at: str,
    hold_delay: float,
) -> None:
    """The same (old) cookie, 20 concurrent requests on each of two processes, an expired
    access token: exactly one refresh at the provider, every request succeeds, the grant
    survives (a rotated refresh token presented twice would revoke it)."""
    a, b = await launch(fake, redis_server, hold_delay=hold_delay)
    session_id = await sign_in(browser, a)
    before = stored_tokens(redis_server, session_id)
    if expired_at == "session":
        expire_in_redis(redis_server, session_id)  # known expired: refresh before the call
    else:
        fake.expire_access_tokens()  # the API answers 401: refresh after it

    targets = [app for _ in range(20) for app in (a, b)]
    answers = await asyncio.gather(
        *(fetch(replayer, app.url("/api"), session_id=session_id) for app in targets)
    )
    refreshes = fake.calls["refresh"]
    locks = {app.name: (await fetch(replayer, app.url("/stats"))).json() for app in (a, b)}
    entered = {name: stats["lock_acquired"] for name, stats in locks.items()}
    print(
        f"\n[scale-out race, {expired_at}] 2 processes x 20 concurrent requests: "
        f"{refreshes} refresh request(s) at the provider; refresh lock entered per process: "
        f"{entered}; statuses: {sorted({answer.status for answer in answers})}"
    )
    record_property("refresh_requests", refreshes)
    record_property("lock_entries", entered)

    assert [answer.status for answer in answers] == [200] * 40, [
        answer.text for answer in answers if answer.status != 200
    ]
    for app, answer in zip(targets, answers, strict=True):
        assert answer.json() == {"instance": app.name, "statuses": [200], "subs": ["alice"]}
    assert refreshes == 1
    active = fake.active_refresh_tokens()
    assert len(active) == 1  # the grant was not revoked
    assert before["r"] not in active  # and the refresh token was rotated
    after = stored_tokens(redis_server, session_id)
    assert after["r"] in active and after["a"] != before["a"]  # written back for everyone
    if hold_delay:
        # both instances raced for the lock; the second re-read the session and used the
        # fresh token instead of refreshing again
        assert sorted(entered.values()) == [1, 1]

    answers = await asyncio.gather(  # the next requests need no refresh at all
        *(fetch(replayer, app.url("/api?n=2"), session_id=session_id) for app in (a, b))
    )
    assert [answer.status for answer in answers] == [200, 200]
    assert fake.calls["refresh"] == 1


async def test_logout_while_another_instance_refreshes_stays_logged_out(
    fake: FakeProvider,
    redis_server: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
) -> None:
    """A request on A is refreshing (slowly) when the user logs out on B, and the provider's
    revocation fails: A must not write the ended session back to Redis."""
    a, b = await launch(fake, redis_server, hold_delay=0.8)
    session_id = await sign_in(browser, a)
    expire_in_redis(redis_server, session_id)
    fake.fail("revoke_500")  # logout completes locally even when revocation fails

    in_flight = asyncio.ensure_future(fetch(replayer, a.url("/api"), session_id=session_id))
    deadline = time.monotonic() + 5
    while (await fetch(replayer, a.url("/stats"))).json()["lock_acquired"] == 0:
        assert time.monotonic() < deadline and not in_flight.done()
        await asyncio.sleep(0.02)
    async with browser.post(
        b.url("/auth/logout"), headers={"Origin": b.origin}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    assert session_key(session_id) not in keys(redis_server)
    await in_flight  # whatever A answers, it must not resurrect the session

    assert session_key(session_id) not in keys(redis_server)
    for app in (a, b):
        assert await user_on(replayer, app, session_id) is None
        assert (await fetch(replayer, app.url("/private"), session_id=session_id)).status == 401


# ---- several processes: Redis crashes, restarts, hangs ---------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request of a ``Load``: when it started and finished (test clock), where, what came."""

    started: float
    finished: float
    instance: str
    path: str
    status: int


@dataclass
class Load:
    """Requests against every instance in a loop.

    A request is classified by the instant it STARTED (before anything of it was sent): one
    that started before Redis answered again may have met Redis down, or a connection the crash
    left behind, and may be a 503; one that started after Redis answered cannot have, so it must
    be answered. (Sorting by the instant a request was recorded, i.e. when it finished, counts
    requests that were in flight across the restart as "after" it.)"""

    seen: list[Sent]
    stop: asyncio.Event
    task: asyncio.Task[None]

    def sent(self, *, since: float = 0.0, instance: str | None = None) -> list[Sent]:
        return [x for x in self.seen if x.started >= since and instance in (None, x.instance)]

    def statuses(self, *, since: float = 0.0, instance: str | None = None) -> list[int]:
        return [x.status for x in self.sent(since=since, instance=instance)]

    def report(self, origin: float) -> str:
        """The requests, times relative to ``origin`` (for a failure message)."""
        return "\n".join(
            f"{x.instance} {x.path:<9} started {x.started - origin:+.3f} s, "
            f"finished {x.finished - origin:+.3f} s: {x.status}"
            for x in sorted(self.seen, key=lambda x: x.started)
            if x.finished >= origin - 1.0
        )


def start_load(http: aiohttp.ClientSession, apps: list[AppProcess], session_id: str) -> Load:
    seen: list[Sent] = []
    stop = asyncio.Event()

    async def one(app: AppProcess, path: str) -> None:
        started = time.monotonic()
        answer = await fetch(http, app.url(path), session_id=session_id)
        seen.append(Sent(started, time.monotonic(), app.name, path, answer.status))

    async def run() -> None:
        while not stop.is_set():
            await asyncio.gather(*(one(app, p) for app in apps for p in ("/private", "/")))
            await asyncio.sleep(0.02)

    return Load(seen, stop, asyncio.ensure_future(run()))


async def test_redis_crash_and_restart_503s_meanwhile_and_loses_no_session(
    fake: FakeProvider,
    persistent_redis: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
) -> None:
    a, b = await launch(fake, persistent_redis)
    session_id = await sign_in(browser, a)  # written by A
    expire_in_redis(persistent_redis, session_id)
    refreshed = await fetch(replayer, b.url("/api"), session_id=session_id)
    assert refreshed.status == 200 and fake.calls["refresh"] == 1  # B wrote fresh tokens
    tokens = stored_tokens(persistent_redis, session_id)

    load = start_load(replayer, [a, b], session_id)
    try:
        await wait_for(lambda: len(load.seen) >= 8, 5, "requests before the crash")
        persistent_redis.crash()  # kill -9
        down = time.monotonic()
        await wait_for(
            lambda: all(load.statuses(since=down, instance=x.name)[2:] for x in (a, b)),
            5,
            "requests while Redis is down",
        )
        for app in (a, b):
            assert (await fetch(replayer, app.url("/health"))).status == 200
            answer = await fetch(replayer, app.url("/private"), session_id=session_id)
            assert_clear_503(answer)
            answer = await fetch(replayer, app.url("/private"), session_id=session_id, headers=HTML)
            assert_clear_503(answer, html=True)
            answer = await fetch(replayer, app.url("/auth/login/fake"), headers=HTML)
            assert answer.status == 302  # a login can start: its transaction is a cookie
            answer = await fetch(
                replayer,
                app.url("/auth/logout"),
                method="POST",
                headers={"Origin": app.origin, **JSON},
                session_id=session_id,
            )
            assert_clear_503(answer)  # no half-done logout
        assert fake.calls["authorize"] == 1 and fake.calls["revoke"] == 0

        await persistent_redis.start_async()  # same port, same append-only file
        up = time.monotonic()  # Redis has answered PING: every request started from now on...
        await wait_for(
            lambda: all(len(load.statuses(since=up, instance=x.name)) >= 6 for x in (a, b)),
            10,
            "service to resume",
        )
    finally:
        load.stop.set()
        await load.task

    statuses = load.statuses()
    assert set(statuses) == {200, 503}, sorted(set(statuses))  # never a 500
    # ...is answered, on every instance, also the first one on each pooled connection the crash
    # left dead (reconnect_once)
    assert set(load.statuses(since=up)) == {200}, load.report(up)
    assert stored_tokens(persistent_redis, session_id) == tokens  # nothing lost
    for app in (a, b):
        assert await user_on(replayer, app, session_id) == "alice"
        answer = await fetch(replayer, app.url("/api"), session_id=session_id)
        assert answer.status == 200 and answer.json()["statuses"] == [200]
    assert fake.calls["refresh"] == 1  # the refreshed tokens survived the crash
    assert browser_session_id(browser, a) == session_id


async def test_hung_redis_gives_503_within_the_socket_timeout(
    fake: FakeProvider,
    redis_server: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
) -> None:
    a, b = await launch(fake, redis_server)
    session_id = await sign_in(browser, a)
    redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
    try:
        health = await asyncio.gather(*(fetch(replayer, x.url("/health")) for x in (a, b)))
        hung = await asyncio.gather(
            *(
                fetch(replayer, x.url(path), session_id=session_id)
                for x in (a, b)
                for path in ("/private", "/", "/api")
            )
        )
    finally:
        redis_server.resume()
    assert [answer.status for answer in health] == [200, 200]
    assert max(answer.elapsed for answer in health) < 1.0  # the instances themselves are fine
    for answer in hung:
        assert_clear_503(answer)
    slowest = max(answer.elapsed for answer in hung)
    print(f"\n[hung redis] slowest 503: {slowest:.2f} s (socket timeout {SOCKET_TIMEOUT} s)")
    # one socket timeout, never two: a timeout is not retried (reconnect_once retries only a
    # dead connection). 1.5 s of slack for a loaded machine is far below a second timeout.
    assert slowest < SOCKET_TIMEOUT + 1.5
    for app in (a, b):  # resumed: the session is still there and works everywhere
        assert await user_on(replayer, app, session_id) == "alice"
    assert fake.calls["api"] == 0


async def test_an_instance_idle_through_a_redis_restart_answers_its_first_requests(
    fake: FakeProvider,
    persistent_redis: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
) -> None:
    """The connections an instance pooled before the crash are dead after it, and redis-py
    hands them out as they are: each is reconnected and its command sent again once
    (``reconnect_once``), so no request after the restart is a 503 for it."""
    a, b = await launch(fake, persistent_redis)
    session_id = await sign_in(browser, a)
    paths = ("/private", "/", "/view") * 3  # several requests at once: several connections
    warm = await asyncio.gather(
        *(fetch(replayer, x.url(p), session_id=session_id) for x in (a, b) for p in paths)
    )
    assert {answer.status for answer in warm} == {200}

    persistent_redis.crash()  # kill -9, and nobody asks anything until it is back
    await persistent_redis.start_async()
    first = await fetch(replayer, a.url("/private"), session_id=session_id)
    assert first.status == 200, first.text
    more = await asyncio.gather(
        *(fetch(replayer, x.url(p), session_id=session_id) for x in (b, a) for p in paths)
    )
    assert [answer.status for answer in more] == [200] * len(more), [x.text for x in more]


class SlowTokenEndpoint(FakeProvider):
    """The fake provider, with refresh grants held at its token endpoint while ``hold`` is on
    (``arrived`` is set once one waits there), so a test can act while a refresh is in flight."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.open = asyncio.Event()
        self.open.set()
        self.arrived = asyncio.Event()

    def hold(self) -> None:
        self.open.clear()
        self.arrived.clear()

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if form.get("grant_type") == "refresh_token" and not self.open.is_set():
            self.arrived.set()
            await self.open.wait()
        return await super()._token(request)


@pytest.fixture
async def slow_fake() -> AsyncIterator[SlowTokenEndpoint]:
    fake = SlowTokenEndpoint(auto_approve=True)
    await fake.start()
    try:
        yield fake
    finally:
        fake.open.set()
        await fake.stop()


def lock_keys(peer: RedisPeer) -> set[str]:
    return {key for key in keys(peer) if ":lock:" in key}


@pytest.mark.parametrize("next_on", ["other instance", "same instance"])
async def test_a_refresh_completed_while_redis_is_down_is_kept_and_written_when_it_is_back(
    slow_fake: SlowTokenEndpoint,
    persistent_redis: RedisPeer,
    launch: Launch,
    browser: aiohttp.ClientSession,
    replayer: aiohttp.ClientSession,
    next_on: str,
) -> None:
    """Redis dies while A's refresh is at the provider, which then rotates the refresh token.
    The new tokens must not be lost: A keeps them (and the lock) and writes them once Redis is
    back. The next request, on either instance, uses them: the old refresh token is never
    presented again (the provider would revoke the grant), and nobody waits for a lock left in
    the append-only file."""
    a, b = await launch(slow_fake, persistent_redis)
    session_id = await sign_in(browser, a)
    spent = stored_tokens(persistent_redis, session_id)["r"]
    expire_in_redis(persistent_redis, session_id)
    slow_fake.hold()
    in_flight = asyncio.ensure_future(fetch(replayer, a.url("/api"), session_id=session_id))
    await asyncio.wait_for(slow_fake.arrived.wait(), 10)  # A holds the lock, `spent` was sent
    assert lock_keys(persistent_redis) != set()
    persistent_redis.crash()  # kill -9: the lock is in the append-only file
    slow_fake.open.set()  # the provider answers: new tokens, `spent` is rotated away
    assert_clear_503(await in_flight)  # the response could not save the session
    (rotated,) = slow_fake.active_refresh_tokens()
    assert rotated != spent

    await persistent_redis.start_async()  # the lock comes back with the sessions
    target = b if next_on == "other instance" else a
    answer = await fetch(replayer, target.url("/api"), session_id=session_id)
    print(f"\n[refresh across a Redis crash] next request on the {next_on}: {answer.elapsed:.2f} s")
    assert answer.status == 200, answer.text
    assert answer.json() == {"instance": target.name, "statuses": [200], "subs": ["alice"]}
    # not held by the lock that came back from the file: its holder released it once it had
    # written the tokens (a lock of a crashed holder would cost one lease)
    assert answer.elapsed < LOCK_LEASE
    assert presented(slow_fake) == [spent]  # one refresh; `spent` never came back
    assert slow_fake.active_refresh_tokens() == {rotated}  # the grant is alive

    await wait_for(
        lambda: stored_tokens(persistent_redis, session_id)["r"] == rotated,
        10,
        "the new tokens in Redis",
    )
    await wait_for(lambda: not lock_keys(persistent_redis), 10, "the lock to be released")
    for app in (a, b):
        answer = await fetch(replayer, app.url("/api"), session_id=session_id)
        assert answer.status == 200 and answer.json()["statuses"] == [200], answer.text
    assert Counter(presented(slow_fake)) == Counter({spent: 1})
    assert slow_fake.active_refresh_tokens() == {rotated}
