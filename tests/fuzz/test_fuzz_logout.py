"""Fuzzing logout (RFC 6454 §7): odd ``Origin`` / ``Sec-Fetch-Site`` headers and bodies.

Every example is a signed-in browser (a genuine session cookie) sending ``POST /auth/logout``
(or, now and then, ``GET``) with zero, one or two ``Origin`` and ``Sec-Fetch-Site`` headers
(this origin, ``null``, look-alikes, other sites, junk) and a body of any shape (none, url-encoded
or multipart forms with a ``next``, other content types, unknown charsets, raw bytes).

Oracle (RFC 6454 §7, OWASP CSRF): a POST is same-origin when it has exactly one ``Origin``
equal to this origin, or no ``Origin`` (or the opaque ``null``) and exactly one
``Sec-Fetch-Site: same-origin``. Properties: never a 5xx; a same-origin POST always signs the
browser out (303 to a same-origin path, the session cookie cleared, the token revoked), whatever
the body; any other POST is a 403 that changes nothing (no cookie, no revocation); GET never
changes anything.

Examples per input in the ``ci`` profile (see conftest.py):

- logout request (method, ``Origin``, ``Sec-Fetch-Site``, body): 250
- the RP-logout return route ``/auth/logout/done?state=…``: 100
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ..support.app import COOKIE
from . import Env, Runner, examples, is_same_origin_path, record, start_env

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
HEADER_TEXT = st.text(PRINTABLE, max_size=30)
ORIGIN = "$origin"  # replaced by the app's origin when the example runs
ORIGINS = st.sampled_from(
    [
        ORIGIN,
        ORIGIN,
        "null",
        "NULL",
        ORIGIN + "/",
        ORIGIN + "/auth",
        "$ORIGIN",  # upper case
        " " + ORIGIN,
        "$https",  # this host, https
        "http://evil.example",
        "http://127.0.0.1",
        "http://127.0.0.1.evil.example",
        "",
    ]
)
FETCH_SITES = st.sampled_from(
    [
        "same-origin",
        "same-origin",
        "same-site",
        "cross-site",
        "none",
        "SAME-ORIGIN",
        " same-origin",
        "",
    ]
)
CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=bogus",
    "multipart/form-data",
    "multipart/form-data; boundary=b",
    "multipart/form-data; boundary=",
    "text/plain",
    "application/json",
    "",
)
NEXTS = st.sampled_from(["/bye", "//evil.example", "https://evil.example", "/\\evil"]) | st.text(
    max_size=10
)


def _body() -> st.SearchStrategy[tuple[str, Any]]:
    names = st.sampled_from(["next", "x", "next[]"]) | st.text(PRINTABLE, max_size=5)
    pairs = st.lists(st.tuples(names, NEXTS))
    return st.one_of(
        st.just(("none", None)),
        pairs.map(lambda p: ("form", "&".join(f"{quote(k)}={quote(v)}" for k, v in p))),
        pairs.map(lambda p: ("multipart", p)),
        st.tuples(st.sampled_from(CONTENT_TYPES), st.binary(max_size=300)),
        st.tuples(
            st.sampled_from(CONTENT_TYPES),
            st.lists(st.sampled_from(["next=", "%", "%ZZ", "&", "=", "--b\r\n", "\r\n", "/x"])).map(
                lambda parts: "".join(parts).encode()
            ),
        ),
    )


def _real(value: str, origin: str) -> str:
    https = origin.replace("http://", "https://")
    return value.replace("$https", https).replace("$ORIGIN", origin.upper()).replace(ORIGIN, origin)


def same_origin(origins: list[str], sites: list[str], origin: str) -> bool:
    origins = [o.strip(" \t") for o in origins]  # HTTP strips optional whitespace (RFC 9110 5.5)
    sites = [s.strip(" \t") for s in sites]
    if origins and origins != ["null"]:
        return origins == [origin]
    return sites == ["same-origin"]


@pytest.fixture(scope="module")
def env(runner: Runner) -> Iterator[Env]:
    env = start_env(runner)
    yield env
    runner.run(env.stop())


async def _logout(
    env: Env, method: str, origins: list[str], sites: list[str], body: tuple[str, Any]
) -> None:
    cookie = env.login_cookie("bob")
    headers: list[tuple[str, str]] = [("Cookie", f"{COOKIE}={cookie}")]
    sent = [_real(o, env.origin) for o in origins]
    headers += [("Origin", o) for o in sent]
    headers += [("Sec-Fetch-Site", s) for s in sites]
    kind, content = body
    data: Any = None
    if kind == "form":
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        data = content.encode()
    elif kind == "multipart":
        form = aiohttp.FormData(quote_fields=False)
        for name, value in content:
            form.add_field(name, value)
        data = form if content else None
    elif kind != "none":
        if kind:
            headers.append(("Content-Type", kind))
        data = content
    revocations = env.fake.calls["revoke"]
    resp = await env.bare.request(
        method, env.url("/auth/logout"), headers=headers, data=data, allow_redirects=False
    )
    text = await resp.text()
    assert resp.status < 500, (resp.status, text)
    assert resp.headers.get("Cache-Control") == "no-store"
    cleared = COOKIE in resp.cookies and resp.cookies[COOKIE].value == ""
    if method == "GET":
        assert resp.status == 200 and not cleared
        assert env.fake.calls["revoke"] == revocations
        return
    if same_origin(sent, sites, env.origin):
        assert resp.status == 303, (resp.status, text)
        assert is_same_origin_path(resp.headers["Location"]), resp.headers["Location"]
        assert cleared, "a same-origin logout kept the session"
        assert env.fake.calls["revoke"] == revocations + 1
        record("signed out")
    else:
        assert resp.status == 403, (resp.status, text)
        assert COOKIE not in resp.cookies, "a cross-site request changed the session"
        assert env.fake.calls["revoke"] == revocations
        assert await env.user(f"{COOKIE}={cookie}") == "bob"
        record("refused")


@settings(max_examples=examples(250))
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET"]),
    origins=st.just([ORIGIN]) | st.just([]) | st.lists(ORIGINS | HEADER_TEXT, max_size=2),
    sites=st.just([]) | st.just(["same-origin"]) | st.lists(FETCH_SITES | HEADER_TEXT, max_size=2),
    body=_body(),
)
@example(method="POST", origins=[ORIGIN], sites=[], body=("none", None))
@example(method="POST", origins=["null"], sites=["same-origin"], body=("none", None))
@example(method="POST", origins=[ORIGIN, ORIGIN], sites=[], body=("none", None))
@example(
    method="POST",
    origins=[ORIGIN],
    sites=[],
    body=("application/x-www-form-urlencoded; charset=bogus", b"next=/bye"),
)
def test_logout_requests(
    env: Env, method: str, origins: list[str], sites: list[str], body: tuple[str, Any]
) -> None:
    env.run(_logout(env, method, origins, sites, body))


@settings(max_examples=examples(100))
@given(state=st.text(max_size=60), raw=st.booleans())
def test_logout_done(env: Env, state: str, raw: bool) -> None:
    """``/auth/logout/done`` with any ``state`` and no pending RP logout: home, nothing else."""
    query = "state=" + (quote(state, safe="/%&=") if raw else quote(state, safe=""))

    async def done() -> None:
        resp = await env.bare.get(
            env.url("/auth/logout/done", query),
            headers={"Cookie": f"{COOKIE}={env.login_cookie('bob')}"},
            allow_redirects=False,
        )
        assert resp.status in (303, 400), await resp.text()
        if resp.status == 303:
            assert resp.headers["Location"] == "/"

    env.run(done())
