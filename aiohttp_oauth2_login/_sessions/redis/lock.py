"""The cross-instance refresh lock: held by a live holder, renewed, released when Redis is back."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from ..._clock import monotonic
from ...errors import ProviderTimeout
from ...log import logger
from .client import OUTAGE_ERRORS, Client

__all__ = ["LOCK_LEASE", "LOCK_TTL", "HeldLock", "RedisRefreshLock"]


#: seconds: a holder renews its lock three times per lease; a waiter that sees no renewal for a
#: whole lease takes the lock over (the holder is gone)
LOCK_LEASE = 5.0
#: seconds a lock key lives in Redis without renewal: only for the locks of crashed holders. Long
#: on purpose, so that a lock survives a Redis restart (AOF) however long the outage lasted:
#: waiters measure the lease on their own clock, never by this TTL
LOCK_TTL = 3600.0
_POLL = 0.05  # seconds between a waiter's attempts
_RETRY_MAX = 0.5  # seconds: longest pause between background attempts while Redis is down

# KEYS[1] the lock; ARGV: our value, TTL (ms), the value of a holder to take over ("" = none).
# 1: acquired (free, or ours already: a retried command), 2: taken over, else the holder's value.
_ACQUIRE = """
local current = redis.call("get", KEYS[1])
if not current or current == ARGV[1] then
    redis.call("set", KEYS[1], ARGV[1], "px", ARGV[2])
    return 1
end
if ARGV[3] ~= "" and current == ARGV[3] then
    redis.call("set", KEYS[1], ARGV[1], "px", ARGV[2])
    return 2
