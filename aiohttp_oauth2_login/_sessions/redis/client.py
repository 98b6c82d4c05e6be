"""Redis clients with the plugin's outage guarantees: socket timeouts, one reconnect.

One server (``redis://``, ``rediss://``), a Sentinel-monitored primary (``redis+sentinel://``)
or a Redis Cluster (``redis+cluster://``), all from ``redis_url`` (``_sessions.redis_url``).
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from redis import asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import ConfigurationError
from ..redis_url import RedisTarget, parse_redis_url

__all__ = ["OUTAGE_ERRORS", "Client", "client_warnings", "reconnect_once", "redis_client"]

#: a client of one server or Sentinel primary, or of a Redis Cluster: the commands the plugin
#: sends (GET, SET, EVAL with one key, WATCH/MULTI on one key, MGET) work on both
Client: TypeAlias = "aioredis.Redis | RedisCluster"

#: errors meaning "the session store is unavailable" (mapped to a 503 page, never a 500). redis-py
#: wraps socket and TLS errors in ``ConnectionError``; Sentinel's ``MasterNotFoundError`` is one,
#: Cluster's ``ClusterDownError`` / ``TryAgainError`` are ``RedisError``s (MOVED / ASK are followed
#: by redis-py); an unreachable or half-covered cluster raises ``RedisClusterException`` (not a
#: ``RedisError``): "Redis Cluster cannot be connected", ``SlotNotCoveredError``
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException)
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


def reconnect_once() -> Retry:
    """redis-py's retry policy for the plugin's clients: a command that fails with a
    ``ConnectionError`` (a pooled connection left dead by a Redis restart) is sent once more, at
    once, on a new connection. Never on a ``TimeoutError``: a hung Redis stays a 503 within one
    socket timeout."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_client(url: str, *, timeout: float = 2.0) -> Client:
    """A client with explicit socket timeouts (a stalled Redis must not stall requests) that
    reconnects once when a pooled connection turns out dead (``reconnect_once``).

    ``url``: ``redis://`` / ``rediss://`` (one server; TLS options such as ``ssl_ca_certs`` and
    ``ssl_cert_reqs`` in the query), ``redis+sentinel://[:pw@]h1:26379,h2:26379/<service>[/db]``
    (the primary a Sentinel group monitors, found again after a failover) or
    ``redis+cluster://[:pw@]h1:6379,h2:6379`` (a Redis Cluster; ``redis-cluster://`` too).

    Build the client you pass in ``storage=`` the same way (or with the same ``retry=``,
    ``socket_timeout=`` and ``socket_connect_timeout=``): redis-py's ``Redis.from_url`` retries
    nothing, so each pooled connection costs one 503 after a Redis restart, and ``Redis()``
    retries timeouts ten times, so a hung Redis holds requests far beyond the timeout."""
    target = parse_redis_url(url)
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
    }
    if target.kind == "server":
        try:
            client = aioredis.Redis.from_url(url, **common, retry=reconnect_once())
        except ValueError as exc:  # redis-py names the option or part, never a password
            raise ConfigurationError(f"redis_url: {exc}") from None
        pool = client.connection_pool
        _check_options(pool.connection_class, pool.connection_kwargs)
        return client
    options = _options(target)
    if target.kind == "cluster":
        return _cluster(target, options, common)
    return _sentinel_primary(target, options, common)


def _options(target: RedisTarget) -> dict[str, Any]:
    """The connection options of a Sentinel or Cluster URL (credentials, TLS, query), checked
    now: a misspelled option is refused at start-up rather than on the first request."""
    try:
        options: dict[str, Any] = dict(parse_url(target.options_url))
    except ValueError as exc:  # redis-py names the option, never its value
        raise ConfigurationError(f"redis_url: {exc}") from None
    for name in ("host", "port", "db", "path"):
        options.pop(name, None)
    tls = options.pop("connection_class", Connection) is SSLConnection
    _check_options(SSLConnection if tls else Connection, options)
    if tls:
        options["ssl"] = True
    return options


def _check_options(connection_class: type[Any], options: dict[str, Any]) -> None:
    try:
        connection_class(**options)  # never connected: only the options are checked
    except TypeError as exc:  # "unexpected keyword argument 'name'": a name, never a value
        raise ConfigurationError(
            f"redis_url: the query string holds an option redis-py does not know ({exc})"
        ) from None


class _Cluster(RedisCluster):
    """redis-py's ``RedisCluster`` that, after a failure, refreshes the slot map and retries
    once on a dead connection, a cluster in failover (``ClusterDownError``) or a slot missing
    from its map, but never after a timeout: a hung node stays a 503 within one socket timeout
    (SECURITY.md G17)."""

    ERRORS_ALLOW_RETRY = (  # type: ignore[assignment]
        RedisConnectionError,
        ClusterDownError,
        SlotNotCoveredError,
    )


def _cluster(target: RedisTarget, options: dict[str, Any], common: dict[str, Any]) -> Client:
    nodes = [ClusterNode(host, port) for host, port in target.nodes]
    return _Cluster(startup_nodes=nodes, retry=Retry(NoBackoff(), 1), **options, **common)


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to the Sentinel-monitored primary that asks the Sentinels where it is on
    every (re)connect. redis-py re-resolves only when the pool hands out a closed connection:
    the reconnect of a retried command or of a health-check PING goes back to the address the
    connection had (redis/redis-py#3874). After a failover that is the demoted primary, now a
    replica: its READONLY would make the one retry (``reconnect_once``) fail the same way, a
    503 per such pooled connection long after the failover completed (SECURITY.md G17)."""

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self.is_connected and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )


class _PrimarySSLConnection(_PrimaryConnection, SSLConnection):
    """``_PrimaryConnection`` over TLS."""


class _SentinelPrimary(aioredis.Redis):
    """The client of a Sentinel-monitored primary; closing it closes the Sentinel clients too."""

    sentinels: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            await self.sentinels.aclose()


def _sentinel_primary(
    target: RedisTarget, options: dict[str, Any], common: dict[str, Any]
) -> Client:
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": common["socket_timeout"],
        "socket_connect_timeout": common["socket_connect_timeout"],
        "retry": reconnect_once(),
    }
    for name, value in target.sentinel_options:
        sentinel_kwargs[name.removeprefix("sentinel_")] = value
    if target.tls:  # the sentinels speak TLS like the servers they monitor
        sentinel_kwargs.update((k, v) for k, v in options.items() if k.startswith("ssl"))
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    tls = options.pop("ssl", False)
    client = sentinel.master_for(
        target.service,
        redis_class=_SentinelPrimary,
        connection_class=_PrimarySSLConnection if tls else _PrimaryConnection,
        db=target.db,
        retry=reconnect_once(),
        **options,
        **common,
    )
    assert isinstance(client, _SentinelPrimary)  # noqa: S101 - redis_class above
    client.sentinels = sentinel
    return client


def client_warnings(redis: Client) -> list[str]:
    """What a client passed in (``storage=``) lacks for the plugin's outage guarantees."""
    if isinstance(redis, RedisCluster):
        return []  # the cluster client retries after refreshing its slot map
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
