"""A real ``redis-server`` for the scale-out tests: started on a free loopback port, stopped by PID.

``RedisPeer`` runs Debian's ``redis-server`` in a temporary directory, either throw-away
(``--save '' --appendonly no``) or persistent (``--appendonly yes --appendfsync always``: every
acknowledged write is on disk, so a ``kill -9`` and a restart lose nothing). It can also crash
(SIGKILL), pause (SIGSTOP: a hung server) and resume. ``running_redis`` is the body of a fixture
that stops it in teardown, also when the test failed. A missing ``redis-server`` fails the test
(it is never skipped).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

__all__ = ["RedisPeer", "free_port", "require_redis_server", "running_redis"]

STARTUP_TIMEOUT = 10.0  # seconds for redis-server to answer PING


def require_redis_server() -> str:
    """The ``redis-server`` executable; a loud failure (never a skip) when it is missing."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail(
            "redis-server is missing: the Redis session tests run a real server. Install it with "
            "`make system-deps` (Debian/Ubuntu: apt-get install redis-server) and run the tests "
            "again.",
            pytrace=False,
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS just handed out (and we released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
        deadline = time.monotonic() + timeout
        probe = self.client(timeout=0.5)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(
                        f"redis-server exited with {self.process.returncode}:\n{self.log_tail()}",
                        pytrace=False,
                    )
                try:
                    if probe.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"redis-server did not answer PING within {timeout:.0f} s:\n"
                        f"{self.log_tail()}",
                        pytrace=False,
                    )
                time.sleep(0.02)
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
        if process.poll() is None:
            if self._paused:
                os.kill(process.pid, signal.SIGCONT)
                self._paused = False
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

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
