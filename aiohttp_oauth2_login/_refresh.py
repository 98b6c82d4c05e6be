"""Refresh coordination: one refresh per refresh token at a time, and a short memory of results.

Ten requests of one browser that find the access token expired share one refresh. Requests that
arrive a moment later still carrying the old cookie get the recent result instead of presenting
a refresh token that rotation has already retired (which providers treat as token theft and
answer by revoking the whole grant).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from .tokens import TokenSet

__all__ = ["RefreshCoordinator"]

RECENT_TTL = 60.0  # seconds a refresh result is reused for late requests with the old token
RECENT_MAX = 10_000  # bound on remembered results (memory stays flat under any load)


def _key(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class RefreshCoordinator:
    """Process-wide single flight of refreshes, keyed by (a hash of) the refresh token."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[TokenSet]] = {}
        self._recent: OrderedDict[str, tuple[float, TokenSet]] = OrderedDict()

    def recent(self, refresh_token: str) -> TokenSet | None:
        """The result of a refresh of this token within the last ``RECENT_TTL`` seconds."""
        hit = self._recent.get(_key(refresh_token))
        if hit is None or time.monotonic() - hit[0] >= RECENT_TTL:
            return None
        return hit[1]

    async def refresh(self, refresh_token: str, job: Callable[[], Awaitable[TokenSet]]) -> TokenSet:
        """Run ``job`` unless a refresh of this token is running or just finished; share it."""
        recent = self.recent(refresh_token)
        if recent is not None:
            return recent
        key = _key(refresh_token)
        running = self._running.get(key)
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            running = asyncio.ensure_future(self._run(key, job))
            self._running[key] = running
        return await asyncio.shield(running)

    async def _run(self, key: str, job: Callable[[], Awaitable[TokenSet]]) -> TokenSet:
        try:
            result = await job()
        finally:
            self._running.pop(key, None)
        self._recent[key] = (time.monotonic(), result)
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_MAX:
            self._recent.popitem(last=False)
        return result
