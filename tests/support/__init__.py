"""What the tests share, written once.

- ``app``: the small app protected by the plugin, its keys, cookie name and Accept headers;
- ``session``: the plugin's session cookie as a test client holds it (read, write, expire);
- ``callbacks``: a login driven up to the provider's redirect back, delivered as is or tampered;
- ``html``: the tags and URLs of a page;
- ``jwt``: base64url, PKCE and ID-token claims, computed independently of the package;
- ``peers``: processes the tests start (executables, free ports, readiness, stopping by PID);
- ``redis_peer``: a real ``redis-server`` and what the Redis session tests read from it;
- ``scale_app``: one process of a scaled-out app (``python -m tests.support.scale_app``).
"""
