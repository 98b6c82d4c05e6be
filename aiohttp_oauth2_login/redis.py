"""Redis clients the plugin's outage guarantees hold for (``storage=`` with your own client).

``setup_oauth(redis_url=...)`` builds one itself; build the client you pass in ``storage=`` with
``redis_client(url)``: socket timeouts, and one reconnect (never a retried timeout) on a pooled
connection a Redis restart left dead. ``url`` may name one server (``redis://``, ``rediss://``
with TLS), a Sentinel-monitored primary (``redis+sentinel://``) or a Redis Cluster
(``redis+cluster://``); see docs/scale.md. Needs the ``redis`` extra.
"""

from __future__ import annotations

from ._sessions.redis import reconnect_once, redis_client

__all__ = ["reconnect_once", "redis_client"]