end
return current
"""
# KEYS[1] the lock; ARGV: the holder's prefix, its next value, TTL (ms). 1: renewed, 0: lost.
_RENEW = """
local current = redis.call("get", KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then
    redis.call("set", KEYS[1], ARGV[2], "px", ARGV[3])
    return 1
end
return 0
"""
# KEYS[1] the lock; ARGV[1] the holder's prefix: deleted only by its holder.
_RELEASE = """
local current = redis.call("get", KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class RedisRefreshLock:
    """One refresh per session across instances: a lock in Redis, held by a live holder.

    The holder renews the lock (a new value) every ``lease / 3`` seconds while it holds it; a
    waiter that sees the same value for a whole ``lease`` on its own clock takes the lock over,
    so a crashed holder costs the others at most one lease, and a Redis restart (the lock comes
    back from the AOF) costs nothing while the holder lives: it releases as soon as Redis is
    back. A holder whose refreshed tokens could not be written (Redis down) keeps the lock until
    they are written (``HeldLock.write``): no instance presents the refresh token the provider
    has just rotated away. Waiters give up after ``wait`` seconds (``ProviderTimeout``).
    Release is atomic and only by the holder (Lua)."""

    def __init__(
        self,
        redis: Client,
        *,
        prefix: str,
        lease: float = LOCK_LEASE,
        wait: float = 15.0,
        ttl: float = LOCK_TTL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease = lease
        self.wait = wait
        self.ttl = ttl
        self._tasks: set[asyncio.Task[None]] = set()
        self._unwritten = 0  # refresh results waiting for Redis

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[HeldLock]:
        """Hold the lock ``name``; waits (polling) while another instance holds it."""
        held = HeldLock(self, f"{self.prefix}:lock:{name}")
        await self._acquire(held)
        held.start()
        try:
            yield held
        finally:
            if not held.handed_over:
                await held.release()

    async def _acquire(self, held: HeldLock) -> None:
        started = monotonic()
        seen: bytes | str = ""  # the holder's value, as last seen
        seen_at = started
        while True:
            stale = seen if monotonic() - seen_at >= self.lease else ""
            got = await self.redis.eval(_ACQUIRE, 1, held.key, held.value, self._ttl_ms, stale)
            if got == 2:
                logger.warning("took over a refresh lock not renewed for %g s", self.lease)
            if got in (1, 2):
                return
            now = monotonic()
            if got != seen and isinstance(got, bytes | str):
                seen, seen_at = got, now
            if now - started >= self.wait:
                logger.warning("refresh lock still held after %.0f s", self.wait)
                raise ProviderTimeout()
            await asyncio.sleep(_POLL)

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        """Background jobs still running: writes waiting for Redis, renewals, releases."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Stop the background jobs (application shutdown)."""
        if self._unwritten:
            logger.error(
                "%d refreshed token set(s) could not be written: Redis was unavailable until "
                "shutdown (those sessions must sign in again)",
                self._unwritten,
            )
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class HeldLock:
    """A held ``RedisRefreshLock``: renewed in the background until released."""

    def __init__(self, lock: RedisRefreshLock, key: str) -> None:
        self.lock = lock
        self.key = key
        self.owner = secrets.token_hex(16) + "."  # the prefix of every value this holder writes
        self.value = self.owner + "0"
        self.handed_over = False
        self._renewal: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Renew the lock every ``lease / 3`` seconds until it is released."""
        self._renewal = self.lock._spawn(self._renew())

    async def _renew(self) -> None:
        lock, count = self.lock, 0
        while True:
            await asyncio.sleep(lock.lease / 3)
            count += 1
            try:
                kept = await lock.redis.eval(
                    _RENEW, 1, self.key, self.owner, f"{self.owner}{count}", lock._ttl_ms
                )
            except OUTAGE_ERRORS:
                continue  # Redis is down: the lock is renewed again when it is back
            if not kept:
                logger.warning("a refresh lock was taken over from its live holder")
                return

    async def write(
        self,
        now: Awaitable[object],
        *,
        later: Callable[[], Awaitable[object]],
        done: Callable[[], None],
    ) -> None:
        """Write a refresh result: ``now`` at once; if the session store is unavailable, keep
        the lock and run ``later`` in the background until it succeeds, then release the lock.
        ``done`` runs once the result is written (or the attempt ended otherwise)."""
        try:
            await now
        except OUTAGE_ERRORS as exc:
            logger.warning(
                "session store unavailable (%s): refreshed tokens are kept in memory and "
                "written when it is back",
                type(exc).__name__,
            )
            self.handed_over = True
            self.lock._spawn(self._write_later(later, done))
            return
        except BaseException:
            done()
            raise
        done()

    async def _write_later(
        self, later: Callable[[], Awaitable[object]], done: Callable[[], None]
    ) -> None:
        lock = self.lock
        lock._unwritten += 1
        try:
            try:
                if await _until_done(later, lock.ttl, "write the refreshed tokens"):
                    logger.info("refreshed tokens written after the session store came back")
            except Exception as exc:  # noqa: BLE001 - whatever it was, the lock is released
                logger.error("could not write the refreshed tokens: %s", type(exc).__name__)
            await self.release()
        finally:
            lock._unwritten -= 1
            done()

    async def release(self) -> None:
        """Stop renewing and delete the lock (if still ours); retried in the background while
        Redis is unavailable, so that a Redis restart does not bring back a stale lock."""
        if self._renewal is not None:
            self._renewal.cancel()
        try:
            await self._release()
        except OUTAGE_ERRORS:
            logger.warning("could not release the refresh lock; retrying in the background")
            self.lock._spawn(self._release_later())

    async def _release(self) -> None:
        await self.lock.redis.eval(_RELEASE, 1, self.key, self.owner)

    async def _release_later(self) -> None:
        await _until_done(self._release, self.lock.ttl, "release the refresh lock")


async def _until_done(job: Callable[[], Awaitable[object]], limit: float, what: str) -> bool:
    """Run ``job`` until it no longer fails with a Redis error (short pauses, at most ``limit``
    seconds in all); whether it succeeded."""
    deadline = monotonic() + limit
    pause = _POLL
    while True:
        try:
            await job()
            return True
        except OUTAGE_ERRORS as exc:
            if monotonic() >= deadline:
                logger.error("could not %s within %.0f s: %s", what, limit, type(exc).__name__)
                return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, _RETRY_MAX)
