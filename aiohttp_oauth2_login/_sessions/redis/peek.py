"""The cheap login check for Redis sessions: batched reads and the last parse reused."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import aiohttp_session
from aiohttp import web
from redis.asyncio.cluster import RedisCluster

from ...config import OAuthConfig
from ..peek import (
    SLOW,
    Entry,
    PeekResult,
    Slow,
    check_entry,
    entry_from_payload,
    in_charge,
)
from ..schema import AUTH_KEY
from .client import Client
from .storage import RedisSessionStorage, _key

__all__ = ["RedisPeek"]


class _BatchedReader:
    """``GET``s issued in one event-loop pass travel as one ``MGET`` (one round trip for many
    concurrent requests); each caller still gets exactly its own key's value. On a Redis Cluster
    the keys span slots: redis-py's ``mget_nonatomic`` sends one ``MGET`` per slot (reads only,
    so atomicity across sessions is not needed)."""

    def __init__(self, redis: Client) -> None:
        self._mget = redis.mget_nonatomic if isinstance(redis, RedisCluster) else redis.mget
        self._waiting: dict[str, list[asyncio.Future[bytes | None]]] = {}

    async def get(self, key: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.setdefault(key, []).append(future)
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._fetch(batch))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _fetch(self, batch: dict[str, list[asyncio.Future[bytes | None]]]) -> None:
        keys = list(batch)
        try:
            values = await self._mget(keys)
        except BaseException as exc:  # handed to every waiter (RedisError → 503 upstream)
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for key, value in zip(keys, values, strict=True):
            raw = value.encode() if isinstance(value, str) else value
            for future in batch[key]:
                if not future.done():
                    future.set_result(raw)


_BACKGROUND: set[asyncio.Task[None]] = set()
_PARSED_MAX = 4096


class RedisPeek:
    """The cheap login check for Redis sessions: the session id from the raw ``Cookie`` header,
    a batched read, and the last parse of that session reused while its stored bytes are equal.
    Nothing is cached across a change: a logout elsewhere is seen on the very next request."""

    def __init__(self, storage: RedisSessionStorage) -> None:
        self.storage = storage
        self.reader = _BatchedReader(storage.redis)
        self._parsed: OrderedDict[str, tuple[bytes, Entry]] = OrderedDict()

    async def peek_user(self, request: web.Request, config: OAuthConfig) -> PeekResult:
        if aiohttp_session.SESSION_KEY in request or AUTH_KEY in request:
            return SLOW
        if not in_charge(request, self.storage):
            return SLOW  # an outer setup's session middleware is in charge
        # the same strict reader as the full path (``load_cookie``): a duplicate is anonymous
        identity = self.storage.load_cookie(request)
        if identity is None:
            return None
        raw = await self.reader.get(_key(self.storage, identity))
        if raw is None:
            return None
        hit = self._parsed.get(identity)
        if hit is not None and hit[0] == raw:
            entry = hit[1]
        else:
            try:
                data = self.storage._decoder(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                return SLOW
            opened = entry_from_payload(data, config.scope.path)
            if isinstance(opened, Slow):
                return SLOW
            entry = opened
            self._parsed[identity] = (raw, entry)
            if len(self._parsed) > _PARSED_MAX:
                self._parsed.popitem(last=False)
        return check_entry(entry, config)
