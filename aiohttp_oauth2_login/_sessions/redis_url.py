"""``redis_url=`` read without the redis client: one server, Sentinel or Cluster.

Checked at ``setup_oauth`` (``check_redis_url``), before the optional ``redis`` package is
imported, so a malformed URL is refused with the fix. No message repeats the URL: it may hold a
password. The client is built from the parsed form by ``_sessions.redis.client``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote

from ..errors import ConfigurationError

__all__ = ["RedisTarget", "parse_redis_url"]

Kind = Literal["server", "sentinel", "cluster"]

#: scheme -> (kind, TLS); ``redis-cluster://`` is accepted as a spelling of ``redis+cluster://``
_SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("server", False),
    "rediss": ("server", True),
    "unix": ("server", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis-cluster": ("cluster", False),
    "rediss-cluster": ("cluster", True),
}
_DEFAULT_PORT = {"sentinel": 26379, "cluster": 6379}
_EXAMPLE = {
    "server": "'redis://host:6379/0' (TLS: 'rediss://host:6380/0?ssl_ca_certs=/path/ca.pem')",
    "sentinel": "'redis+sentinel://[:password@]host1:26379,host2:26379/mymaster/0'",
    "cluster": "'redis+cluster://[:password@]host1:6379,host2:6379'",
}
_HOST = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p6>\d*))?|(?P<name>[^:\[\]/]+)(?::(?P<p>\d*))?"
)
_SERVICE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
#: query options the plugin reads itself (the others go to redis-py's connections)
SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password"})


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed ``redis_url``: what to connect to, and how (``options_url`` carries the
    credentials, database and query options in the form redis-py's ``parse_url`` reads)."""

    kind: Kind
    tls: bool
    nodes: tuple[tuple[str, int], ...] = ()  # Sentinel or Cluster: the nodes to ask first
    service: str = ""  # Sentinel: the monitored primary's name
    db: int = 0
    options_url: str = ""  # a ``redis[s]://`` URL of the first node: credentials, db, query
    sentinel_options: tuple[tuple[str, str], ...] = ()  # Sentinel: credentials of the sentinels


def _fail(kind: Kind, problem: str) -> ConfigurationError:
    return ConfigurationError(f"redis_url: {problem}; it must look like {_EXAMPLE[kind]}")


def parse_redis_url(url: object) -> RedisTarget:
    """The parsed ``url``, or a ``ConfigurationError`` that names the fix (never the URL)."""
    if not isinstance(url, str) or "://" not in url:
        raise _fail("server", "not a URL")
    scheme, rest = url.split("://", 1)
    found = _SCHEMES.get(scheme.lower())
    if found is None:
        raise ConfigurationError(
            "redis_url: unknown scheme; use redis:// or rediss:// (one server), "
            "redis+sentinel:// or rediss+sentinel:// (Sentinel), redis+cluster:// or "
            "rediss+cluster:// (Redis Cluster), or unix://"
        )
    kind, tls = found
    if kind == "server":  # redis-py reads it (``Redis.from_url``); a bad value is refused there
        return RedisTarget(kind, tls, options_url=url)
    rest, _, query = rest.partition("?")
    if "#" in query or "#" in rest:
        raise _fail(kind, "a '#' is not allowed (percent-encode it as %23)")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    nodes = tuple(_node(kind, part) for part in hosts.split(","))
    parts = [unquote(p) for p in path.split("/")] if path else []
    service, db = "", 0
    if kind == "sentinel":
        if not parts or not _SERVICE.fullmatch(parts[0]):
            raise _fail(kind, "the service name (the monitored primary's name) is missing")
        service, parts = parts[0], parts[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) > 1 or (parts and not parts[0].isdigit()):
        raise _fail(kind, "the path after the hosts is not a database number")
    if parts:
        db = int(parts[0])
    if kind == "cluster" and db != 0:
        raise _fail(kind, "Redis Cluster has only database 0")
    options, sentinel = _split_query(kind, query)
    host, port = nodes[0]
    shown_host = f"[{host}]" if ":" in host else host
    options_url = f"{'rediss' if tls else 'redis'}://{userinfo}{at}{shown_host}:{port}/{db}" + (
        f"?{options}" if options else ""
    )
    return RedisTarget(kind, tls, nodes, service, db, options_url, sentinel)


def _node(kind: Kind, text: str) -> tuple[str, int]:
    match = _HOST.fullmatch(text)
    if match is None:
        raise _fail(kind, "a host is empty or malformed")
    host = match["v6"] or unquote(match["name"])
    port_text = match["p6"] if match["v6"] else match["p"]
    if port_text == "" or (port_text is not None and not 0 < int(port_text) < 65536):
        raise _fail(kind, "a port is not a number from 1 to 65535")
    return host, int(port_text) if port_text else _DEFAULT_PORT[kind]


def _split_query(kind: Kind, query: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(the query for redis-py, the Sentinel's own credentials)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _fail(kind, "the query string is malformed") from None
    ours = tuple((k, v) for k, v in pairs if k in SENTINEL_OPTIONS)
    if ours and kind != "sentinel":
        raise _fail(kind, "sentinel_username/sentinel_password only apply to a Sentinel URL")
    rest = "&".join(
        f"{quote(k)}={quote(v, safe='')}" for k, v in pairs if k not in SENTINEL_OPTIONS
    )
    return rest, ours
