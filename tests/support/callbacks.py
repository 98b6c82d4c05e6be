"""A login driven like a browser up to the provider's redirect back to the app, and that callback
delivered as it came or tampered with.

``begin`` starts a login and lets the (auto-approving) fake provider answer; the ``Callback`` it
returns is split into path and parameters so that a test can replace any of them before
``deliver``. Every callback ``begin`` returned is remembered for ``clean_logs``, the autouse check
(import it into a test module) that no log line of the plugin holds one of the flow's secrets or
a raw control character.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from yarl import URL

from aiohttp_oauth2_login.testing import FakeProvider

from .app import CONTROL, JSON, Client
from .session import oauth_session


@dataclass
class Callback:
    """The provider's redirect back to the app: the callback path and its parameters."""

    path: str
    params: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        return dict(self.params)[name]

    def query(self) -> str:
        return urlencode(self.params)

    def replaced(self, name: str, *values: str) -> list[tuple[str, str]]:
        """The parameters with every ``name`` replaced by ``values`` (none: removed)."""
        kept = [(k, v) for k, v in self.params if k != name]
        return kept + [(name, v) for v in values]

    def url(
        self,
        params: Sequence[tuple[str, str]] | None = None,
        *,
        path: str | None = None,
        raw_query: str | None = None,
    ) -> URL:
        query = urlencode(list(self.params if params is None else params))
        if raw_query is not None:
            query = raw_query
        return URL(f"{path or self.path}?{query}", encoded=True)


async def follow_to_callback(http: aiohttp.ClientSession, start: URL) -> Callback:
    """GET the login route ``start`` in the browser ``http``, then the provider's authorization
    endpoint it redirects to; the provider's redirect back is the callback (not followed)."""
    resp = await http.get(start, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    answer = await http.get(resp.headers["Location"], allow_redirects=False)
    assert answer.status == 302, await answer.text()
    parts = urlsplit(answer.headers["Location"])
    return Callback(parts.path, parse_qsl(parts.query, keep_blank_values=True))


_SEEN: list[Callback] = []  # every callback of the running test, for the log check


async def begin(
    client: Client, provider: str = "fake", *, query: str = "", http: Any = None
) -> Callback:
    """Start a login and let the (auto-approving) fake provider answer: the callback to deliver."""
    start = client.make_url(f"/auth/login/{provider}{query}")
    cb = await follow_to_callback(http or client.session, start)
    _SEEN.append(cb)
    return cb


async def deliver(
    client: Client,
    cb: Callback,
    params: Sequence[tuple[str, str]] | None = None,
    *,
    path: str | None = None,
    raw_query: str | None = None,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    url = cb.url(params, path=path, raw_query=raw_query)
    return await client.get(url, allow_redirects=False, headers=headers)


async def assert_anonymous(client: Client, http: Any = None) -> None:
    """Nobody is logged in and the session holds no identity and no token."""
    http = http or client.session
    resp = await http.get(client.make_url("/private"), headers=JSON, allow_redirects=False)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    data = oauth_session(client, http=http)
    assert "u" not in data
    assert "t" not in data


def leaked_values(fake: FakeProvider, *callbacks: Callback) -> list[str]:
    """Everything secret the flow has handled so far: none of it may reach a page or a log."""
    values = [fake.client_secret]
    for cb in callbacks:
        values += [v for k, v in cb.params if k in ("code", "state", "access_token", "id_token")]
    for request in fake.authorize_requests:
        values += [request.get("state", ""), request.get("nonce", "")]
    for request in fake.token_requests:
        values += [request.get("code", ""), request.get("code_verifier", "")]
    values += list(fake._access_tokens)
    values += list(fake._refresh_tokens)
    return [v for v in values if len(v) >= 8]


@pytest.fixture(autouse=True)
def clean_logs(caplog: pytest.LogCaptureFixture, fake: FakeProvider) -> Iterator[None]:
    """G13 and G21: no raw control characters and no secret in any log line."""
    caplog.set_level(logging.DEBUG, logger="aiohttp_oauth2_login")
    _SEEN.clear()
    yield
    secret = leaked_values(fake, *_SEEN)
    for record in caplog.records:
        if not record.name.startswith("aiohttp_oauth2_login"):
            continue
        message = record.getMessage()
        assert not CONTROL.search(message), message
        for value in secret:
            assert value not in message, message
