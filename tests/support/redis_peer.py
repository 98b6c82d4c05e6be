"""A real ``redis-server`` for the Redis session tests, and what those tests read from it.

``RedisPeer`` runs Debian's ``redis-server`` in a temporary directory, either throw-away
(``--save '' --appendonly no``) or persistent (``--appendonly yes --appendfsync always``: every
acknowledged write is on disk, so a ``kill -9`` and a restart lose nothing). It can also crash
(SIGKILL), pause (SIGSTOP: a hung server) and resume. ``running_redis`` is the body of a fixture
that stops it in teardown, also when the test failed; ``redis_server`` and ``persistent_redis``
are those fixtures (tests/conftest.py offers them to every test). A missing ``redis-server``
fails the test (it is never skipped).

Then the plugin's data as Redis holds it (``session_key``, ``stored``, ``edit_stored``, ...),
and ``fetch``: one request that sends exactly the session cookie it is given.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from yarl import URL

from aiohttp_oauth2_login._sessions.redis import key_prefix

from .app import COOKIE, JSON
from .peers import free_port, require_executable, terminate, wait_ready

STARTUP_TIMEOUT = 10.0  # seconds for redis-server to answer PING
LIFETIME = 3600  # the session lifetime of the Redis tests' apps
SESSION_ID = re.compile(r"[0-9a-f]{32}")
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)


def require_redis_server() -> str:
    """The ``redis-server`` executable; a loud failure (never a skip) when it is missing."""
    return require_executable(
        "redis-server",
        "redis-server is missing: the Redis session tests run a real server. Install it with "
        "`make system-deps` (Debian/Ubuntu: apt-get install redis-server) and run the tests "
        "again.",
    )


class RedisPeer:
    """One ``redis-server`` process on 127.0.0.1; restartable on the same port and directory."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis-server.log"
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        cmd = [require_redis_server(), "--bind", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--dir", str(self.directory), "--save", "", "--daemonize", "no"]
        cmd += ["--protected-mode", "yes", "--databases", "1"]
        if self.persistent:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            cmd += ["--appendonly", "no"]
        return cmd

    # ---- life cycle -----------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the process (returns at once; see ``wait_ready``)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("redis-server is already running")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                self.command(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._paused = False

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll PING until the server answers (it answers LOADING while it replays its AOF)."""
        assert self.process is not None
        probe = self.client(timeout=0.5)
        try:
            wait_ready(
                probe.ping,
                errors=(redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError),
                process=self.process,
                timeout=timeout,
                interval=0.02,
                what="redis-server",
                log=self.log_tail,
            )
        finally:
            probe.close()

    def start(self) -> RedisPeer:
        self.launch()
        self.wait_ready()
        return self

    async def start_async(self) -> None:
        """``start`` without blocking the event loop (the fake provider lives in it)."""
        self.launch()
        await asyncio.to_thread(self.wait_ready)

    def stop(self) -> None:
        """SIGTERM (resuming a paused server first), wait, SIGKILL as a last resort."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None and self._paused:
            os.kill(process.pid, signal.SIGCONT)
            self._paused = False
        terminate(process)

    def crash(self) -> None:
        """SIGKILL: no shutdown, no final save; only what reached the AOF survives."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the socket stays open but nothing answers (a hung server)."""
        assert self.process is not None and self.process.poll() is None
        os.kill(self.process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self._paused = False

    # ---- inspection -----------------------------------------------------------------------------

    def client(self, *, timeout: float = 2.0) -> redis.Redis:
        """A synchronous client for looking at keys (strings, not bytes)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def running_redis(
    tmp_path_factory: pytest.TempPathFactory, *, persistent: bool = False
) -> Iterator[RedisPeer]:
    """Body of a fixture: a started ``RedisPeer`` in a fresh temporary directory, stopped by PID
    afterwards (also when the test failed)::

        @pytest.fixture
        def redis_server(tmp_path_factory):
            yield from running_redis(tmp_path_factory)
    """
    peer = RedisPeer(tmp_path_factory.mktemp("redis"), persistent=persistent)
    try:
        yield peer.start()
    finally:
        peer.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPeer]:
    """A throw-away Redis (no persistence) on a free port, stopped after the test."""
    yield from running_redis(tmp_path_factory)


@pytest.fixture
def persistent_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPeer]:
    """A Redis that fsyncs every write to its append-only file: it survives kill -9."""
    yield from running_redis(tmp_path_factory, persistent=True)


# ---- Redis inspection ------------------------------------------------------------------------


def session_key(session_id: str, cookie_name: str = COOKIE, scope: str = "/auth/login") -> str:
    """``<cookie name>:<setup>_<id>``: each setup_oauth has a key namespace of its own."""
    return f"{key_prefix(cookie_name, scope)}_{session_id}"


def stored(peer: RedisPeer, session_id: str) -> dict[str, Any] | None:
    """The session data of ``session_id`` as the plugin wrote it to Redis."""
    with peer.client() as r:
        raw = r.get(session_key(session_id))
    return None if raw is None else json.loads(str(raw))


def stored_tokens(peer: RedisPeer, session_id: str) -> dict[str, Any]:
    data = stored(peer, session_id)
    assert data is not None, "the session is not in Redis"
    tokens: dict[str, Any] = data["session"]["oauth"]["t"]["fake"]
    return tokens


def edit_stored(peer: RedisPeer, session_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change the stored session in place (TTL kept), as if time had passed."""
    key = session_key(session_id)
    with peer.client() as r:
        raw = r.get(key)
        assert raw is not None, "the session is not in Redis"
        data = json.loads(str(raw))
        edit(data["session"]["oauth"])
        r.set(key, json.dumps(data), keepttl=True)


def expire_in_redis(peer: RedisPeer, session_id: str) -> None:
    """The stored access token expired a moment ago: the next API call refreshes first."""

    def edit(oauth: dict[str, Any]) -> None:
        oauth["t"]["fake"]["x"] = int(time.time()) - 5

    edit_stored(peer, session_id, edit)


def keys(peer: RedisPeer) -> set[str]:
    with peer.client() as r:
        return {str(k) for k in r.keys("*")}


# ---- requests that carry exactly one session id ----------------------------------------------


@pytest.fixture
async def replayer() -> AsyncIterator[aiohttp.ClientSession]:
    """A client without a cookie jar: sends exactly the Cookie header it is given."""
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=REQUEST_TIMEOUT) as session:
        yield session


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    set_cookie: list[str]
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text)


async def fetch(
    http: aiohttp.ClientSession,
    url: URL,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    session_id: str | None = None,
) -> Answer:
    """One request, no redirects followed; with ``session_id``, exactly that cookie is sent."""
    sent = dict(headers or JSON)
    if session_id is not None:
        sent["Cookie"] = f"{COOKIE}={session_id}"
    started = time.monotonic()
    async with http.request(method, url, headers=sent, allow_redirects=False) as resp:
        text = await resp.text()
        return Answer(
            status=resp.status,
            headers=dict(resp.headers),
            set_cookie=resp.headers.getall("Set-Cookie", []),
            text=text,
            elapsed=time.monotonic() - started,
        )


def assert_clear_503(answer: Answer, *, html: bool = False) -> None:
    """What the plugin answers while Redis is down: a clear 503, the cookie left alone."""
    assert answer.status == 503, (answer.status, answer.text)
    assert answer.set_cookie == []  # nothing half-written: the cookie is left alone
    assert answer.headers["Cache-Control"] == "no-store"
    if html:
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "temporarily unavailable" in answer.text
    else:
        assert answer.json()["error"] == "temporarily_unavailable"
