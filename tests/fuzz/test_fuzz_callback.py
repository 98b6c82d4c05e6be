"""Fuzzing the callback query string (G1, G2, G5, G13; README, Routes).

Each example starts a real login (the auto-approving fake provider issues a genuine ``code``,
``state`` and ``iss``), then delivers a raw query string built from genuine parameters, mutated
values and hostile ones: duplicates, unicode, control characters (percent-encoded), invalid
percent-encoding, raw bytes that are not UTF-8, oversized values, front-channel tokens. The
oracle is the query as the server itself parses it (an echo route of the same app).

Properties: never a 500 (only 303/400/401/403/502, and aiohttp's own 400 for a request line it
refuses); signed in if and only if the answer is 303, and 303 only for exactly the genuine
``state``, ``code`` and ``iss`` without ``error`` or tokens; no call to the token endpoint (nor
to any other provider endpoint) unless the state is exactly the genuine one; every answer has
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``; error pages carry no injected
markup; no plugin log line has a raw control character or the genuine code/state.

Examples per input in the ``ci`` profile (see conftest.py):

- raw callback query, genuine and hostile parameters mixed: 300
- ``error`` / ``error_description`` / ``error_uri`` with a genuine state: 150
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiohttp_oauth2_login._login.views import MAX_SHOWN_DESCRIPTION

from ..support.callbacks import Callback
from . import (
    Env,
    Runner,
    assert_safe_page,
    examples,
    page_urls,
    record,
    start_env,
)

NAMES = (
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "id_token",
    "token",
    "next",
    "session_state",
)
#: names that decode to a parameter the plugin reads, spelled the way a filter might miss
ODD_NAMES = ("st%61te", "c%6Fde", "%69ss", "STATE", "state%00", "state ", "state[]", "code%20")
RAW_FRAGMENTS = (
    "%",
    "%Z",
    "%ZZ",
    "%2",
    "%C3%28",
    "%FF",
    "%C0%AF",
    "%00",
    "%0d%0a",
    "%1b[31m",
    "%7F",
    "%C2%85",
    "%E2%80%AE",
    "%EF%BC%A1",
    "%F0%9F%92%A9",
    "+",
    "=",
    "&",
    ";",
    "%26",
    "%3D",
    "%25",
    "&&",
    "==",
    "?",
    "/",
)
#: raw characters that can stand unencoded in a request line's query
RAW_SAFE = "ABCXYZabcxyz0123456789-._~!$'()*,:@/?"
TOKEN_NAMES = frozenset({"access_token", "id_token", "token"})
ALLOWED = frozenset({303, 400, 401, 403, 502})


def _enc(text: str) -> str:
    return quote(text, safe="")


def _mutate(value: str, how: int, where: int) -> str:
    if not value:
        return "x"
    i = where % len(value)
    return [
        value[:i],  # truncated
        value + value[i],  # one character more
        value[:i] + chr(ord(value[i]) ^ 1) + value[i + 1 :],  # one bit flipped
        value.swapcase(),
        value + "=",
        " " + value,
        value * 2,
    ][how % 7]


def _values(cb: Callback) -> st.SearchStrategy[str]:
    genuine = st.sampled_from([v for _, v in cb.params])
    return st.one_of(
        genuine.map(_enc),
        st.builds(_mutate, genuine, st.integers(0, 6), st.integers(0, 100)).map(_enc),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40).map(_enc),
        st.binary(max_size=30).map(lambda raw: "".join(f"%{b:02X}" for b in raw)),
        st.lists(st.sampled_from(RAW_FRAGMENTS) | st.text(RAW_SAFE, max_size=6), max_size=8).map(
            "".join
        ),
        st.integers(3000, 9000).map(lambda n: "A" * n),
        st.sampled_from(["", "access_denied", "server_error", "invalid_scope", "null"]),
    )


def _pairs(cb: Callback) -> st.SearchStrategy[str]:
    genuine = st.sampled_from(cb.params).map(lambda kv: f"{_enc(kv[0])}={_enc(kv[1])}")
    name = st.one_of(
        st.sampled_from(NAMES),
        st.sampled_from(ODD_NAMES),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=10).map(_enc),
    )
    hostile = st.one_of(
        st.tuples(name, _values(cb)).map("=".join),
        name,  # a parameter without "="
        st.sampled_from(RAW_FRAGMENTS),
    )
    return st.lists(st.one_of(genuine, hostile), max_size=8).map("&".join)


def _edited(cb: Callback) -> st.SearchStrategy[str]:
    """The genuine parameters in any order, then a few replaced, dropped, repeated or added."""
    encoded = [f"{_enc(k)}={_enc(v)}" for k, v in cb.params]
    edit = st.tuples(
        st.sampled_from(["replace", "drop", "repeat", "insert"]),
        st.integers(0, 10),
        st.one_of(
            st.tuples(st.sampled_from([k for k, _ in cb.params]), _values(cb)).map("=".join),
            _pairs(cb),
        ),
    )

    def apply(parts: list[str], edits: list[tuple[str, int, str]]) -> str:
        parts = list(parts)
        for op, where, new in edits:
            i = where % len(parts) if parts else 0
            if op == "replace" and parts:
                name = parts[i].split("=", 1)[0]
                parts[i] = name + "=" + new.split("=", 1)[-1]
            elif op == "drop" and parts:
                del parts[i]
            elif op == "repeat" and parts:
                parts.insert(i, parts[i])
            else:
                parts.insert(i, new)
        return "&".join(p for p in parts if p)

    one = st.lists(edit, min_size=1, max_size=1)
    return st.builds(apply, st.permutations(encoded), one | st.lists(edit, max_size=4))


def _query(cb: Callback) -> st.SearchStrategy[str]:
    return st.one_of(_edited(cb), _pairs(cb))


@pytest.fixture(scope="module")
def env(runner: Runner) -> Iterator[Env]:
    env = start_env(runner)
    yield env
    runner.run(env.stop())


def _secrets(env: Env, cb: Callback) -> list[str]:
    values = [cb.get("state"), cb.get("code"), env.fake.client_secret]
    for request in env.fake.authorize_requests:
        values += [request.get("nonce", ""), request.get("code_challenge", "")]
    for request in env.fake.token_requests:
        values += [request.get("code_verifier", "")]
    return [v for v in values if len(v) >= 8]


async def _deliver(env: Env, cb: Callback, raw: str) -> None:
    parsed = await env.parsed_query(raw)
    before = {k: v for k, v in env.fake.calls.items() if v}
    secrets = _secrets(env, cb)
    resp = await env.browser.get(env.url(cb.path, raw), allow_redirects=False)
    text = await resp.text()
    user = await env.user()
    after = {k: v for k, v in env.fake.calls.items() if v}
    env.records.assert_clean(secrets)
    record(f"status {resp.status}" + ("" if parsed is not None else " (refused by aiohttp)"))
    if parsed is None:  # aiohttp refused the request line itself: the callback never ran
        assert resp.status == 400, (resp.status, text)
        assert after == before
        assert user is None
        return
    assert resp.status in ALLOWED, (resp.status, text)
    assert resp.headers.get("Cache-Control") == "no-store"
    assert resp.headers.get("Referrer-Policy") == "no-referrer"

    def values(name: str) -> list[str]:
        return [v for k, v in parsed if k == name]

    names = {k for k, _ in parsed}
    state_ok = values("state") == [cb.get("state")]
    genuine = (
        state_ok
        and values("code") == [cb.get("code")]
        and values("iss") == [cb.get("iss")]
        and "error" not in names
        and not names & TOKEN_NAMES
    )
    if not state_ok:  # G2: nothing reaches the provider on a bad state
        assert resp.status == 400, (resp.status, text)
        assert after == before, "a request reached the provider on a bad state"
    if env.fake.calls["token"] != before.get("token", 0):
        assert state_ok and len(values("code")) == 1 and values("iss") == [cb.get("iss")]
        assert "error" not in names and not names & TOKEN_NAMES
    assert (resp.status == 303) == (user == "alice"), (resp.status, user)
    if resp.status == 303:
        assert genuine, f"signed in with a tampered callback: {parsed!r}"
        assert resp.headers["Location"] == "/"
    else:
        assert resp.content_type == "text/html"
        assert_safe_page(text)
    if genuine:  # an error_description alone, however odd, never refuses (G13)
        assert resp.status == 303, (resp.status, text)  # the oracle is not vacuous


@settings(max_examples=examples(300))
@given(data=st.data())
def test_callback_query(env: Env, data: st.DataObject) -> None:
    env.fresh()
    cb = env.run(env.begin())
    raw = data.draw(_query(cb), label="raw query")
    env.run(_deliver(env, cb, raw))


#: codes naming the site's own client settings: the 502 "misconfigured" page, no "Try again"
MISCONFIGURED = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "redirect_uri_mismatch",
        "invalid_scope",
        "unsupported_response_type",
        "application_suspended",
    }
)
KNOWN_ERRORS = (
    "access_denied",
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
)
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=150)


def _sanitised(description: str) -> str:
    """The description as the page should show it (when it is short): anything unprintable a
    space, each run of white space one space. Written here, not imported, as an oracle."""
    return " ".join("".join(c if c.isprintable() else " " for c in description).split())


@settings(max_examples=examples(150))
@given(
    error=st.sampled_from(KNOWN_ERRORS) | _text,
    description=st.none()
    | _text
    | st.just("<script>alert(1)</script>" + "Z" * 400)
    | st.just("AADSTS65004: User declined.\r\nTrace ID: 1\r\nCorrelation ID: 2")
    | st.text(st.characters(max_codepoint=0x7F), min_size=290, max_size=1000),
    uri=st.none() | st.just("https://phish.example/reset") | _text,
)
@example(error="access_denied", description=None, uri=None)
@example(
    error="access_denied",
    description="AADSTS65004: User declined to consent to access the app.\r\n"
    "Trace ID: 255d1aef-8c98-452f-ac51-23d051240864\r\n"
    "Correlation ID: fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\nTimestamp: 2016-01-09 02:02:12Z",
    uri=None,
)
@example(error="access_denied", description="Zugriff verweigert \u202e\x00" + "A" * 6000, uri=None)
@example(error="<b>x</b>", description="<img src=x onerror=alert(1)>", uri="javascript:alert(1)")
def test_callback_error_parameters(
    env: Env, error: str, description: str | None, uri: str | None
) -> None:
    """G13: ``access_denied`` → 403, server errors and the site's own misconfiguration → 502,
    the rest → 400; the
    description escaped and truncated, ``error_uri`` never a link, the token endpoint untouched."""
    env.fresh()
    cb = env.run(env.begin())
    params = [("state", cb.get("state")), ("iss", cb.get("iss")), ("error", error)]
    if description is not None:
        params.append(("error_description", description))
    if uri is not None:
        params.append(("error_uri", uri))
    raw = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in params)

    async def deliver() -> None:
        resp = await env.browser.get(env.url(cb.path, raw), allow_redirects=False)
        text = await resp.text()
        # the status follows ``error`` alone: the description is display-only (G13)
        well_formed = len(error) <= 4096 and error.isascii() and error.isprintable()
        if not well_formed:
            expected = 400
        elif error == "access_denied":
            expected = 403
        elif error in ("server_error", "temporarily_unavailable") or error in MISCONFIGURED:
            expected = 502
        else:
            expected = 400
        assert resp.status == expected, (resp.status, text)
        assert resp.headers.get("Referrer-Policy") == "no-referrer"
        assert_safe_page(text)
        # the retry link, except on the "misconfigured" page; error_uri never
        retry = [] if error in MISCONFIGURED else ["/auth/login/fake"]
        assert page_urls(text) == retry
        if description and len(description) > MAX_SHOWN_DESCRIPTION:
            assert description not in text
        said = _sanitised(description or "")
        if well_formed and said and len(said) <= MAX_SHOWN_DESCRIPTION:
            assert html.escape(said) in text  # shown whole, escaped, on one line
        assert "\r" not in text and "\u202e" not in text
        assert env.fake.calls["token"] == 0
        assert await env.user() is None
        env.records.assert_clean(_secrets(env, cb))

    env.run(deliver())


def test_the_genuine_callback_signs_in(env: Env) -> None:
    """The harness itself: an untouched callback is a 303 and a signed-in browser."""
    env.fresh()
    cb = env.run(env.begin())
    env.run(_deliver(env, cb, cb.query()))
    assert env.run(env.user()) == "alice"
