"""Fuzzing token and userinfo answers: a hostile provider's bodies (RFC 6749 §5.1,
OIDC Core §5.3.2, G8).

Unit level: ``TokenSet.from_response`` and ``user_from_standard_claims`` on any JSON value a
provider could send (``json.loads`` also yields ``NaN`` and ``Infinity``) and on near-valid
objects. End to end: a tiny hostile provider app whose token and userinfo endpoints answer the
generated status and body (JSON of any shape, or bytes that are not JSON), behind a plain
``OAuth2Provider``.

Properties: only the package's own errors are raised (``OAuthLoginError``); a token answer is
accepted if and only if it is an object without ``error``, with an ``access_token`` that is
1 to 16,384 printable ASCII characters (RFC 6749 Appendix A: ``1*VSCHAR``; the same for the
optional ``refresh_token`` and ``id_token``) and a ``bearer`` ``token_type``; a profile
signs in only with a usable id (a non-empty string of at most 255 characters or an integer,
never a bool), and ``email_verified`` is true only when the provider says ``true``; end to end,
never a 500 (303/401/502 only), and signed in only when both answers were acceptable.

Examples per input in the ``ci`` profile (see conftest.py):

- token response body (unit): 1,000
- userinfo body (unit): 1,000
- token and userinfo answers end to end: 250
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from aiohttp_oauth2_login.errors import OAuthLoginError
from aiohttp_oauth2_login.providers import OAuth2Provider
from aiohttp_oauth2_login.providers._profile import user_from_standard_claims
from aiohttp_oauth2_login.tokens import TokenSet

from . import Env, Runner, assert_safe_page, examples, record, start_env

MAX_TOKEN = 16 * 1024
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and ±Infinity included: json.loads accepts them
    st.text(max_size=30),
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=15,
)
_token_strings = st.one_of(
    st.sampled_from(["tok-123", "a\nb", "a\rb", "a\x00b", "é", " ", "x" * MAX_TOKEN]),
    st.text(max_size=20),
    st.integers(MAX_TOKEN - 2, MAX_TOKEN + 2).map(lambda n: "t" * n),
    _scalars,
)
_numbers = st.one_of(
    st.sampled_from([3600, 0, -1, 10**12, "3600", "036", "1e3", " 36", "-5", True, 1.5]),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
    st.floats(),
    _scalars,
)
token_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "access_token": st.just("tok-123") | _token_strings,
            "token_type": st.sampled_from(["bearer", "Bearer", "BEARER"])
            | st.sampled_from(["mac", "bearer ", "", "ｂｅａｒｅｒ"])
            | _scalars,
        },
        optional={
            "expires_in": _numbers,
            "refresh_token": _token_strings,
            "refresh_token_expires_in": _numbers,
            "scope": _scalars,
            "id_token": _token_strings,
            "error": _scalars,
            "extra": json_values,
        },
    ),
)
profiles = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.fixed_dictionaries(
        {},
        optional={
            "sub": st.sampled_from(["u-1", "", "x" * 255, "x" * 256]) | _scalars,
            "id": st.sampled_from([12345, 0, -1, "42", True]) | _scalars,
            "name": _scalars,
            "email": st.just("e@example.com") | _scalars,
            "email_verified": st.sampled_from([True, "true", "True", 1, "false"]) | _scalars,
            "preferred_username": _scalars,
            "login": _scalars,
            "picture": _scalars,
            "avatar_url": _scalars,
        },
    ),
)


def token_acceptable(body: Any) -> bool:
    """RFC 6749 §5.1, independently of the package."""
    if not isinstance(body, dict) or "error" in body:
        return False

    def token(value: Any) -> bool:  # RFC 6749 Appendix A: 1*VSCHAR (printable ASCII)
        return (
            isinstance(value, str)
            and 0 < len(value) <= MAX_TOKEN
            and all("\x20" <= ch <= "\x7e" for ch in value)
        )

    token_type = body.get("token_type")
    if not token(body.get("access_token")):
        return False
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return False
    return all(body.get(k) is None or token(body.get(k)) for k in ("refresh_token", "id_token"))


def expected_id(profile: Any) -> str | None:
    """G8: the stable id of a profile (OIDC ``sub``, else a numeric/text ``id``)."""
    if not isinstance(profile, dict):
        return None
    value = profile.get("sub", profile.get("id"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 255:
        return value
    return None


@settings(max_examples=examples(1000))
@given(body=token_bodies)
@example(body={"access_token": "t", "token_type": "bearer", "expires_in": math.nan})
@example(body={"access_token": "t", "token_type": "bearer", "expires_in": math.inf})
@example(body={"access_token": "t", "token_type": "bearer", "refresh_token_expires_in": -math.inf})
def test_token_response_bodies(body: Any) -> None:
    try:
        token = TokenSet.from_response(body, now=1_700_000_000)
    except OAuthLoginError:
        assert not token_acceptable(body), body
        return
    # anything else than the package's own error fails the test here
    assert token_acceptable(body), body
    assert token.access_token == body["access_token"]
    assert token.token_type == "Bearer"
    assert token.refresh_token == body.get("refresh_token")
    assert token.id_token == body.get("id_token")
    for expiry in (token.expires_at, token.refresh_expires_at):
        assert expiry is None or (type(expiry) is int and expiry >= 1_700_000_000)
    assert token.scope is None or isinstance(token.scope, str)


@settings(max_examples=examples(1000))
@given(profile=profiles)
@example(profile={"sub": None, "id": 5})
@example(profile={"id": True})
def test_userinfo_bodies(profile: dict[str, Any]) -> None:
    try:
        user = user_from_standard_claims("p", profile)
    except OAuthLoginError:
        assert expected_id(profile) is None, profile
        return
    assert user.id == expected_id(profile), profile
    assert user.provider == "p"
    verified = profile.get("email_verified")
    assert user.email_verified == (verified is True or verified == "true")
    for value in (user.name, user.email, user.username, user.avatar_url):
        assert value is None or (isinstance(value, str) and 0 < len(value) <= 2048)


# ---- end to end: a hostile provider ---------------------------------------------------------


class Hostile:
    """A provider whose token and userinfo endpoints answer whatever the example says."""

    def __init__(self) -> None:
        self.token: tuple[int, bytes] = (200, b"{}")
        self.userinfo: tuple[int, bytes] = (200, b"{}")
        self.calls = {"token": 0, "userinfo": 0}
        self.app = web.Application()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_get("/userinfo", self._userinfo)
        self.server = TestServer(self.app)

    async def _token(self, request: web.Request) -> web.Response:
        self.calls["token"] += 1
        await request.read()
        return self._answer(*self.token)

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.calls["userinfo"] += 1
        return self._answer(*self.userinfo)

    @staticmethod
    def _answer(status: int, body: bytes) -> web.Response:
        headers = {"Location": "/token"} if 300 <= status < 400 else {}
        return web.Response(
            status=status, body=body, content_type="application/json", headers=headers
        )


@pytest.fixture(scope="module")
def hostile(runner: Runner) -> Iterator[Hostile]:
    provider = Hostile()
    runner.run(provider.server.start_server())
    yield provider
    runner.run(provider.server.close())


@pytest.fixture(scope="module")
def env(runner: Runner, hostile: Hostile) -> Iterator[Env]:
    base = str(hostile.server.make_url("/")).rstrip("/")
    evil = OAuth2Provider(
        name="evil",
        client_id="client",
        client_secret="secret",
        authorize_url=base + "/authorize",
        token_url=base + "/token",
        userinfo_url=base + "/userinfo",
    )
    env = start_env(runner, providers=[evil], http_timeout=5)
    yield env
    runner.run(env.stop())


STATUSES = st.sampled_from([200, 200, 200, 200, 201, 204, 302, 400, 401, 403, 500])
NOT_JSON = st.sampled_from(
    [b"", b"<html>error</html>", b"\xff\xfe\x00", b"{", b"[" * 5000 + b"]" * 5000, b"null"]
)


def _serialised(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=examples(250))
@given(
    token=st.tuples(STATUSES, token_bodies.map(_serialised) | NOT_JSON),
    userinfo=st.tuples(STATUSES, profiles.map(_serialised) | NOT_JSON),
)
@example(
    token=(200, b'{"access_token": "good", "token_type": "bearer"}'),
    userinfo=(200, b'{"sub": "u-1"}'),
)
@example(
    token=(200, b'{"access_token": "a\\nb", "token_type": "bearer"}'),
    userinfo=(200, b'{"sub": "u-1"}'),
)
@example(
    token=(200, b'{"access_token": "good", "token_type": "bearer", "expires_in": NaN}'),
    userinfo=(200, b'{"sub": "u-1"}'),
)
def test_token_and_userinfo_answers_end_to_end(
    env: Env, hostile: Hostile, token: tuple[int, bytes], userinfo: tuple[int, bytes]
) -> None:
    env.fresh()
    hostile.token, hostile.userinfo = token, userinfo

    async def login() -> None:
        start = await env.browser.get(env.url("/auth/login/evil"), allow_redirects=False)
        assert start.status == 302
        state = URL(start.headers["Location"]).query["state"]
        resp = await env.browser.get(
            env.url("/auth/callback/evil", f"code=c0de&state={state}"), allow_redirects=False
        )
        text = await resp.text()
        user = await env.user()
        assert resp.status in (303, 401, 502), (resp.status, text)
        assert (resp.status == 303) == (user is not None)
        env.records.assert_clean()
        record(f"status {resp.status}")
        if resp.status != 303:
            assert_safe_page(text)
            return
        token_body = json.loads(token[1])
        profile = json.loads(userinfo[1])
        assert token[0] == 200 and token_acceptable(token_body), token
        assert userinfo[0] == 200 and user == expected_id(profile), userinfo

    env.run(login())
