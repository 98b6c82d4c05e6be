"""Fuzzing the session cookie(s) (G9): anything but a genuine login is anonymous.

Cookies are sent as raw ``Cookie`` headers. Every example asks the cheap login check
(``get_user`` on ``/``, which may answer from the cookie fast path) and the full aiohttp-session
path (``/slow``), a protected JSON route, the login route, and (for payloads) the callback, the
logout POST and the RP-logout return route.

Properties: never a 5xx; random values, truncations, bit flips, wrong counts and missing or
swapped chunks are anonymous, and a cookie signs a visitor in only if it decodes to the very
ciphertext the app issued; valid ciphertext of any JSON signs in only when it holds a complete,
unexpired identity (an independent oracle of G9); the fast path and the full path
always agree; a stored transaction, however forged, never sends the browser off the origin.

Examples per input in the ``ci`` profile (see conftest.py):

- random cookie headers (values, chunk counts, ``.N`` chunks, odd characters): 300
- bit flips / truncations / extensions of a genuine single cookie: 200
- tampered chunked (``2~…`` + ``.1``) genuine cookies: 150
- a genuine cookie framed in odd ``Cookie`` header syntax (quotes, spaces, duplicates): 100
- valid ciphertext of arbitrary and near-valid JSON payloads: 300
- forged fields of a genuine pending transaction, then the genuine callback: 150
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiohttp_oauth2_login._sessions.cookie_storage import CHUNK_VALUE
from aiohttp_oauth2_login.tokens import TokenSet

from ..support.app import COOKIE, JSON
from ..support.jwt import b64 as b64encode
from . import (
    Env,
    Runner,
    b64decode,
    examples,
    is_same_origin_path,
    record,
    start_env,
)

LIFETIME = 7 * 86400
IDLE = 86400
ODD_COUNTS = ("0", "1", "2", "3", "9", "02", "-2", "+2", " 2", "2 ", "²", "٢", "２", "⑵", "")
COOKIE_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from(
    "\t²٢２é\u00a0\u2028\ufeff"
)


@pytest.fixture(scope="module")
def env(runner: Runner) -> Iterator[Env]:
    env = start_env(runner, session_lifetime=LIFETIME, idle_timeout=IDLE)
    yield env
    runner.run(env.stop())


async def _visit(env: Env, cookie: str | list[str]) -> str | None:
    """Every read of the session with ``cookie`` (a list: one ``Cookie`` header each): never a
    5xx, the cookie fast path and the full session path agree; returns who is signed in."""
    lines = [cookie] if isinstance(cookie, str) else cookie
    headers = [("Cookie", line) for line in lines]
    fast = await env.bare.get(env.url("/"), headers=headers)
    slow = await env.bare.get(env.url("/slow"), headers=headers)
    private = await env.bare.get(env.url("/private"), headers=[*headers, *JSON.items()])
    start = await env.bare.get(env.url("/auth/login/fake"), headers=headers, allow_redirects=False)
    statuses = (fast.status, slow.status, private.status, start.status)
    assert all(status < 500 for status in statuses), statuses
    if fast.status == 400:  # aiohttp refused the header itself: nobody got to read it
        assert statuses == (400, 400, 400, 400)
        return None
    assert start.status == 302, await start.text()
    user = (await fast.json())["user"]
    assert (await slow.json())["user"] == user, "the fast path and the session disagree"
    if user is None:
        assert private.status == 401
    else:
        assert private.status == 200
        assert (await private.json())["id"] == user
    record("signed in" if user else "anonymous")
    return user


cookie_values = st.one_of(
    st.text(COOKIE_CHARS, max_size=80),
    st.binary(max_size=120).map(b64encode),
    st.tuples(st.sampled_from(ODD_COUNTS) | st.text(COOKIE_CHARS, max_size=3), st.text()).map(
        lambda t: f"{t[0]}~{quote(t[1], safe='')}"
    ),
    st.integers(0, 9000).map(lambda n: "A" * n),
)


@settings(max_examples=examples(300))
@given(
    first=cookie_values,
    chunks=st.lists(st.tuples(st.integers(0, 9), cookie_values), max_size=3),
    extra=st.sampled_from(["", "; other=1", "; aiohttp_oauth2=x", "; aiohttp_oauth2.1"]),
)
@example(first="²~abc", chunks=[], extra="")
@example(first="٢~abc", chunks=[(1, "def")], extra="")
def test_random_cookies_are_anonymous(
    env: Env, first: str, chunks: list[tuple[int, str]], extra: str
) -> None:
    parts = [f"{COOKIE}={first}"] + [f"{COOKIE}.{i}={value}" for i, value in chunks]
    cookie = "; ".join(parts) + extra
    assert env.run(_visit(env, cookie)) is None


_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("add"), st.integers(0, 255), st.integers(1, 20)),
    st.tuples(st.just("byte"), st.integers(0, 10_000), st.integers(0, 255)),
)


def _apply(raw: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(raw)
    for kind, a, b in mutations:
        if not data:
            break
        if kind == "flip":
            data[a % len(data)] ^= 1 << b
        elif kind == "cut":
            del data[a % len(data) :]
        elif kind == "add":
            data += bytes([a]) * b
        else:
            data[a % len(data)] = b
    return bytes(data)


@settings(max_examples=examples(200))
@given(
    mutations=st.lists(_mutation, max_size=3),
    text_edit=st.none() | st.tuples(st.integers(0, 10_000), st.text(COOKIE_CHARS, max_size=3)),
)
@example(mutations=[], text_edit=None)
def test_tampered_cookie_is_anonymous(
    env: Env, mutations: list[tuple[str, int, int]], text_edit: tuple[int, str] | None
) -> None:
    genuine = env.login_cookie("mallory")
    original = b64decode(genuine)
    assert original is not None
    value = b64encode(_apply(original, mutations))
    if text_edit is not None:  # an edit of the text: inserted characters, or a cut
        where, text = text_edit
        where %= len(value) + 1
        value = value[:where] + text + (value[where:] if text else "")  # no text: a cut
    user = env.run(_visit(env, f"{COOKIE}={value}"))
    if user is not None:  # only the very ciphertext the app issued opens the session
        assert b64decode(value) == original, value
        assert user == "mallory"
    if value == genuine:
        assert user == "mallory"


def _big_cookie(env: Env) -> list[str]:
    """A genuine session that needs two cookies (``2~<head>`` and ``.1``)."""
    token = TokenSet(access_token="A" * 5000, expires_at=int(time.time()) + 3600)
    value = env.login_cookie("bigsession", token)
    assert CHUNK_VALUE < len(value) <= 2 * CHUNK_VALUE
    return [f"2~{value[:CHUNK_VALUE]}", value[CHUNK_VALUE:]]


@settings(max_examples=examples(150))
@given(
    count=st.sampled_from(ODD_COUNTS),
    order=st.sampled_from(["normal", "swapped", "no .1", "head only", "extra .2", "dup .1"]),
    flip=st.none() | st.tuples(st.integers(0, 1), st.integers(0, 10_000), st.integers(0, 5)),
    split_headers=st.booleans(),
)
@example(count="2", order="normal", flip=None, split_headers=False)
@example(count="⑵", order="normal", flip=None, split_headers=False)
@example(count="2", order="normal", flip=None, split_headers=True)
def test_tampered_chunked_cookie(
    env: Env,
    count: str,
    order: str,
    flip: tuple[int, int, int] | None,
    split_headers: bool,
) -> None:
    head, tail = _big_cookie(env)
    body = head.partition("~")[2]
    original = b64decode(body + tail)
    chunks = [body, tail]
    if flip is not None:
        which, where, char = flip
        text = chunks[which]
        where %= len(text)
        chunks[which] = text[:where] + "ABCDEF"[char] + text[where + 1 :]
    first, second = f"{count}~{chunks[0]}", chunks[1]
    pairs = {
        "normal": [(COOKIE, first), (f"{COOKIE}.1", second)],
        "swapped": [(COOKIE, f"{count}~{second}"), (f"{COOKIE}.1", chunks[0])],
        "no .1": [(COOKIE, first)],
        "head only": [(COOKIE, chunks[0])],
        "extra .2": [(COOKIE, first), (f"{COOKIE}.1", second), (f"{COOKIE}.2", second)],
        "dup .1": [(COOKIE, first), (f"{COOKIE}.1", second), (f"{COOKIE}.1", "x")],
    }[order]
    candidates = {
        "normal": [chunks[0] + chunks[1]],
        "swapped": [chunks[1] + chunks[0]],
        "no .1": [chunks[0]],
        "head only": [chunks[0]],
        "extra .2": [chunks[0] + chunks[1]],
        "dup .1": [chunks[0] + chunks[1], chunks[0] + "x"],
    }[order]
    joined = [f"{k}={v}" for k, v in pairs]
    user = env.run(_visit(env, joined if split_headers else "; ".join(joined)))
    if user is not None:  # only the issued ciphertext, reassembled, opens the session
        assert original in [b64decode(c) for c in candidates], (order, count)
    if flip is None and order == "normal" and count == "2" and not split_headers:
        assert user == "bigsession"


FRAMES = (
    "{n}={v}",
    '{n}="{v}"',
    " {n}={v} ",
    "{n} = {v}",
    "{n}={v};",
    "x=1; {n}={v}",
    '{n}={v}; x="a;b"',
    'x="a;b"; {n}={v}',
    'x="; {n}={v}"',
    "{n}={v}; {n}={v}",
    "{n}={v}; {n}=x",
    "{n}=x; {n}={v}",
    "{n}={v},x=1",
    "$Version=1; {n}={v}",
    "{N}={v}",
    "{n}.1={v}",
    "{n}x={v}",
    "x={n}={v}",
    "{n}==={v}",
    "{n}={v}=",
    "{n}={v}\t",
    "{n}\t={v}",
)


@settings(max_examples=examples(100))
@given(frames=st.lists(st.sampled_from(FRAMES), min_size=1, max_size=3), split=st.booleans())
@example(frames=["{n}={v}"], split=False)
@example(frames=["{n} = {v}"], split=False)
@example(frames=["x=1", "{n}={v}"], split=True)
def test_cookie_header_framing(env: Env, frames: list[str], split: bool) -> None:
    """The genuine value in every ``Cookie`` syntax a client may send: the cheap check and the
    full session path (aiohttp's cookie parser) must reach the same verdict."""
    value = env.login_cookie("mallory")
    parts = [f.format(n=COOKIE, N=COOKIE.upper(), v=value) for f in frames]
    user = env.run(_visit(env, parts if split else "; ".join(parts)))
    assert user in (None, "mallory")


# ---- valid ciphertext, any JSON ---------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.characters(exclude_categories=[]), max_size=20),
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
OFFSETS = (0, -30, -120, -IDLE + 100, -IDLE - 100, -LIFETIME + 100, -LIFETIME - 100, 30, 120, 3600)


def _payloads(now: int) -> st.SearchStrategy[Any]:
    """Arbitrary JSON, and payloads that are valid except for one or two fields."""
    when = st.sampled_from(OFFSETS).map(lambda o: now + o) | _scalars
    user = st.fixed_dictionaries(
        {"p": st.just("fake") | _scalars, "i": st.sampled_from(["eve", ""]) | _scalars},
        optional={
            "n": st.just("Eve") | _scalars,
            "e": _scalars,
            "u": _scalars,
            "a": _scalars,
            "ev": _scalars,
            "r": json_values,
        },
    )
    state = st.sampled_from(["S" * 43, "\ud800" * 43]) | _scalars
    tx = st.fixed_dictionaries(
        {
            "s": state,
            "v": st.just("V" * 43) | _scalars,
            "n": st.none() | _scalars,
            "p": st.just("fake") | _scalars,
            "x": st.just("/") | _scalars,
            "c": when,
        }
    )
    namespace = st.fixed_dictionaries(
        {},
        optional={
            "u": user | json_values,
            "li": when,
            "la": when,
            "t": st.dictionaries(st.just("fake") | st.text(max_size=4), json_values, max_size=2)
            | json_values,
            "tx": st.lists(tx | json_values, max_size=6) | json_values,
            "lo": st.fixed_dictionaries({"s": state, "x": _scalars}) | json_values,
        },
    )
    session = st.fixed_dictionaries(
        {}, optional={"oauth": namespace | json_values, "app": _scalars}
    )
    created = st.sampled_from((0, -30, -LIFETIME - 100, 3600)).map(lambda o: now + o) | _scalars
    data = st.fixed_dictionaries({"created": created, "session": session | json_values})
    return st.one_of(data, json_values, st.fixed_dictionaries({"created": created}))


def expected_user(data: Any, now: int) -> str | None:
    """G9, independently of the package: who a decrypted payload signs in."""
    if not isinstance(data, dict):
        return None
    created, session = data.get("created"), data.get("session")
    if not isinstance(created, int) or not isinstance(session, dict):
        return None
    if (now - created if created else now) > LIFETIME:  # aiohttp-session's own max_age
        return None
    namespace = session.get("oauth")
    if not isinstance(namespace, dict):
        return None
    user, li, la = namespace.get("u"), namespace.get("li"), namespace.get("la")
    if not isinstance(user, dict) or user.get("p") != "fake":
        return None
    uid = user.get("i")
    if not isinstance(uid, str) or not uid:
        return None
    if any(user.get(k) is not None and not isinstance(user.get(k), str) for k in "neua"):
        return None
    if not isinstance(li, int) or not isinstance(la, int):
        return None
    if now >= li + LIFETIME or now >= la + IDLE or li > now + 60:
        return None
    return uid


@settings(max_examples=examples(300))
@given(data=st.data())
def test_valid_ciphertext_of_any_json(env: Env, data: st.DataObject) -> None:
    now = int(time.time())
    payload = data.draw(_payloads(now), label="payload")
    env.run(_any_payload(env, payload, now))


async def _any_payload(env: Env, payload: Any, now: int) -> None:
    value = env.storage.encrypt(payload)
    cookie = f"{COOKIE}={value}"
    user = await _visit(env, cookie)
    assert user == expected_user(payload, now), (user, payload)
    headers = {"Cookie": cookie}
    states = ["S" * 43, "A" * 43]
    for state in states:  # the callback reads every stored transaction
        resp = await env.bare.get(
            env.url("/auth/callback/fake", f"state={state}&code=x&iss={quote(env.fake.issuer)}"),
            headers=headers,
            allow_redirects=False,
        )
        assert resp.status in (400, 401), (resp.status, await resp.text())
    done = await env.bare.get(
        env.url("/auth/logout/done", "state=" + "S" * 43), headers=headers, allow_redirects=False
    )
    assert done.status == 303, await done.text()
    assert is_same_origin_path(done.headers["Location"])
    out = await env.bare.post(
        env.url("/auth/logout"),
        headers={**headers, "Origin": env.origin},
        allow_redirects=False,
    )
    assert out.status == 303, await out.text()
    assert is_same_origin_path(out.headers["Location"])


def test_transaction_with_a_lone_surrogate_state_is_not_a_500(env: Env) -> None:
    """Valid ciphertext with a transaction list in the session (where versions before the
    transaction cookies kept them) whose ``state`` is not encodable text."""
    now = int(time.time())
    tx = {"s": "\ud800", "v": "V" * 43, "n": None, "p": "fake", "x": "/", "c": now}
    payload = {"created": now, "session": {"oauth": {"tx": [tx]}}}
    env.run(_any_payload(env, payload, now))


def test_rp_logout_state_with_a_lone_surrogate_is_not_a_500(env: Env) -> None:
    """Minimal example: valid ciphertext whose pending RP-logout ``state`` is not encodable."""
    now = int(time.time())
    payload = {"created": now, "session": {"oauth": {"lo": {"s": "\ud800", "x": "/"}}}}
    env.run(_any_payload(env, payload, now))


# ---- a genuine transaction with forged fields ---------------------------------------------------

TX_FIELDS = ("s", "v", "n", "p", "x", "c")


@settings(max_examples=examples(150))
@given(
    forged=st.dictionaries(
        st.sampled_from(TX_FIELDS),
        st.one_of(
            json_values,
            st.sampled_from(
                ["https://evil.example", "//evil.example", "/\r\nSet-Cookie: x=1", "/ok"]
            ),
        ),
        max_size=3,
    )
)
@example(forged={})
@example(forged={"s": "\ud800"})
@example(forged={"n": None})
def test_forged_transaction_fields(env: Env, forged: dict[str, Any]) -> None:
    env.run(_forged_transaction(env, forged))


def _forge(env: Env, state: str, forged: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The browser's cookies with the pending transaction of ``state`` re-sealed with
    ``forged`` fields (valid ciphertext under the app's key), and the original fields.

    Transactions live in cookies of their own (``login.tx_cookies``: a data cookie sealed with
    AAD = name + setup + the key cookie's value) or, in earlier versions, in the session
    cookie; both layouts are handled.
    """
    jar = {morsel.key: morsel.value for morsel in env.browser.cookie_jar}
    tx_cookies = getattr(env.login, "tx_cookies", None)
    if tx_cookies is not None:
        name = tx_cookies.name(state)
        aad = tx_cookies._aad(name, jar[tx_cookies.key_name(name)])
        opened = tx_cookies._sealer.open(jar[name], aad)
        assert opened is not None
        original = json.loads(opened[0])
        plain = json.dumps({**original, **forged}).encode()
        jar[name] = tx_cookies._sealer.seal(plain, aad)
    else:
        opened = env.storage.decrypt(jar[COOKIE])
        assert opened is not None
        data = opened[0]
        original = dict(data["session"]["oauth"]["tx"][0])
        data["session"]["oauth"]["tx"][0].update(forged)
        jar[COOKIE] = env.storage.encrypt(data)
    return "; ".join(f"{k}={v}" for k, v in jar.items()), original


async def _forged_transaction(env: Env, forged: dict[str, Any]) -> None:
    """A genuine login whose pending transaction is re-sealed with ``forged`` fields."""
    env.fresh()
    cb = await env.begin()
    cookie, original = _forge(env, cb.get("state"), forged)
    calls = env.fake.calls["token"]
    resp = await env.bare.get(
        env.url(cb.path, cb.query()), headers={"Cookie": cookie}, allow_redirects=False
    )
    text = await resp.text()
    assert resp.status in (303, 400, 401), (resp.status, text)
    kept = all(forged.get(k, original[k]) == original[k] for k in ("s", "v", "n", "p"))
    if resp.status == 303:
        assert is_same_origin_path(resp.headers["Location"]), resp.headers["Location"]
        assert kept, forged
        assert await env.user(f"{COOKIE}={resp.cookies[COOKIE].value}") == "alice"
    if forged.get("s", original["s"]) != original["s"] or forged.get("p", "fake") != "fake":
        assert env.fake.calls["token"] == calls, "a forged state or provider reached the provider"
    record(f"status {resp.status}")


def test_forged_transaction_next_with_a_newline_is_not_a_500(env: Env) -> None:
    """Minimal example: a stored ``next`` with CR/LF, then the genuine callback."""
    env.run(_forged_transaction(env, {"x": "/\r\nX-Injected: 1"}))


def test_forged_transaction_next_never_leaves_the_origin(env: Env) -> None:
    """Minimal example: a stored absolute ``next``, then the genuine callback."""
    env.run(_forged_transaction(env, {"x": "https://evil.example/"}))
