"""Property-based hardening tests (issue #6): every input the plugin parses, fuzzed.

Shared harness. Hypothesis runs every example of a test in one synchronous call, so the fuzz
tests are plain (sync) functions that drive their async bodies through ``Runner.run`` on an
event loop owned by a module-scoped fixture: the fake provider, the app under test and the
browser's ``ClientSession`` are started once per module and reused by every example (no
function-scoped fixture is involved, so no Hypothesis health check has to be suppressed).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import aiohttp_session
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.test_utils import TestServer
from hypothesis import event, settings
from hypothesis.control import currently_in_test_context
from yarl import URL

from aiohttp_oauth2_login import get_user
from aiohttp_oauth2_login._sessions.cookie_storage import CookieStorage
from aiohttp_oauth2_login._sessions.middleware import attach
from aiohttp_oauth2_login._sessions.schema import NAMESPACE, login_payload
from aiohttp_oauth2_login._setup import OAuthLogin
from aiohttp_oauth2_login.keys import APP_KEY
from aiohttp_oauth2_login.testing import FakeProvider, find_login, oidc_provider_for
from aiohttp_oauth2_login.tokens import TokenSet
from aiohttp_oauth2_login.user import User

from ..support.app import CONTROL, COOKIE, build_app, health
from ..support.callbacks import Callback, follow_to_callback
from ..support.html import PageTags

T = TypeVar("T")

PLUGIN_LOGGER = "aiohttp_oauth2_login"
#: every tag the plugin's pages may contain; anything else is injected markup
PAGE_TAGS = frozenset(
    {"html", "head", "meta", "title", "style", "body", "main", "h1", "p", "a", "form", "input"}
    | {"button"}
)


def examples(count: int) -> int:
    """``count`` examples in the ``ci`` profile, scaled by the loaded profile (``long``: x10)."""
    scale = settings().max_examples / 100  # ci: 100, long: 1000 (tests/fuzz/conftest.py)
    return max(1, int(count * scale))


def record(label: str) -> None:
    """``hypothesis.event`` (seen with ``--hypothesis-show-statistics``), outside tests a no-op."""
    if currently_in_test_context():
        event(label)


class Runner:
    """An event loop of its own, for running async bodies from synchronous Hypothesis tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class Records(logging.Handler):
    """Collects the records of one logger (the plugin's), for the log-line checks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected_errors(self) -> list[str]:
        """aiohttp's "Error handling request" records, but for requests its parser refused."""
        found = []
        for record in self.records:
            error = record.exc_info[1] if record.exc_info else None
            if record.levelno >= logging.ERROR and not isinstance(error, HttpProcessingError):
                found.append(record.getMessage() + ": " + repr(error))
        return found

    def assert_clean(self, secrets: Sequence[str] = ()) -> None:
        """G13 and G21: no raw control character and no secret in any line."""
        for record in self.records:
            message = record.getMessage()
            assert not CONTROL.search(message), message
            for value in secrets:
                assert value not in message, message


def assert_safe_page(text: str) -> None:
    """Only the plugin's own markup (no injected tag, no script) and only same-origin links."""
    parsed = PageTags(text)
    assert set(parsed.tags) <= PAGE_TAGS, parsed.tags
    assert "<script" not in text.lower()
    for url in parsed.urls:
        assert is_same_origin_path(url), url


def page_urls(text: str) -> list[str]:
    """Every URL in a link, form or resource attribute of a page."""
    return PageTags(text).urls


def is_same_origin_path(location: str) -> bool:
    """G19: a path on this origin: one leading ``/``, printable ASCII, no backslash.

    Stricter than a browser needs (browsers also strip tabs and newlines and read ``\\`` as
    ``/``), and checked once more by resolving it against an origin.
    """
    if not location.startswith("/") or location.startswith("//"):
        return False
    if "\\" in location or any(not "\x21" <= ch <= "\x7e" for ch in location):
        return False
    origin = "http://app.test"
    return urlsplit(urljoin(origin + "/", location)).netloc == "app.test"


