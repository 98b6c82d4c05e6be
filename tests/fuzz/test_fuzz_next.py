"""Fuzzing ``next`` (G2, G3, G4, G19): a redirect after login or logout never leaves the origin.

Properties: ``safe_next`` returns its input only when it is a same-origin path (one leading
``/``, printable ASCII, no backslash, resolving to this origin), else the default, and keeps
plain paths; through the whole flow (login route → provider → callback) the 303's ``Location``
is a same-origin path, the accepted ``next`` or ``default_next``; the provider chooser's links,
the logout page's hidden field and the logout POST's ``Location`` obey the same rule; and
parameters a visitor adds to the login route never reach the authorization request.

Examples per input in the ``ci`` profile (see conftest.py):

- ``safe_next`` (unit): 2,000
- ``next`` through a complete login: 150
- ``next`` on the chooser page (HTML and JSON): 150
- ``next`` on the logout page and in the logout POST form: 150
- visitor-added authorization parameters on the login route: 100
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiohttp_oauth2_login._urls import safe_next

from . import Env, Runner, examples, is_same_origin_path, page_urls, record, start_env

PIECES = (
    "/",
    "//",
    "///",
    "\\",
    "/\\",
    "\\\\",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%09",
    "%0a",
    "%0d%0a",
    "%00",
    "%20",
    "\t",
    "\n",
    "\r",
    " ",
    "\x00",
    "\x7f",
    "@",
    ":",
    "http:",
    "https:",
    "javascript:",
    "data:",
    "evil.example",
    ".",
    "..",
    "?",
    "#",
    "&",
    "=",
    "%",
    "%%",
    "％",
    "／",
    "＼",
    "。",
    "\u3000",
    "\u2028",
    "\u200b",
    "\ufeff",
    "\u202e",
    "%E3%80%80",
    "%EF%BC%8F",
    "%C0%AF",
    "/%2F",
    "/.//",
    "/..//",
    "//evil.example",
    "http://evil.example",
    "/\t/evil.example",
    "\\/evil.example",
    "/%5cevil.example",
    "%2F%2Fevil.example",
)
PLAIN = re.compile(r"/[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*")
DEFAULT = "/home"

next_values = st.one_of(
    st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=8).map("".join),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.from_regex(r"/[A-Za-z0-9/_.~%-]{0,30}(\?[a-z]{1,3}=[A-Za-z0-9/%]{0,6})?", fullmatch=True),
    st.integers(2040, 2060).map(lambda n: "/" + "a" * n),
)


def _plain(value: str) -> bool:
    return bool(PLAIN.fullmatch(value)) and "//" not in value and len(value) <= 2048


@settings(max_examples=examples(2000))
@given(value=next_values | st.none() | st.integers() | st.binary())
@example(value="/.//evil.example")
@example(value="/%2F%2Fevil.example")
@example(value="/%5C%5Cevil.example")
@example(value="/%09/evil.example")
@example(value="/\uff0f\uff0fevil.example")
def test_safe_next(value: object) -> None:
    result = safe_next(value, DEFAULT)
    assert result in (value, DEFAULT)
    assert is_same_origin_path(result), result
    if isinstance(value, str) and _plain(value):
        assert result == value  # a plain path is kept, not replaced


@pytest.fixture(scope="module")
def env(runner: Runner) -> Iterator[Env]:
    env = start_env(runner, default_next=DEFAULT)
    yield env
    runner.run(env.stop())


def _raw_next(value: str, raw: bool) -> str:
    """``next=value`` percent-encoded, or with the URL-safe pieces left raw (as typed)."""
    if raw:
        return "next=" + quote(value, safe="/:@?=%.~-_!$'()*,;")
    return "next=" + quote(value, safe="")


def _check_location(location: str, sent: list[str]) -> None:
    assert is_same_origin_path(location), location
    assert location == DEFAULT or location in sent, (location, sent)
    if len(sent) == 1 and _plain(sent[0]):
        assert location == sent[0]


@settings(max_examples=examples(150))
@given(value=next_values, raw=st.booleans(), twice=st.booleans())
@example(value="//evil.example", raw=True, twice=False)
@example(value="/ok", raw=False, twice=True)
@example(value="/" + "a" * 1000, raw=False, twice=False)
def test_next_through_a_complete_login(env: Env, value: str, raw: bool, twice: bool) -> None:
    env.fresh()
    query = "&".join([_raw_next(value, raw)] * (2 if twice else 1))

    async def flow() -> None:
        parsed = await env.parsed_query(query)
        resp = await env.browser.get(env.url("/auth/login/fake", query), allow_redirects=False)
        if parsed is None:  # aiohttp refused the request line
            assert resp.status == 400
            return
        assert resp.status == 302, await resp.text()
        answer = await env.browser.get(resp.headers["Location"], allow_redirects=False)
        cb = answer.headers["Location"]
        assert "next" not in dict(parse_qsl(urlsplit(cb).query))  # state carries no meaning
        parts = urlsplit(cb)
        done = await env.browser.get(env.url(parts.path, parts.query), allow_redirects=False)
        assert done.status == 303, await done.text()
        sent = [v for k, v in parsed if k == "next"]
        _check_location(done.headers["Location"], sent if len(sent) == 1 else [])
        record("kept" if done.headers["Location"] != DEFAULT else "default")

    env.run(flow())


@pytest.mark.parametrize("length", [100, 560, 600, 1000, 2047])
def test_a_long_next_still_signs_in(env: Env, length: int) -> None:
    """Any ``next`` that ``safe_next`` accepts (up to 2,048 characters) survives the login."""
    value = "/" + "a" * (length - 1)
    assert safe_next(value, DEFAULT) == value
    env.fresh()

    async def flow() -> None:
        cb = await env.begin(_raw_next(value, raw=False))
        done = await env.browser.get(env.url(cb.path, cb.query()), allow_redirects=False)
        assert done.status == 303, (done.status, await done.text())
        assert done.headers["Location"] == value

    env.run(flow())


@settings(max_examples=examples(150))
@given(value=next_values, raw=st.booleans(), json=st.booleans())
def test_next_on_the_chooser_page(env: Env, value: str, raw: bool, json: bool) -> None:
    query = _raw_next(value, raw)

    async def chooser() -> None:
        headers = {"Accept": "application/json"} if json else {}
        resp = await env.bare.get(env.url("/auth/login", query), headers=headers)
        if resp.status == 400 and await env.parsed_query(query) is None:
            return
        assert resp.status == 200, await resp.text()
        if json:
            links = [p["login_url"] for p in (await resp.json())["providers"]]
        else:
            links = page_urls(await resp.text())
        assert links
        for link in links:
            assert is_same_origin_path(link), link
            target = dict(parse_qsl(urlsplit(link).query)).get("next", DEFAULT)
            assert is_same_origin_path(target), target

    env.run(chooser())


@settings(max_examples=examples(150))
@given(value=next_values, raw=st.booleans(), multipart=st.booleans())
@example(value="https://evil.example", raw=True, multipart=False)
def test_next_on_logout(env: Env, value: str, raw: bool, multipart: bool) -> None:
    query = _raw_next(value, raw)

    async def logout() -> None:
        parsed = await env.parsed_query(query)
        page = await env.bare.get(env.url("/auth/logout", query))
        if parsed is None:
            assert page.status == 400
        else:
            assert page.status == 200
            text = await page.text()
            hidden = re.findall(r'name="next" value="([^"]*)"', text)
            assert len(hidden) == 1
            assert is_same_origin_path(html.unescape(hidden[0]))
        cookie = "aiohttp_oauth2=" + env.login_cookie()
        headers = {"Origin": env.origin, "Cookie": cookie}
        form: aiohttp.FormData | bytes
        if multipart:
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("next", value)
            sent = [value]
        else:
            form = query.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            sent = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "next"]
        resp = await env.bare.post(
            env.url("/auth/logout"), data=form, headers=headers, allow_redirects=False
        )
        assert resp.status == 303, await resp.text()
        _check_location(resp.headers["Location"], sent)

    env.run(logout())


VISITOR_PARAMS = (
    "state",
    "nonce",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "response_type",
    "client_id",
    "scope",
    "response_mode",
    "request_uri",
)


@settings(max_examples=examples(100))
@given(
    added=st.lists(
        st.tuples(
            st.sampled_from(VISITOR_PARAMS),
            st.sampled_from(["https://evil.example/cb", "plain", "token", "x" * 43, ""])
            | st.text(max_size=20),
        ),
        max_size=5,
    )
)
def test_visitor_parameters_never_reach_the_authorization_request(
    env: Env, added: list[tuple[str, str]]
) -> None:
    """G2, G3, G4: the authorization request carries the plugin's values only."""
    env.fresh()
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in added)

    async def start() -> None:
        cb = await env.begin(query)
        sent = env.fake.authorize_requests[-1]
        assert sent["response_type"] == "code"
        assert sent["client_id"] == env.fake.client_id
        assert sent["redirect_uri"] == env.origin + "/auth/callback/fake"
        assert sent["code_challenge_method"] == "S256"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sent["state"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sent["code_challenge"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sent["nonce"])
        for name, value in added:
            if name in ("state", "nonce", "code_challenge") and value:
                assert sent[name] != value
        assert "request_uri" not in sent and "response_mode" not in sent
        done = await env.browser.get(env.url(cb.path, cb.query()), allow_redirects=False)
        assert done.status == 303

    env.run(start())
