"""Refresh coordination: one refresh per refresh token at a time, and a short memory of results.

Ten requests of one browser that find the access token expired share one refresh. Requests that
arrive a moment later still carrying the old cookie get the recent result instead of presenting
a refresh token that rotation has already retired (which providers treat as token theft and
answer by revoking the whole grant). A result that could not be written to the session store
yet (Redis down) is kept until it is: ``keep`` / ``written``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from .._clock import monotonic
from ..tokens import TokenSet

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
        self._unsaved: dict[str, TokenSet] = {}

    def recent(self, refresh_token: str) -> TokenSet | None:
        """The result of a refresh of this token within the last ``RECENT_TTL`` seconds, or
        one not written to the session store yet (however old)."""
        key = _key(refresh_token)
        unsaved = self._unsaved.get(key)
        if unsaved is not None:
            return unsaved
        hit = self._recent.get(key)
        if hit is None or monotonic() - hit[0] >= RECENT_TTL:
            return None
        return hit[1]

    def keep(self, refresh_token: str, result: TokenSet) -> None:
        """Hold ``result`` (the refresh of ``refresh_token``, which the provider may have rotated
        away) until ``written``: until then every request still carrying the old token gets it,
        and the old token is never presented again."""
        self._unsaved[_key(refresh_token)] = result

    def written(self, refresh_token: str) -> None:
        """The result of refreshing ``refresh_token`` is in the session store (or moot)."""
        self._unsaved.pop(_key(refresh_token), None)

    @property
    def unsaved(self) -> int:
        """How many refresh results wait for the session store."""
        return len(self._unsaved)

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
        self._recent[key] = (monotonic(), result)
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_MAX:
            self._recent.popitem(last=False)
        return result