def b64decode(value: str) -> bytes | None:
    """Unpadded base64url, decoded the lenient way the cookie storage decodes it."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None


async def _echo(request: web.Request) -> web.Response:
    """The query as the server parses it (the oracle sees exactly what the callback sees)."""
    return web.json_response([[k, v] for k, v in request.query.items()])


async def _slow_user(request: web.Request) -> web.Response:
    """``get_user`` after the full aiohttp-session load (never the cookie fast path)."""
    attach(request, request.config_dict[APP_KEY].backend)  # what get_user does first
    await aiohttp_session.get_session(request)
    user = await get_user(request)
    return web.json_response({"user": user.id if user else None})


class Env:
    """A running app protected by the plugin, a fake provider, a browser and a bare client."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.records = Records()
        self.server_errors = Records()  # a handler that raised, or a response that broke
        self.fake: FakeProvider
        self.app: web.Application
        self.login: OAuthLogin
        self.server: TestServer
        self.browser: aiohttp.ClientSession  # keeps cookies, like a browser
        self.bare: aiohttp.ClientSession  # no cookie jar: cookies are sent by hand
        self.origin = ""
        self._level = logging.NOTSET

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro``; then no request may have failed inside the server (never a 500 that
        a client retry or a broken connection would hide)."""
        self.server_errors.records.clear()
        result = self.runner.run(coro)
        errors = self.server_errors.unexpected_errors()
        assert not errors, errors
        return result

    @property
    def storage(self) -> CookieStorage:
        storage = self.login.storage
        assert isinstance(storage, CookieStorage)
        return storage

    async def start(self, providers: list[Any] | None = None, **options: Any) -> Env:
        self.fake = FakeProvider(auto_approve=True)
        await self.fake.start()
        self.app = build_app(providers or [oidc_provider_for(self.fake)], **options)
        self.app.router.add_get("/echo", _echo)
        self.app.router.add_get("/slow", _slow_user)
        self.app.router.add_get("/health", health)
        self.login = find_login(self.app)
        self.server = TestServer(self.app)
        await self.server.start_server()
        self.origin = str(self.server.make_url("/").origin())
        self.browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.bare = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        logger = logging.getLogger(PLUGIN_LOGGER)
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.records)
        logging.getLogger("aiohttp.server").addHandler(self.server_errors)
        return self

    async def stop(self) -> None:
        logger = logging.getLogger(PLUGIN_LOGGER)
        logger.removeHandler(self.records)
        logger.setLevel(self._level)
        logging.getLogger("aiohttp.server").removeHandler(self.server_errors)
        await self.browser.close()
        await self.bare.close()
        await self.server.close()
        await self.fake.stop()

    def fresh(self) -> None:
        """A new example: an empty cookie jar, no recorded log lines, no provider failure."""
        self.browser.cookie_jar.clear()
        self.records.records.clear()
        self.fake.reset()

    def url(self, path: str, raw_query: str | None = None) -> URL:
        """An absolute URL with ``raw_query`` sent byte for byte (not re-encoded)."""
        target = self.origin + path + ("" if raw_query is None else "?" + raw_query)
        return URL(target, encoded=True)

    async def begin(self, query: str = "", provider: str = "fake") -> Callback:
        """Start a login in the browser and let the auto-approving fake answer."""
        start = self.url(f"/auth/login/{provider}", query or None)
        return await follow_to_callback(self.browser, start)

    async def parsed_query(self, raw_query: str) -> list[tuple[str, str]] | None:
        """How the server parses ``raw_query`` (``None`` when aiohttp refuses the request)."""
        resp = await self.bare.get(self.url("/echo", raw_query))
        if resp.status != 200:
            return None
        return [(k, v) for k, v in await resp.json()]

    async def user(self, cookie: str | None = None, *, slow: bool = False) -> str | None:
        """Who is signed in: with the browser's cookies, or with a raw ``Cookie`` header."""
        path = "/slow" if slow else "/"
        if cookie is None:
            resp = await self.browser.get(self.url(path))
        else:
            resp = await self.bare.get(self.url(path), headers={"Cookie": cookie})
        assert resp.status == 200, await resp.text()
        user: str | None = (await resp.json())["user"]
        return user

    def jar_cookie(self) -> str | None:
        morsel = self.browser.cookie_jar.filter_cookies(self.url("/")).get(COOKIE)
        return None if morsel is None or not morsel.value else morsel.value

    def login_cookie(self, user_id: str = "alice", token: TokenSet | None = None) -> str:
        """A valid signed-in cookie value (what ``testing.login_as`` writes)."""
        token = token or TokenSet(access_token="at-" + user_id, expires_at=int(time.time()) + 3600)
        user = User(provider="fake", id=user_id, name=user_id)
        payload = login_payload(
            user=user, provider="fake", token=token, scope=self.login.config.scope.path
        )
        return self.seal({NAMESPACE: payload})

    def seal(self, session: Any, created: Any = None) -> str:
        """Valid ciphertext of ``{"created": ..., "session": session}`` under the app's key."""
        data = {"created": int(time.time()) if created is None else created, "session": session}
        return self.storage.encrypt(data)


def start_env(runner: Runner, **options: Any) -> Env:
    return runner.run(Env(runner).start(**options))


async def gather(*aws: Awaitable[T]) -> list[T]:
    return list(await asyncio.gather(*aws))
