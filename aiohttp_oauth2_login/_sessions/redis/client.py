"""Redis clients with the plugin's outage guarantees: socket timeouts, one reconnect."""

from __future__ import annotations

import re

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["OUTAGE_ERRORS", "client_warnings", "reconnect_once", "redis_client"]


#: errors meaning "the session store is unavailable" (mapped to a 503 page, never a 500)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError,)  # redis-py wraps socket errors
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def reconnect_once() -> Retry:
    """redis-py's retry policy for the plugin's clients: a command that fails with a
    ``ConnectionError`` (a pooled connection left dead by a Redis restart) is sent once more, at
    once, on a new connection. Never on a ``TimeoutError``: a hung Redis stays a 503 within one
    socket timeout."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_client(url: str, *, timeout: float = 2.0) -> aioredis.Redis:
    """A client with explicit socket timeouts (a stalled Redis must not stall requests) that
    reconnects once when a pooled connection turns out dead (``reconnect_once``).

    Build the client you pass in ``storage=`` the same way (or with the same ``retry=``,
    ``socket_timeout=`` and ``socket_connect_timeout=``): redis-py's ``Redis.from_url`` retries
    nothing, so each pooled connection costs one 503 after a Redis restart, and ``Redis()``
    retries timeouts ten times, so a hung Redis holds requests far beyond the timeout."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=15,
        retry=reconnect_once(),
    )


def client_warnings(redis: aioredis.Redis) -> list[str]:
    """What a client passed in (``storage=``) lacks for the plugin's outage guarantees."""
    try:
        pool = redis.connection_pool
        probe = pool.connection_class(**pool.connection_kwargs)  # never connected
        retries, errors = probe.retry.get_retries(), probe.retry._supported_errors
        timeout = probe.socket_timeout
    except Exception:  # noqa: BLE001 - an unusual pool: nothing to say about it
        return []
    found = []
    if retries < 1 or not any(issubclass(RedisConnectionError, e) for e in errors):
        found.append(
            "it does not reconnect on a dead connection: a 503 per pooled connection "
            "after a Redis restart"
        )
    if retries >= 1 and any(issubclass(RedisTimeoutError, e) for e in errors):
        found.append("it retries timeouts: a hung Redis holds requests for several timeouts")
    if timeout is None:
        found.append("it has no socket timeout: a hung Redis holds requests forever")
    return found
